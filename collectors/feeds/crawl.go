package feeds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"github.com/gocolly/colly/v2"
	"github.com/mmcdole/gofeed"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/chinese/simhash"
	"github.com/netpulse/netpulse/collectors/feeds/chinesedate"
	"github.com/netpulse/netpulse/collectors/feeds/maintext"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/posts"
)

// Publisher is where posts go: bus.Producer satisfies it. Publish must
// return only once the messages are durable, because the crawler marks
// URLs seen right after it returns.
type Publisher interface {
	Publish(ctx context.Context, topic string, msgs ...bus.Message) error
}

// Config tunes the crawler; zero fields take the defaults below.
type Config struct {
	// UserAgent identifies the crawler to sites and to robots.txt groups.
	UserAgent string
	// Timeout bounds every HTTP request, body included.
	Timeout time.Duration
	// MaxBodyBytes truncates larger responses.
	MaxBodyBytes int
	// Retries is how many times a failed request is retried, waiting
	// RetryBackoff, then twice that, and so on (at most 30s). Zero means
	// the default; a negative value means no retries.
	Retries      int
	RetryBackoff time.Duration
	// Threshold is the SimHash Hamming distance for near-duplicates.
	Threshold int
	// DedupWindow is how far back a new post looks for its near-duplicate
	// cluster. Entries older than this are dropped at start-up, which
	// bounds the in-memory index (about 100 bytes a post).
	DedupWindow time.Duration
	// SeenRetention is how long a published URL stays in the seen list
	// (SeenPruner forgets older ones). A page dated older than this is
	// marked seen but not published, so that a forgotten URL that shows up
	// again, or an old backlog, does not come back as news; posts that old
	// are past the default post retention anyway.
	SeenRetention time.Duration
	// PublishBatch is how many posts go to the bus per Publish.
	PublishBatch int
	// Now is the clock for fetched_at and relative dates ("3小时前").
	Now func() time.Time
	// Allow names internal addresses the crawler may connect to (address,
	// prefix or address:port); every other loopback, private, link-local,
	// multicast or unspecified address is refused at the dialer.
	Allow []string
	// Transport replaces the HTTP transport, and with it the address
	// policy (tests of the transport itself only).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Defaults.
const (
	DefaultUserAgent    = "netpulse-feeds/1.0 (+public-safety monitoring; contact: netpulse operators)"
	DefaultTimeout      = 20 * time.Second
	DefaultMaxBodyBytes = 8 << 20
	DefaultRetries      = 3
	DefaultRetryBackoff = time.Second
	DefaultPublishBatch = 64
	DefaultDedupWindow  = 30 * 24 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Threshold == 0 {
		c.Threshold = simhash.DefaultThreshold
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.PublishBatch <= 0 {
		c.PublishBatch = DefaultPublishBatch
	}
	if c.SeenRetention <= 0 {
		c.SeenRetention = DefaultSeenRetention
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Crawler runs one source at a time per call; calls for different sources
// may run concurrently. It publishes posts, then marks their URLs seen.
type Crawler struct {
	cfg     Config
	store   *Store
	health  *Health
	pub     Publisher
	cut     Cutter
	gate    hostGate
	metrics crawlMetrics
	// transport dials only addresses the policy permits.
	transport *http.Transport

	dedupMu sync.Mutex // serialises Assign+persist so restarts replay in order
	index   *simhash.Index
}

type crawlMetrics struct {
	bytes    prometheus.Counter
	clusters *prometheus.CounterVec
}

// Cutter cuts each post once (jieba.Segmenter satisfies it). The cut goes
// out with the post (posts.Post.Cut), so that the pipeline, the term
// counter and the index do not cut again, and gives SimHash its words.
type Cutter interface {
	CutPost(title, body string) *jieba.Cut
	TermsWithin(text string, spans, within []jieba.Span, out []string) []string
}

// NewCrawler loads the SimHash index from store. cut cuts each post once:
// pass the process's jieba segmenter.
func NewCrawler(cfg Config, store *Store, health *Health, pub Publisher, cut Cutter, reg prometheus.Registerer) (*Crawler, error) {
	cfg = cfg.withDefaults()
	ix, err := simhash.NewIndex(cfg.Threshold)
	if err != nil {
		return nil, fmt.Errorf("new crawler: %w", err)
	}
	loaded, dropped, err := store.loadSimhash(ix, cfg.Now().Add(-cfg.DedupWindow))
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("simhash index loaded", "entries", loaded, "expired", dropped, "window", cfg.DedupWindow)
	policy, err := parseAllow(cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("new crawler: %w", err)
	}
	c := &Crawler{cfg: cfg, store: store, health: health, pub: pub, cut: cut, index: ix,
		gate: hostGate{next: map[string]time.Time{}}, transport: guardedTransport(policy)}
	c.metrics.bytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "netpulse", Subsystem: "feeds",
		Name: "fetched_bytes_total", Help: "Response bytes received by the crawler."})
	c.metrics.clusters = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "netpulse", Subsystem: "feeds",
		Name: "posts_clustered_total", Help: "Published posts by whether they started a new near-duplicate cluster (new) or joined one (joined)."}, []string{"cluster"})
	for _, m := range []prometheus.Collector{c.metrics.bytes, c.metrics.clusters} {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("register crawler metrics: %w", err)
		}
	}
	return c, nil
}

