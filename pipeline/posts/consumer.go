package posts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/bus"
)

// Source is the part of a bus consumer this stage reads from.
type Source interface {
	Fetch(ctx context.Context, max int) ([]bus.Message, error)
	Commit(ctx context.Context, msgs ...bus.Message) error
}

// Store receives post rows (store.DB satisfies it).
type Store interface {
	Insert(ctx context.Context, table string, rows any) error
}

// Index is the search index as the pipeline sees it: something that takes a
// batch of posts, each with its cut (Post.Cut, made with the current
// dictionary), and returns once they are persisted. The pipeline owns this
// seam; search/shards satisfies it and cmd/netpulse wires the two, so the
// pipeline never knows the concrete index.
type Index interface {
	IndexPosts(ctx context.Context, posts []Post) error
}

// Tokenizer cuts posts (jieba.Segmenter satisfies it): the consumer cuts a
// post only if it arrived without a usable cut, and derives the stored
// terms from the cut.
type Tokenizer interface {
	CutPost(title, body string) *jieba.Cut
	Usable(c *jieba.Cut, title, body string) bool
	PostTerms(c *jieba.Cut, title, body string) []string
}

// Config configures a Consumer.
type Config struct {
	// A batch closes at MaxBatch posts or MaxWait after its first post.
	MaxBatch int           // default 1000
	MaxWait  time.Duration // default 1s
	// DeadLetter, if set, receives posts that cannot be decoded or are
	// invalid, with the reason in the value; otherwise they are logged.
	DeadLetter bus.Producer
	// OnTerms, if set, is called once per stored and indexed post with its
	// terms, before the offsets are committed (term counting hooks here).
	// It must not block for long; an error fails the batch, which is retried.
	OnTerms func(ctx context.Context, p *Post, terms []string) error
	// Analyzer names the analyser recorded with each stored row.
	Analyzer   string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Consumer is the posts stage: raw.posts → tokenise → store + index → commit.
type Consumer struct {
	src   Source
	store Store
	index Index
	tok   Tokenizer
	cfg   Config
	log   *slog.Logger

	posts   *prometheus.CounterVec
	batches prometheus.Histogram
	retries prometheus.Counter
}

// Table is where posts are stored.
const Table = "netpulse.posts"

// NewConsumer wires the stage.
func NewConsumer(src Source, store Store, index Index, tok Tokenizer, cfg Config) (*Consumer, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{src: src, store: store, index: index, tok: tok, cfg: cfg, log: cfg.Logger,
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netpulse_posts_consumed_total", Help: "Posts read from raw.posts, by outcome."}, []string{"outcome"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "netpulse_posts_batch_seconds", Help: "Time to store, index and commit one batch of posts.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "netpulse_posts_batch_retries_total", Help: "Batches retried after a store or index failure."}),
	}
	if cfg.Registerer != nil {
		for _, col := range []prometheus.Collector{c.posts, c.batches, c.retries} {
			if err := cfg.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("posts consumer metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Run consumes until ctx ends. A batch that fails to store or index is
// retried (with backoff) without committing, so nothing is lost; replays
// are harmless because the post id is both the row key and the document id.
func (c *Consumer) Run(ctx context.Context) error {
	return bus.Consume(ctx, c.src, bus.BatchOptions{Max: c.cfg.MaxBatch, Linger: c.cfg.MaxWait,
		OnError: func(step string, err error, n int) {
			if step == "handle" {
				c.retries.Inc()
			}
			c.log.Error("posts batch: "+step+" failed; retrying", "posts", n, "err", err)
		}}, c.Process)
}

// row is a netpulse.posts row.
type row struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	URL         string    `json:"url"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	Author      string    `json:"author"`
	PublishedAt time.Time `json:"published_at"`
	FetchedAt   time.Time `json:"fetched_at"`
	ClusterID   uint64    `json:"cluster_id"`
	Lang        string    `json:"lang"`
	Analyzer    string    `json:"analyzer"`
	Tokens      []string  `json:"tokens"`
}

// Process stores and indexes one batch; Run commits it afterwards. Invalid
// posts go to the dead-letter topic and are committed with the batch.
func (c *Consumer) Process(ctx context.Context, msgs []bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	start := time.Now()
	// The last version of a post in the batch wins, as a replay would.
	byID := map[string]int{}
	var posts []Post
	var bad []bus.Message
	for _, m := range msgs {
		p, err := Decode(m.Value)
		if err != nil {
			bad = append(bad, deadLetter(m, err))
			continue
		}
		if p.FetchedAt.IsZero() {
			p.FetchedAt = m.Time
		}
		if i, ok := byID[p.ID]; ok {
			posts[i] = p
			continue
		}
		byID[p.ID] = len(posts)
		posts = append(posts, p)
	}
	rows := make([]row, len(posts))
	terms := make([][]string, len(posts))
	for i := range posts {
		p := &posts[i]
		if !c.tok.Usable(p.Cut, p.Title, p.Body) {
			p.Cut = c.tok.CutPost(p.Title, p.Body)
		}
		terms[i] = c.tok.PostTerms(p.Cut, p.Title, p.Body)
		rows[i] = row{ID: p.ID, Source: p.Source, URL: p.URL, Title: p.Title, Body: p.Body, Author: p.Author,
			PublishedAt: p.PublishedAt.UTC(), FetchedAt: p.FetchedAt.UTC(), ClusterID: p.ClusterID, Lang: p.Lang,
			Analyzer: c.cfg.Analyzer, Tokens: terms[i]}
	}
	if len(rows) > 0 {
		if err := c.store.Insert(ctx, Table, rows); err != nil {
			return fmt.Errorf("store %d posts: %w", len(rows), err)
		}
		if err := c.index.IndexPosts(ctx, posts); err != nil {
			return fmt.Errorf("index %d posts: %w", len(posts), err)
		}
		if c.cfg.OnTerms != nil {
			for i := range posts {
				if err := c.cfg.OnTerms(ctx, &posts[i], terms[i]); err != nil {
					return fmt.Errorf("term hook for post %s: %w", posts[i].ID, err)
				}
			}
		}
	}
	if len(bad) > 0 {
		if c.cfg.DeadLetter != nil {
			if err := c.cfg.DeadLetter.Publish(ctx, bus.TopicDeadLetter, bad...); err != nil {
				return fmt.Errorf("dead-letter %d posts: %w", len(bad), err)
			}
		} else {
			for _, m := range bad {
				c.log.Warn("invalid post dropped", "key", string(m.Key), "reason", string(m.Value))
			}
		}
	}
	c.posts.WithLabelValues("ok").Add(float64(len(posts)))
	c.posts.WithLabelValues("invalid").Add(float64(len(bad)))
	c.batches.Observe(time.Since(start).Seconds())
	return nil
}

// deadLetter wraps an unusable message with the reason.
func deadLetter(m bus.Message, reason error) bus.Message {
	v, _ := json.Marshal(struct {
		Topic     string `json:"topic"`
		Partition int    `json:"partition"`
		Offset    int64  `json:"offset"`
		Reason    string `json:"reason"`
		Value     string `json:"value"`
	}{m.Topic, m.Partition, m.Offset, reason.Error(), string(m.Value)})
	return bus.Message{Key: m.Key, Value: v, Time: time.Now()}
}
