package feeds

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPruneSeen(t *testing.T) {
	now := testNow
	day := 24 * time.Hour
	tests := []struct {
		name   string
		marked map[string]time.Duration // url -> age when marked
		maxAge time.Duration
		kept   []string
		gone   []string
	}{
		{"default 90 days", map[string]time.Duration{"a": 91 * day, "b": 89 * day, "c": 0}, 0,
			[]string{"b", "c"}, []string{"a"}},
		{"one day", map[string]time.Duration{"a": 2 * day, "b": 25 * time.Hour, "c": 23 * time.Hour}, day,
			[]string{"c"}, []string{"a", "b"}},
		{"nothing old", map[string]time.Duration{"a": time.Hour}, day, []string{"a"}, nil},
		{"empty list", nil, day, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := OpenStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for u, age := range tt.marked {
				if err := st.MarkSeen(now.Add(-age), u); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewRegistry()
			p, err := NewSeenPruner(st, PruneConfig{MaxAge: tt.maxAge, Now: func() time.Time { return now }}, reg)
			if err != nil {
				t.Fatal(err)
			}
			n, err := p.PruneOnce()
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.gone) {
				t.Errorf("pruned %d, want %d", n, len(tt.gone))
			}
			for _, u := range tt.kept {
				if ok, _ := st.Seen(u); !ok {
					t.Errorf("%s forgotten, want kept", u)
				}
			}
			for _, u := range tt.gone {
				if ok, _ := st.Seen(u); ok {
					t.Errorf("%s kept, want forgotten", u)
				}
			}
			if n, _ := p.PruneOnce(); n != 0 {
				t.Errorf("second prune forgot %d more", n)
			}
			if got := counterValue(t, reg, "netpulse_feeds_seen_pruned_total"); got != float64(len(tt.gone)) {
				t.Errorf("seen_pruned_total = %v, want %d", got, len(tt.gone))
			}
		})
	}
}

// TestPruneSeenBatches forgets more entries than one write transaction
// holds.
func TestPruneSeenBatches(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	urls := make([]string, 2*pruneBatch+7)
	for i := range urls {
		urls[i] = "https://x.cn/" + time.Duration(i).String()
	}
	if err := st.MarkSeen(testNow.Add(-time.Hour), urls...); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSeen(testNow, "https://x.cn/fresh"); err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneSeen(testNow.Add(-time.Minute))
	if err != nil || n != len(urls) {
		t.Fatalf("pruned %d (%v), want %d", n, err, len(urls))
	}
	if ok, _ := st.Seen("https://x.cn/fresh"); !ok {
		t.Error("fresh url forgotten")
	}
}

// TestSeenPrunerRuns checks the timer loop prunes and stops with ctx.
func TestSeenPrunerRuns(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := make(chan time.Time, 1) // holds the current time
	clk <- testNow
	now := func() time.Time { t := <-clk; clk <- t; return t }
	p, err := NewSeenPruner(st, PruneConfig{MaxAge: time.Hour, Every: 5 * time.Millisecond, Now: now}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Marked now, old once the clock moves two hours: a later tick forgets it.
	if err := st.MarkSeen(testNow, "https://x.cn/a"); err != nil {
		t.Fatal(err)
	}
	<-clk
	clk <- testNow.Add(2 * time.Hour)
	deadline := time.After(10 * time.Second)
	for {
		if ok, _ := st.Seen("https://x.cn/a"); !ok {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the timer never pruned the old url")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel", err)
	}
}

// TestSeenRetentionGuard: items dated before the seen retention are marked
// seen but not published, so a forgotten URL does not come back as news.
func TestSeenRetentionGuard(t *testing.T) {
	s := newSite(t)
	// The RSS fixture's items are 70 minutes and 6.5 hours old at testNow.
	tests := []struct {
		retention time.Duration
		posts     int
		old       int
	}{
		{24 * time.Hour, 2, 0},
		{3 * time.Hour, 1, 1},
		{time.Hour, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.retention.String(), func(t *testing.T) {
			e := newEnv(t, t.TempDir(), Config{SeenRetention: tt.retention})
			e.health.ShareRuns(chDB(t), "guard")
			src := feedSource("guard-"+tt.retention.String(), KindRSS, s.URL+"/feeds/rss.xml")
			run := crawl(t, e, src)
			if run.Posts != tt.posts || run.Old != tt.old {
				t.Errorf("run = %+v, want %d posts and %d old", run, tt.posts, tt.old)
			}
			shared, err := e.health.Shared(context.Background())
			if err != nil || len(shared) != 1 || shared[0].LastRun != run {
				t.Errorf("shared health = %+v (%v), want the run %+v", shared, err, run)
			}
			if got := len(e.published(t)); got != tt.posts {
				t.Errorf("raw.posts holds %d posts, want %d", got, tt.posts)
			}
			// Old items are remembered: forcing a full re-read (no
			// validators) publishes nothing.
			if err := e.store.SetValidators(map[string]Validators{src.URL: {}}); err != nil {
				t.Fatal(err)
			}
			if again := crawl(t, e, src); again.Posts != 0 || again.Seen != 2 {
				t.Errorf("second run = %+v, want 2 seen and nothing published", again)
			}
		})
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