// Crawl runs src once and records its health. A run cancelled by ctx is not
// recorded as a source failure.
func (c *Crawler) Crawl(ctx context.Context, src Source) (Run, error) {
	src = src.WithDefaults()
	started := c.cfg.Now()
	r := &runState{c: c, src: src, col: c.newCollector(ctx), fetched: started}
	var err error
	if err = src.Validate(); err == nil {
		r.loc, err = loadZone(src.Timezone)
	}
	if err == nil {
		switch src.Kind {
		case KindHTML:
			err = r.crawlHTML(ctx)
		default:
			err = r.crawlFeed(ctx)
		}
		// Whatever was extracted before a failure is still published.
		if ferr := r.flush(ctx); ferr != nil && err == nil {
			err = ferr
		}
	}
	if ctx.Err() != nil {
		return r.run, ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("crawl %s: %w", src.Name, err)
	}
	level := slog.LevelDebug // an idle run every few seconds is noise
	if err != nil || r.run.Posts > 0 {
		level = slog.LevelInfo
	}
	c.cfg.Logger.Log(ctx, level, "feed run", "source", src.Name, "posts", r.run.Posts, "pages", r.run.Pages,
		"not_modified", r.run.NotModified, "seen", r.run.Seen, "robots", r.run.Robots, "failed", r.run.Failed, "refused", r.run.Refused, "err", err)
	if herr := c.health.Record(ctx, src.Name, started, c.cfg.Now().Sub(started), r.run, err); herr != nil && err == nil {
		err = herr
	}
	return r.run, err
}

// runState is one run of one source.
type runState struct {
	c       *Crawler
	src     Source
	col     *colly.Collector
	loc     *time.Location
	fetched time.Time
	run     Run
	fetches int

	pending  []posts.Post
	urls     []string // to mark seen after the publish
	entries  []simhash.Entry
	inRun    map[string]bool
	newClust int
}

// crawlHTML walks list pages through the next-page link up to MaxDepth and
// fetches the unseen article links of each. A list page answered 304 ends
// the walk: new items appear on the first pages, so an unchanged page means
// nothing new behind it. A list page's validators are stored only once all
// its articles are published or permanently failed, so a crash or a
// transient error makes the next run look at the page again.
func (r *runState) crawlHTML(ctx context.Context) error {
	sel := r.src.Selectors
	r.inRun = map[string]bool{}
	listURL := r.src.URL
	for depth := 1; listURL != "" && depth <= r.src.MaxDepth && r.fetches < r.src.MaxPages; depth++ {
		if r.inRun[listURL] {
			break // a next link pointing back (last page links to itself)
		}
		r.inRun[listURL] = true
		cond, err := r.c.store.Validators(listURL)
		if err != nil {
			return err
		}
		r.fetches++
		p, err := r.c.fetch(ctx, r.col, r.src, listURL, cond)
		switch {
		case errors.Is(err, errRobots):
			r.run.Robots++
			if depth == 1 {
				return fmt.Errorf("start page %s: %w", listURL, err)
			}
			return nil
		case err != nil:
			r.run.Failed++
			return fmt.Errorf("list page %s: %w", listURL, err)
		case p.status == http.StatusNotModified:
			r.run.NotModified++
			return nil
		}
		r.run.Pages++
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(htmlUTF8(p)))
		if err != nil {
			return fmt.Errorf("parse list page %s: %w", listURL, err)
		}
		links := listLinks(doc, sel.List, p.url)
		next := ""
		if sel.Next != "" {
			next = linkOf(doc.Find(sel.Next).First(), p.url)
		}
		complete := true
		for _, link := range links {
			if r.inRun[link] {
				continue
			}
			r.inRun[link] = true
			seen, err := r.c.store.Seen(link)
			if err != nil {
				return err
			}
			if seen {
				r.run.Seen++
				continue
			}
			if r.fetches >= r.src.MaxPages {
				complete = false
				break
			}
			r.fetches++
			if err := r.article(ctx, link); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				complete = false
				r.run.Failed++
				r.c.cfg.Logger.Warn("article failed", "source", r.src.Name, "url", link, "err", err)
			}
			if len(r.pending) >= r.c.cfg.PublishBatch {
				if err := r.flush(ctx); err != nil {
					return err
				}
			}
		}
		if err := r.flush(ctx); err != nil {
			return err
		}
		if complete {
			if err := r.c.store.SetValidators(map[string]Validators{listURL: p.validators()}); err != nil {
				return err
			}
		}
		listURL = next
	}
	return nil
}

