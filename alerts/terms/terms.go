// Package terms counts mentions of terms in public posts per time bucket,
// counting each near-duplicate cluster once, and keeps the counts in
// ClickHouse for the burst detector (alerts/trends) and the rules.
//
// The counter reads raw.posts in its own consumer group, so term counting
// neither waits for nor slows down the search index. It stores one row per
// (post, distinct term) in netpulse.term_mentions; materialized views turn
// those into per-bucket distinct-cluster counts (term_counts) and a
// first-seen date per term (term_first_seen). Because every count is a
// distinct count of clusters, a replay after a crash changes nothing.
package terms

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/posts"
	"github.com/netpulse/netpulse/pipeline/store"
)

// DefaultBucket is the production bucket size.
const DefaultBucket = 5 * time.Minute

// Tokenizer cuts a post's text into terms. The counter lowercases, filters
// and de-duplicates what it returns.
type Tokenizer interface {
	Terms(text string) []string
}

// terms are d's terms: those another stage cut, else from the post's cut
// when usable, else cut here.
func (c *Counter) terms(d *Doc) []string {
	if d.Tokens != nil {
		return d.Tokens
	}
	p := &d.Post
	if c.o.Cuts != nil && c.o.Cuts.Usable(p.Cut, p.Title, p.Body) {
		return c.o.Cuts.PostTerms(p.Cut, p.Title, p.Body)
	}
	return c.o.Tokenizer.Terms(p.Title + "\n" + p.Body)
}

// Cuts derives a post's terms from the cut it carries (posts.Post.Cut);
// jieba.Segmenter satisfies it.
type Cuts interface {
	Usable(c *jieba.Cut, title, body string) bool
	PostTerms(c *jieba.Cut, title, body string) []string
}

// Doc is a post with the tokens another stage already cut from it; Tokens
// nil means "cut them here". Tokens must be a precise-mode cut (jieba's
// Segmenter.Terms), never the index's search-mode cut: search mode adds
// the words inside longer words (江岸 and 岸区 inside 江岸区), which would be
// counted as terms of their own and crowd the top terms. Arrived is when it reached the bus (zero:
// now); a replay carries the same time, so it lands in the same bucket.
type Doc struct {
	Post    posts.Post
	Tokens  []string
	Arrived time.Time
}

// Options configure a Counter.
type Options struct {
	Bus       bus.Bus // nil when only Add is used
	DB        *store.DB
	Tokenizer Tokenizer
	// Cuts, if set, takes the terms of a post that carries a usable cut
	// from the cut, so the post is not cut again; Tokenizer cuts the rest.
	Cuts Cuts
	// Bucket is the counting bucket; DefaultBucket if zero.
	Bucket time.Duration
	// Grace is how long after its end the trends engine evaluates a
	// bucket (trends.Options.Grace); 5 s if zero. A post arriving after
	// its published bucket was evaluated is counted when it arrived, so
	// that crawl delays do not hide bursts from the detector.
	Grace time.Duration
	// Group is the consumer group on raw.posts; "alerts.terms" if empty.
	Group    string
	BatchMax int // messages per fetch; 2000 if zero
	Log      *slog.Logger
	Reg      prometheus.Registerer
	Now      func() time.Time
}

// Counter turns posts into term mention rows.
type Counter struct {
	o        Options
	posts    prometheus.Counter
	mentions prometheus.Counter
	bad      prometheus.Counter
	future   prometheus.Counter
	late     prometheus.Counter

	mu       sync.Mutex
	progress time.Time // newest published_at stored so far
}

