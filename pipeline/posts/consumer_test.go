package posts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/netpulse/netpulse/pipeline/posts"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
	"github.com/netpulse/netpulse/search/shards"
)

// One chDB engine and one jieba per test process, as in serve.
var (
	db  *store.DB
	seg *jieba.Segmenter
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posts-test-")
	if err != nil {
		panic(err)
	}
	b, err := chdb.Open(dir + "/chdb")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db = store.New(b, nil)
	if seg, err = jieba.Open(dir + "/jieba"); err != nil {
		panic(err)
	}
	if err := jieba.Register(seg); err != nil {
		panic(err)
	}
	// Only this stage's schema, so that others' half-written files do not
	// fail these tests.
	schema := fstest.MapFS{}
	for _, name := range []string{"0001_core.sql", "0020_posts.sql"} {
		data, err := fs.ReadFile(deploy.Schema(), name)
		if err != nil {
			panic(err)
		}
		schema[name] = &fstest.MapFile{Data: data}
	}
	if err := db.Migrate(context.Background(), schema); err != nil {
		panic(err)
	}
	code := m.Run()
	db.Close()
	seg.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

type fixture struct {
	j     *journal.Journal
	cons  bus.Consumer
	index *shards.Set
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	j, err := journal.Open(journal.Options{Dir: t.TempDir(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cons, err := j.Subscribe(context.Background(), "posts", bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := shards.Open(shards.Config{Dir: t.TempDir(), IndexAnalyzer: jieba.AnalyzerIndex,
		QueryAnalyzer: jieba.AnalyzerQuery, Fingerprint: seg.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return &fixture{j: j, cons: cons, index: idx}
}

func publishPosts(t *testing.T, j *journal.Journal, prefix string, n int) {
	t.Helper()
	var msgs []bus.Message
	for i := range n {
		p := posts.Post{ID: fmt.Sprintf("%s-%03d", prefix, i), Source: "weibo", URL: "https://example.cn/" + prefix,
			Title: "临江区警情通报", Body: fmt.Sprintf("第%d起：嫌疑人以兼职刷单为名实施电信诈骗。", i), Author: "临江警方",
			PublishedAt: time.Date(2026, 11, 20+i%3, 8, 0, 0, 0, time.UTC), FetchedAt: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC),
			ClusterID: uint64(i % 4), Lang: "zh"}
		v, _ := json.Marshal(p)
		msgs = append(msgs, bus.Message{Key: []byte(p.ID), Value: v})
	}
	if err := j.Publish(context.Background(), bus.TopicPosts, msgs...); err != nil {
		t.Fatal(err)
	}
}

func storedCount(t *testing.T, prefix string) int {
	t.Helper()
	var out []struct {
		N int `json:"n"`
	}
	if err := db.Select(context.Background(), &out, `SELECT count() AS n FROM netpulse.posts FINAL WHERE startsWith(id, ?)`, prefix); err != nil {
		t.Fatal(err)
	}
	return out[0].N
}

func indexedCount(t *testing.T, s *shards.Set) uint64 {
	t.Helper()
	n, err := s.Alias().DocCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitLag(t *testing.T, j *journal.Journal, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lag, err := j.Lag(context.Background(), "posts", bus.TopicPosts)
		if err != nil {
			t.Fatal(err)
		}
		if lag == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag stayed at %d, want %d", lag, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunStoresIndexesAndCommits(t *testing.T) {
	f := newFixture(t)
	publishPosts(t, f.j, "run", 120)
	bad := []bus.Message{
		{Key: []byte("x1"), Value: []byte(`{"id":`)},
		{Key: []byte("x2"), Value: []byte(`{"id":"x2","source":"weibo","body":"无发布时间"}`)},
	}
	if err := f.j.Publish(context.Background(), bus.TopicPosts, bad...); err != nil {
		t.Fatal(err)
	}
	dl, err := f.j.Subscribe(context.Background(), "dl-reader", bus.TopicDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	var termed atomic.Int64
	c, err := posts.NewConsumer(f.cons, db, f.index, seg, posts.Config{MaxBatch: 50, MaxWait: 50 * time.Millisecond,
		DeadLetter: f.j, Analyzer: seg.Fingerprint(),
		OnTerms: func(_ context.Context, p *posts.Post, terms []string) error {
			if len(terms) == 0 {
				return fmt.Errorf("post %s has no terms", p.ID)
			}
			termed.Add(1)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitLag(t, f.j, 0)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := storedCount(t, "run-"); n != 120 {
		t.Errorf("stored %d posts, want 120", n)
	}
	if n := indexedCount(t, f.index); n != 120 {
		t.Errorf("indexed %d posts, want 120", n)
	}
	if termed.Load() != 120 {
		t.Errorf("term hook saw %d posts, want 120", termed.Load())
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	var dead []bus.Message
	for len(dead) < 2 {
		ms, err := dl.Fetch(fctx, 10)
		if err != nil {
			t.Fatalf("dead letters: got %d, then %v", len(dead), err)
		}
		dead = append(dead, ms...)
	}
	var reason struct{ Reason string }
	json.Unmarshal(dead[1].Value, &reason)
	if reason.Reason == "" {
		t.Errorf("dead letter without a reason: %s", dead[1].Value)
	}
}

func TestReplayedBatchDoesNotDuplicate(t *testing.T) {
	f := newFixture(t)
	publishPosts(t, f.j, "replay", 40)
	c, err := posts.NewConsumer(f.cons, db, f.index, seg, posts.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msgs, err := f.cons.Fetch(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	// A crash after the store and index but before the commit replays the
	// batch: process it twice.
	for range 2 {
		if err := c.Process(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	if n := storedCount(t, "replay-"); n != 40 {
		t.Errorf("stored %d, want 40", n)
	}
	if n := indexedCount(t, f.index); n != 40 {
		t.Errorf("indexed %d, want 40", n)
	}
}

// failingIndex fails its first calls, as a full disk would, then passes
// writes to the real index.
type failingIndex struct {
	*shards.Set
	failures atomic.Int64
}

func (f *failingIndex) IndexPosts(ctx context.Context, docs []posts.Post) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.Set.IndexPosts(ctx, docs)
}

func TestNoCommitBeforeIndexHolds(t *testing.T) {
	f := newFixture(t)
	publishPosts(t, f.j, "fail", 30)
	idx := &failingIndex{Set: f.index}
	idx.failures.Store(2)
	c, err := posts.NewConsumer(f.cons, db, idx, seg, posts.Config{MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msgs, err := f.cons.Fetch(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Process(ctx, msgs); err == nil {
		t.Fatal("Process succeeded while the index failed")
	}
	if lag, _ := f.j.Lag(ctx, "posts", bus.TopicPosts); lag != 30 {
		t.Errorf("lag %d after a failed batch, want 30 (nothing committed)", lag)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Run retries the failed batch from the bus after a restart.
	cons2, err := f.j.Subscribe(ctx, "posts", bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := posts.NewConsumer(cons2, db, idx, seg, posts.Config{MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go c2.Run(rctx)
	waitLag(t, f.j, 0)
	if n := indexedCount(t, f.index); n != 30 {
		t.Errorf("indexed %d, want 30", n)
	}
}