// article fetches and extracts one article page. Robots refusals and
// permanent HTTP errors are recorded as seen so that they are not asked
// for again every run; only transient failures return an error.
func (r *runState) article(ctx context.Context, link string) error {
	p, err := r.c.fetch(ctx, r.col, r.src, link, Validators{})
	var perm *permanentError
	switch {
	case errors.Is(err, errRobots):
		r.run.Robots++
		r.urls = append(r.urls, link)
		return nil
	case errors.Is(err, ErrAddressRefused):
		// A link (or its redirect) into an internal network: recorded as
		// seen so that it is not tried every run, and shown in health.
		r.run.Refused++
		r.run.RefusedURL = link + ": " + err.Error()
		r.urls = append(r.urls, link)
		r.c.cfg.Logger.Warn("article refused", "source", r.src.Name, "url", link, "err", err)
		return nil
	case errors.As(err, &perm):
		r.run.Failed++
		r.urls = append(r.urls, link)
		r.c.cfg.Logger.Info("article gone", "source", r.src.Name, "url", link, "status", perm.status)
		return nil
	case err != nil:
		return err
	}
	if !p.isHTML() {
		// A list link to a PDF or an image: nothing to extract, and
		// asking again next run will not change that.
		r.run.Failed++
		r.urls = append(r.urls, link)
		r.c.cfg.Logger.Info("article is not HTML", "source", r.src.Name, "url", link, "content_type", p.header.Get("Content-Type"))
		return nil
	}
	r.run.Pages++
	a, err := r.extract(p)
	if err != nil {
		return fmt.Errorf("parse %s: %w", link, err)
	}
	a.Body = r.restOfArticle(ctx, p.url, a)
	r.add(link, link, a.Title, a.Body, a.Author, r.parseTime(a.TimeText))
	return nil
}

// maxArticleParts bounds how many pages of one paginated article
// ("下一页") are fetched and joined.
const maxArticleParts = 10

// extract reads the article of one fetched page with the source's
// selectors first, counting pages the extractor had to take its fast path
// on (too large for the full extractor, or nothing found by it).
func (r *runState) extract(p *page) (maintext.Article, error) {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(htmlUTF8(p)))
	if err != nil {
		return maintext.Article{}, err
	}
	a := maintext.Extract(doc, maintext.Rules{Title: r.src.Selectors.Title, Body: r.src.Selectors.Body,
		Author: r.src.Selectors.Author, Time: r.src.Selectors.Time})
	if a.Method == maintext.ByFastPath {
		r.run.FastPath++
	}
	return a, nil
}

// restOfArticle follows the next-page links of an article split over
// several pages on the same host and returns the joined body. A part that
// cannot be fetched ends the article where it is: the parts before it are
// still the article's text.
func (r *runState) restOfArticle(ctx context.Context, at *url.URL, a maintext.Article) string {
	body := a.Body
	visited := map[string]bool{at.String(): true}
	for part := 1; part < maxArticleParts && a.NextPage != "" && r.fetches < r.src.MaxPages; part++ {
		ref, err := url.Parse(a.NextPage)
		if err != nil {
			break
		}
		next := at.ResolveReference(ref)
		next.Fragment = ""
		if next.Host != at.Host || visited[next.String()] {
			break
		}
		visited[next.String()] = true
		r.fetches++
		p, err := r.c.fetch(ctx, r.col, r.src, next.String(), Validators{})
		if err != nil || !p.isHTML() {
			r.c.cfg.Logger.Info("article part not fetched", "source", r.src.Name, "url", next.String(), "err", err)
			break
		}
		r.run.Pages++
		if a, err = r.extract(p); err != nil {
			break
		}
		if a.Body != "" {
			body += "\n" + a.Body
		}
		at = p.url
		visited[at.String()] = true
	}
	return body
}