// New checks options and registers metrics.
func New(o Options) (*Counter, error) {
	if o.DB == nil || o.Tokenizer == nil {
		return nil, errors.New("terms: DB and Tokenizer are required")
	}
	if o.Bucket <= 0 {
		o.Bucket = DefaultBucket
	}
	if o.Bucket%time.Second != 0 {
		return nil, fmt.Errorf("terms: bucket %v is not a whole number of seconds", o.Bucket)
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.Group == "" {
		o.Group = "alerts.terms"
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 2000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Counter{o: o,
		posts:    prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_terms_posts_total", Help: "Posts counted into term buckets."}),
		mentions: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_terms_mentions_total", Help: "Distinct (post, term) mentions stored."}),
		bad:      prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_terms_bad_posts_total", Help: "raw.posts messages the counter could not decode (the posts stage dead-letters them)."}),
		future:   prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_terms_future_posts_total", Help: "Posts dated in the future, counted at their arrival time instead."}),
		late:     prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_terms_late_posts_total", Help: "Posts that arrived after their published bucket was evaluated, counted at their arrival time."}),
	}
	if o.Reg != nil {
		for _, m := range []prometheus.Collector{c.posts, c.mentions, c.bad, c.future, c.late} {
			if err := o.Reg.Register(m); err != nil {
				return nil, fmt.Errorf("terms: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Bucket is the counting bucket size.
func (c *Counter) Bucket() time.Duration { return c.o.Bucket }

// Group is the consumer group the counter reads raw.posts in.
func (c *Counter) Group() string { return c.o.Group }

// Run consumes raw.posts until ctx ends. Offsets are committed only after
// the batch's rows are in ClickHouse.
func (c *Counter) Run(ctx context.Context) error {
	if c.o.Bus == nil {
		return errors.New("terms: Run needs a bus")
	}
	cons, err := c.o.Bus.Subscribe(ctx, c.o.Group, bus.TopicPosts)
	if err != nil {
		return fmt.Errorf("terms: subscribe %s: %w", bus.TopicPosts, err)
	}
	defer cons.Close()
	return bus.Consume(ctx, cons, bus.BatchOptions{Max: c.o.BatchMax,
		OnError: func(step string, err error, n int) {
			c.o.Log.Warn("terms: "+step+", will retry", "err", err, "posts", n)
		}}, func(ctx context.Context, msgs []bus.Message) error {
		docs := make([]Doc, 0, len(msgs))
		for _, m := range msgs {
			p, err := posts.Decode(m.Value)
			if err != nil {
				c.bad.Inc()
				continue
			}
			docs = append(docs, Doc{Post: p, Arrived: m.Time})
		}
		return c.Add(ctx, docs)
	})
}

type mentionRow struct {
	BucketSeconds uint32    `json:"bucket_seconds"`
	Bucket        time.Time `json:"bucket"`
	Term          string    `json:"term"`
	Cluster       uint64    `json:"cluster"`
	PostID        string    `json:"post_id"`
}

type postRow struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	URL         string    `json:"url"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	Author      string    `json:"author"`
	PublishedAt time.Time `json:"published_at"`
	SeenAt      time.Time `json:"seen_at"`
	Cluster     uint64    `json:"cluster"`
}

// maxStoredBody bounds the body kept for rules and samples.
const maxStoredBody = 2000

// Add is the counting hook: it stores the mentions of docs. It is what Run
// calls per batch, and what a stage that already tokenised the posts may
// call instead.
func (c *Counter) Add(ctx context.Context, docs []Doc) error {
	if len(docs) == 0 {
		return nil
	}
	now := c.o.Now().UTC()
	secs := uint32(c.o.Bucket / time.Second)
	var rows []mentionRow
	prows := make([]postRow, 0, len(docs))
	var newest time.Time
	for _, d := range docs {
		p := d.Post
		arrived := d.Arrived.UTC()
		if arrived.IsZero() {
			arrived = now
		}
		at, why := Place(p.PublishedAt.UTC(), arrived, c.o.Bucket, c.o.Grace)
		switch why {
		case PlacedFuture:
			c.future.Inc()
		case PlacedLate:
			c.late.Inc()
		}
		if at.After(newest) {
			newest = at
		}
		b := at.Truncate(c.o.Bucket)
		toks := c.terms(&d)
		cl := ClusterKey(p)
		for _, t := range Normalize(toks) {
			rows = append(rows, mentionRow{BucketSeconds: secs, Bucket: b, Term: t, Cluster: cl, PostID: p.ID})
		}
		body := p.Body
		if len(body) > maxStoredBody {
			body = truncateUTF8(body, maxStoredBody)
		}
		prows = append(prows, postRow{ID: p.ID, Source: p.Source, URL: p.URL, Title: p.Title, Body: body,
			Author: p.Author, PublishedAt: at, SeenAt: now, Cluster: cl})
	}
	// Posts first: a mention without its post only loses a sample, while
	// the reverse would count a term whose sample cannot be shown.
	if err := c.o.DB.Insert(ctx, "netpulse.alert_posts", prows); err != nil {
		return fmt.Errorf("terms: store posts: %w", err)
	}
	if err := c.o.DB.Insert(ctx, "netpulse.term_mentions", rows); err != nil {
		return fmt.Errorf("terms: store mentions: %w", err)
	}
	c.posts.Add(float64(len(docs)))
	c.mentions.Add(float64(len(rows)))
	c.mu.Lock()
	if newest.After(c.progress) {
		c.progress = newest
	}
	c.mu.Unlock()
	return nil
}

// Placement says why a post was counted at the time it was.
type Placement int

// Placements.
const (
	PlacedPublished Placement = iota // at its publication time
	PlacedFuture                     // dated ahead of its arrival: at arrival
	PlacedLate                       // arrived after its bucket was evaluated: at arrival
)

// Place returns the time a post counts at: its publication, unless it is
// dated more than a bucket after it arrived (bad feed clocks, time zones
// misread as UTC, which would burst in a bucket not yet due), or it arrived
// after the trends engine evaluated its bucket (crawl delay), in which
// cases it counts when it arrived.
func Place(published, arrived time.Time, bucket, grace time.Duration) (time.Time, Placement) {
	switch {
	case published.After(arrived.Add(bucket)):
		return arrived, PlacedFuture
	case published.Truncate(bucket).Add(bucket + grace/2).Before(arrived):
		return arrived, PlacedLate
	}
	return published, PlacedPublished
}

// ClusterKey is what a post counts as: its near-duplicate cluster, or the
// post itself when it is not clustered.
func ClusterKey(p posts.Post) uint64 {
	if p.ClusterID != 0 {
		return p.ClusterID
	}
	h := fnv.New64a()
	h.Write([]byte(p.ID))
	return h.Sum64() | 1<<63 // keep apart from SimHash cluster ids in practice
}

func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// MaxTermRunes bounds a term's length; longer tokens are URLs or noise.
const MaxTermRunes = 24

// Normalize lowercases tokens, drops what cannot be a topic word (single
// characters, numbers, punctuation, over-long tokens) and returns each term
// once, sorted.
func Normalize(toks []string) []string {
	seen := make(map[string]struct{}, len(toks))
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		t = strings.ToLower(strings.TrimSpace(t))
		if !keep(t) {
			continue
		}
		if _, ok := seen[t]; ok {
			continue
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func keep(t string) bool {
	n := utf8.RuneCountInString(t)
	if n < 2 || n > MaxTermRunes {
		return false
	}
	letters, han := 0, 0
	for _, r := range t {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r), r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	if han == 0 && letters < 3 {
		return false
	}
	_, stop := stopTerms[t]
	return !stop
}

// stopTerms are frequent function words that no burst is about; the jieba
// stop list covers the segmenter's output, this covers bigrams.
var stopTerms = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(`我们 你们 他们 她们 它们 一个 没有 什么 这个 那个 这些 那些 可以 自己 已经 因为 所以
但是 如果 现在 今天 就是 还是 不是 也是 的是 了一 是一 有一 这样 那样 怎么 这是 那是 大家 进行 表示 目前 the and for
with that this from are was were have has not you your our but http https www com`) {
		m[w] = struct{}{}
	}
	return m
}()

// functionChars are grammatical characters; a bigram with one of them
// ("们的", "了一") is rarely a word and never what a burst is about.
const functionChars = "的了是在和也就都而及与着或们这那之其个吗呢吧啊么很把被给让"

// Bigrams is the tokenizer used when no segmenter is wired: every pair of
// adjacent Han characters, plus runs of letters and digits as words. Most
// Chinese words that bursts are about have two characters, and bigrams of
// longer ones co-occur and are grouped into one topic.
type Bigrams struct{}

// Terms implements Tokenizer.
func (Bigrams) Terms(text string) []string {
	var out []string
	var run []rune
	var word strings.Builder
	flushRun := func() {
		for i := 0; i+1 < len(run); i++ {
			if strings.ContainsRune(functionChars, run[i]) || strings.ContainsRune(functionChars, run[i+1]) {
				continue
			}
			out = append(out, string(run[i:i+2]))
		}
		run = run[:0]
	}
	flushWord := func() {
		if word.Len() > 0 {
			out = append(out, word.String())
			word.Reset()
		}
	}
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			run = append(run, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushRun()
			word.WriteRune(r)
		default:
			flushRun()
			flushWord()
		}
	}
	flushRun()
	flushWord()
	return out
}
