package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/collectors/feeds"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/posts"
)

var seg *jieba.Segmenter

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demo-jieba-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if seg, err = jieba.Open(filepath.Join(dir, "dict")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	seg.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// clock is a settable time source shared by the demo site and the crawler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// demoCrawl is the demo site on a fake clock with the real crawler, a
// journal and jieba behind it, for the crawl tests.
type demoCrawl struct {
	clk    *clock
	j      *journal.Journal
	health *feeds.Health
	// crawlAll crawls every demo source once and returns the posts published.
	crawlAll func() int
}

func newDemoCrawl(t *testing.T) *demoCrawl {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 28, 16, 0, 0, 0, cst)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	site, err := Start(ctx, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.Close() })
	dir := t.TempDir()
	st, err := feeds.OpenStore(filepath.Join(dir, "feeds"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	j, err := journal.Open(journal.Options{Dir: filepath.Join(dir, "bus"), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	reg := prometheus.NewRegistry()
	h, err := feeds.NewHealth(st, reg, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := feeds.NewCrawler(feeds.Config{Now: clk.Now, Allow: []string{"127.0.0.1/32"}}, st, h, j, seg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSources(ctx, site.Sources()...); err != nil {
		t.Fatalf("demo sources do not validate: %v", err)
	}
	return &demoCrawl{clk: clk, j: j, health: h, crawlAll: func() int {
		n := 0
		for _, src := range site.Sources() {
			run, err := c.Crawl(ctx, src)
			if err != nil {
				t.Fatalf("crawl %s: %v", src.Name, err)
			}
			n += run.Posts
		}
		return n
	}}
}

// TestDemoCrawl crawls the demo sites with the real crawler, journal and
// jieba: before the burst, then after it. The burst must add many posts
// but few clusters, and every source must stay healthy.
func TestDemoCrawl(t *testing.T) {
	d := newDemoCrawl(t)
	clk, j, crawlAll := d.clk, d.j, d.crawlAll
	before := crawlAll()
	if before < 10 {
		t.Errorf("only %d posts before the burst", before)
	}
	clk.Advance(3 * time.Minute)
	mid := crawlAll()
	clk.Advance(30 * time.Minute)
	after := crawlAll()
	if mid == 0 || after < 30 {
		t.Errorf("new items over time: %d then %d posts", mid, after)
	}
	if n := crawlAll(); n != 0 {
		t.Errorf("a crawl with nothing new published %d posts", n)
	}

	ps := readAll(t, j)
	if len(ps) != before+mid+after {
		t.Fatalf("raw.posts has %d posts, runs reported %d", len(ps), before+mid+after)
	}
	clusters := map[uint64][]posts.Post{}
	topics := map[string]int{}
	for _, p := range ps {
		clusters[p.ClusterID] = append(clusters[p.ClusterID], p)
		for _, w := range []string{"电信诈骗", "诈骗", "火灾", "起火", "交通事故", "追尾", "洪水", "防汛"} {
			if strings.Contains(p.Title+p.Body, w) {
				topics[w]++
			}
		}
	}
	biggest := 0
	for _, members := range clusters {
		biggest = max(biggest, len(members))
	}
	// 24 reposts of the warning plus the warning itself.
	if biggest < 20 {
		t.Errorf("largest cluster has %d posts; the reposted warning should collapse", biggest)
	}
	if len(clusters) > len(ps)-20 || len(clusters) < 25 {
		t.Errorf("%d posts in %d clusters", len(ps), len(clusters))
	}
	for _, w := range []string{"诈骗", "火灾", "追尾", "防汛"} {
		if topics[w] == 0 {
			t.Errorf("no post mentions %s", w)
		}
	}
	for _, sh := range d.health.All() {
		if sh.LastSuccessAt.IsZero() || sh.ConsecutiveFailures != 0 {
			t.Errorf("demo source unhealthy: %+v", sh)
		}
	}
	t.Logf("%d posts, %d clusters, largest %d", len(ps), len(clusters), biggest)
}

func readAll(t *testing.T, j *journal.Journal) []posts.Post {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := j.Subscribe(ctx, "demo-test", bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	lag, err := j.Lag(ctx, "demo-test", bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	var out []posts.Post
	for int64(len(out)) < lag {
		msgs, err := cons.Fetch(ctx, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			p, err := posts.Decode(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

// TestTimelineCycles: the timeline repeats every Cycle with new ids and a
// new burst, the backlog only once, and the listing stays bounded.
func TestTimelineCycles(t *testing.T) {
	start := time.Date(2026, 11, 28, 16, 0, 0, 0, cst)
	clk := &clock{t: start}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	site, err := Start(ctx, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	// 57 items: 11 dated before the start (shown once), 46 in the timeline
	// (repeated), 38 of them the forum burst from minute 4 to 10.
	tests := []struct {
		elapsed time.Duration
		items   int
		bursts  int // cycles whose burst has begun
	}{
		{0, 11, 0},
		{20 * time.Minute, 57, 1},
		{Cycle, 57, 1},
		{Cycle + 3*time.Minute, 58, 1},
		{Cycle + 5*time.Minute, 58 + 1 + 7, 2},
		{2*Cycle - time.Minute, 57 + 46, 2},
		{5*Cycle + 20*time.Minute, 57 + 5*46, 6},
		{24*time.Hour + 25*time.Minute, keptCycles * 46, keptCycles},
	}
	for _, tt := range tests {
		t.Run(tt.elapsed.String(), func(t *testing.T) {
			clk.mu.Lock()
			clk.t = start.Add(tt.elapsed)
			clk.mu.Unlock()
			ids := map[string]bool{}
			bursts := map[int]bool{} // cycle -> burst seen
			n := 0
			for _, name := range []string{"news", "forum", "rss", "atom"} {
				items, _ := site.visible(name)
				for i, it := range items {
					if ids[it.ID] {
						t.Errorf("id %s listed twice", it.ID)
					}
					ids[it.ID] = true
					if i > 0 && items[i-1].At < it.At {
						t.Errorf("%s listed before the newer %s", items[i-1].ID, it.ID)
					}
					if it.At > tt.elapsed {
						t.Errorf("%s (at %v) visible at %v", it.ID, it.At, tt.elapsed)
					}
					if it.ID[0] == 'b' { // burst items are b01..b38, then b01c1...
						bursts[int(it.At/Cycle)] = true
					}
				}
				n += len(items)
			}
			if n != tt.items {
				t.Errorf("%d items visible, want %d", n, tt.items)
			}
			if len(bursts) != tt.bursts {
				t.Errorf("bursts in %d cycles, want %d", len(bursts), tt.bursts)
			}
		})
	}
}

// TestDemoCrawlCycles crawls two later cycles with the real crawler: each
// brings the whole timeline again as new posts, and its burst reposts
// join the warning's near-duplicate cluster.
func TestDemoCrawlCycles(t *testing.T) {
	d := newDemoCrawl(t)
	clk, j, crawlAll := d.clk, d.j, d.crawlAll
	clk.Advance(25 * time.Minute)
	if n := crawlAll(); n != 57 {
		t.Errorf("first cycle: %d posts, want 57", n)
	}
	for cycle := 1; cycle <= 2; cycle++ {
		clk.Advance(Cycle)
		if n := crawlAll(); n != 46 {
			t.Errorf("cycle %d: %d new posts, want the 46 of the timeline", cycle, n)
		}
	}
	ps := readAll(t, j)
	clusters := map[uint64]int{}
	for _, p := range ps {
		clusters[p.ClusterID]++
	}
	biggest := 0
	for _, n := range clusters {
		biggest = max(biggest, n)
	}
	// The warning and its 24 reposts, three times over.
	if len(ps) != 57+2*46 || biggest < 3*20 {
		t.Errorf("%d posts, largest cluster %d", len(ps), biggest)
	}
}