// crawlFeed fetches the feed conditionally and turns unseen items into posts.
func (r *runState) crawlFeed(ctx context.Context) error {
	cond, err := r.c.store.Validators(r.src.URL)
	if err != nil {
		return err
	}
	r.fetches++
	p, err := r.c.fetch(ctx, r.col, r.src, r.src.URL, cond)
	switch {
	case errors.Is(err, errRobots):
		r.run.Robots++
		return fmt.Errorf("feed %s: %w", r.src.URL, err)
	case err != nil:
		r.run.Failed++
		return fmt.Errorf("feed %s: %w", r.src.URL, err)
	case p.status == http.StatusNotModified:
		r.run.NotModified++
		return nil
	}
	r.run.Pages++
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(feedUTF8(p)))
	if err != nil {
		return fmt.Errorf("parse feed %s: %w", r.src.URL, err)
	}
	if want := string(r.src.Kind); feed.FeedType != want {
		r.c.cfg.Logger.Info("feed type differs from source kind", "source", r.src.Name, "kind", want, "served", feed.FeedType)
	}
	r.inRun = map[string]bool{}
	for _, it := range feed.Items {
		key, link := itemKey(it, p.url)
		if key == "" || r.inRun[key] {
			continue
		}
		r.inRun[key] = true
		seen, err := r.c.store.Seen(key)
		if err != nil {
			return err
		}
		if seen {
			r.run.Seen++
			continue
		}
		body := maintext.Text(it.Content)
		if body == "" {
			body = maintext.Text(it.Description)
		}
		r.add(key, link, maintext.Text(it.Title), body, itemAuthor(it), r.itemTime(it))
		if len(r.pending) >= r.c.cfg.PublishBatch {
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := r.flush(ctx); err != nil {
		return err
	}
	return r.c.store.SetValidators(map[string]Validators{r.src.URL: p.validators()})
}

// itemKey returns the item's identity and the URL to show for it: its
// absolute link for both, or when it has none, its guid (the identity the
// feed promises to keep) and the feed's own URL.
func itemKey(it *gofeed.Item, feedURL *url.URL) (key, link string) {
	if l := strings.TrimSpace(it.Link); l != "" {
		if u, err := feedURL.Parse(l); err == nil {
			u.Fragment = ""
			return u.String(), u.String()
		}
	}
	if g := strings.TrimSpace(it.GUID); g != "" {
		return "guid:" + feedURL.Host + ":" + g, feedURL.String()
	}
	return "", ""
}

func itemAuthor(it *gofeed.Item) string {
	for _, a := range it.Authors {
		if a != nil && strings.TrimSpace(a.Name) != "" {
			return maintext.Text(a.Name)
		}
	}
	if it.DublinCoreExt != nil && len(it.DublinCoreExt.Creator) > 0 {
		return maintext.Text(it.DublinCoreExt.Creator[0])
	}
	return ""
}

func (r *runState) itemTime(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return *it.PublishedParsed
	case it.UpdatedParsed != nil:
		return *it.UpdatedParsed
	case it.Published != "":
		return r.parseTime(it.Published)
	}
	return r.parseTime(it.Updated)
}

// parseTime reads a printed time; pages without a readable one get the
// fetch time, which is the best upper bound we have (posts.Post requires
// published_at).
func (r *runState) parseTime(text string) time.Time {
	if strings.TrimSpace(text) == "" {
		return r.fetched
	}
	t, err := chinesedate.ParseLayout(text, r.src.TimeLayout, r.fetched, r.loc)
	if err != nil {
		r.c.cfg.Logger.Debug("unreadable time", "source", r.src.Name, "text", text, "err", err)
		return r.fetched
	}
	return t
}

// PostID derives the stable post id from the canonical URL (or guid key),
// so that a replay or re-crawl overwrites instead of duplicating.
func PostID(link string) string {
	sum := sha256.Sum256([]byte(link))
	return hex.EncodeToString(sum[:16])
}

// add builds a post and assigns its near-duplicate cluster. key is the
// identity (seen set, post id), link the URL shown.
func (r *runState) add(key, link, title, body, author string, published time.Time) {
	body = truncateUTF8(body, posts.MaxBodyLen)
	title = truncateUTF8(title, posts.MaxTitleLen)
	p := posts.Post{
		ID: PostID(key), Source: r.src.Name, URL: link, Title: title, Body: body, Author: author,
		PublishedAt: published.UTC(), FetchedAt: r.fetched.UTC(), Lang: "zh",
	}
	if err := p.Validate(); err != nil {
		r.c.cfg.Logger.Info("skipping unusable page", "source", r.src.Name, "url", link, "err", err)
		r.urls = append(r.urls, key)
		return
	}
	if published.Before(r.fetched.Add(-r.c.cfg.SeenRetention)) {
		r.c.cfg.Logger.Debug("skipping page older than the seen retention", "source", r.src.Name, "url", link,
			"published", published, "retention", r.c.cfg.SeenRetention)
		r.run.Old++
		r.urls = append(r.urls, key)
		return
	}
	r.c.dedupMu.Lock()
	p.Cut = r.c.cut.CutPost(p.Title, p.Body)
	e, added := r.c.index.Assign(p.ID, simhash.Fingerprint(r.c.simhashWords(&p)))
	r.c.dedupMu.Unlock()
	p.ClusterID = e.Cluster
	if added {
		r.entries = append(r.entries, e)
	}
	if e.Cluster == e.Fingerprint {
		r.newClust++
	}
	r.pending = append(r.pending, p)
	r.urls = append(r.urls, key)
}

// simhashWords are the precise words of the parts of p that SimHash sees
// (dedupParts), from p's cut: stop words, punctuation and case do not
// change a fingerprint.
func (c *Crawler) simhashWords(p *posts.Post) []string {
	titleFrom, lines := dedupParts(p.Title, p.Body)
	var out []string
	if titleFrom >= 0 {
		out = c.cut.TermsWithin(p.Title, p.Cut.Title, []jieba.Span{{Start: titleFrom, End: len(p.Title)}}, out)
	}
	return c.cut.TermsWithin(p.Body, p.Cut.Body, lines, out)
}

// flush publishes the pending posts, keyed by source, and only then marks
// their URLs seen and persists their SimHash entries. If the process dies
// in between, the next run republishes them with the same ids, which the
// pipeline absorbs.
func (r *runState) flush(ctx context.Context) error {
	if len(r.pending) > 0 {
		msgs := make([]bus.Message, len(r.pending))
		for i, p := range r.pending {
			v, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encode post %s: %w", p.ID, err)
			}
			msgs[i] = bus.Message{Key: []byte(r.src.Name), Value: v, Time: p.FetchedAt}
		}
		if err := r.c.pub.Publish(ctx, bus.TopicPosts, msgs...); err != nil {
			return fmt.Errorf("publish %d posts: %w", len(msgs), err)
		}
	}
	if err := r.c.store.putSimhash(r.fetched, r.entries...); err != nil {
		return err
	}
	if err := r.c.store.MarkSeen(r.fetched, r.urls...); err != nil {
		return err
	}
	r.run.Posts += len(r.pending)
	r.c.metrics.clusters.WithLabelValues("new").Add(float64(r.newClust))
	r.c.metrics.clusters.WithLabelValues("joined").Add(float64(len(r.pending) - r.newClust))
	r.pending, r.urls, r.entries, r.newClust = r.pending[:0], r.urls[:0], r.entries[:0], 0
	return nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// listLinks returns the absolute, fragment-free article URLs that sel
// matches, in page order: the href of a matched a element, or of the first
// a inside a matched element.
func listLinks(doc *goquery.Document, sel string, base *url.URL) []string {
	var out []string
	doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
		if l := linkOf(s, base); l != "" {
			out = append(out, l)
		}
	})
	return out
}

func linkOf(s *goquery.Selection, base *url.URL) string {
	if s.Length() == 0 {
		return ""
	}
	if !s.Is("a") {
		s = s.Find("a[href]").First()
	}
	href, ok := s.Attr("href")
	href = strings.TrimSpace(href)
	if !ok || href == "" || strings.HasPrefix(strings.ToLower(href), "javascript:") {
		return ""
	}
	u, err := base.Parse(href)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	u.Fragment = ""
	return u.String()
}
