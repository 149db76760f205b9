package feeds

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRunLogSharedHealth crawls with two "nodes" (two state stores, one
// chDB) writing netpulse.crawl_runs: node a runs a good source once and a
// broken one twice; node b, taking the sources over, reads their health
// from the table, continues the broken source's failure streak and raises
// the failing transition on the third failure overall.
func TestRunLogSharedHealth(t *testing.T) {
	db := chDB(t)
	ctx := context.Background()
	s := newSite(t)
	good := newsSource(s.URL)
	good.Name = "runlog-good"
	bad := feedSource("runlog-bad", KindRSS, s.URL+"/feeds/missing.xml")

	// Runs a minute apart: the latest run of a source is the one with the
	// latest start.
	var clockMu sync.Mutex
	now := testNow
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	tick := func() { clockMu.Lock(); now = now.Add(time.Minute); clockMu.Unlock() }
	a := newEnv(t, t.TempDir(), Config{Now: clock})
	a.health.ShareRuns(db, "node-a")
	crawl(t, a, good)
	for range 2 {
		tick()
		if _, err := a.crawler.Crawl(ctx, noDelay(bad)); err == nil {
			t.Fatal("a missing feed crawled without error")
		}
	}

	var rows []runRow
	if err := db.Select(ctx, &rows, `SELECT * FROM netpulse.crawl_runs WHERE source LIKE 'runlog-%' ORDER BY source, started_at`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("crawl_runs holds %d rows, want 3: %+v", len(rows), rows)
	}
	wantRows := []struct {
		source   string
		at       time.Time
		ok       uint8
		posts    int
		robots   int
		failures int
		err      bool
	}{
		{"runlog-bad", testNow.Add(time.Minute), 0, 0, 0, 1, true},
		{"runlog-bad", testNow.Add(2 * time.Minute), 0, 0, 0, 2, true},
		{"runlog-good", testNow, 1, 3, 1, 0, false},
	}
	for i, w := range wantRows {
		r := rows[i]
		if r.Source != w.source || r.OK != w.ok || r.Posts != w.posts || r.Robots != w.robots ||
			r.ConsecutiveFailures != w.failures || (r.Error != "") != w.err || r.Node != "node-a" || !r.StartedAt.Equal(w.at) {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}

	// The success rate the reports compute from the same rows.
	var rate []struct {
		OK   float64 `json:"runs_ok"`
		Runs float64 `json:"runs"`
	}
	if err := db.Select(ctx, &rate, `SELECT toFloat64(countIf(ok = 1)) AS runs_ok, toFloat64(count()) AS runs
		FROM netpulse.crawl_runs WHERE source LIKE 'runlog-%'`); err != nil {
		t.Fatal(err)
	}
	if len(rate) != 1 || rate[0].OK != 1 || rate[0].Runs != 3 {
		t.Errorf("success figures = %+v, want 1 of 3", rate)
	}

	// Node b: its own empty state, the same sources registered.
	bStore, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bStore.Close()
	if err := bStore.PutSources(context.Background(), good, bad); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	bHealth, err := NewHealth(bStore, reg, 3)
	if err != nil {
		t.Fatal(err)
	}
	bHealth.ShareRuns(db, "node-b")
	var mu sync.Mutex
	var raised []SourceHealth
	bHealth.OnFailing(func(_ context.Context, sh SourceHealth) error {
		mu.Lock()
		raised = append(raised, sh)
		mu.Unlock()
		return nil
	})
	code, body := do(t, Handler(bStore, bHealth, slog.New(slog.DiscardHandler)), "GET", "/api/v1/sources/health", "")
	var got struct {
		Sources []SourceHealth
		Shared  bool
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("health: %d %s %v", code, body, err)
	}
	byName := map[string]SourceHealth{}
	for _, sh := range got.Sources {
		byName[sh.Source] = sh
	}
	if g := byName["runlog-good"]; !got.Shared || g.PostsTotal != 3 || g.RobotsSkippedTotal != 1 || g.LastRun.Posts != 3 ||
		!g.LastSuccessAt.Equal(testNow) || !g.LastErrorAt.IsZero() || g.ConsecutiveFailures != 0 {
		t.Errorf("node b sees the good source as %+v (shared %v)", g, got.Shared)
	}
	if b := byName["runlog-bad"]; b.ConsecutiveFailures != 2 || b.Failing || b.LastError == "" ||
		!b.LastErrorAt.Equal(testNow.Add(2*time.Minute)) || !b.LastSuccessAt.IsZero() {
		t.Errorf("node b sees the bad source as %+v", b)
	}

	if err := bHealth.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if sh, ok := bHealth.Get("runlog-bad"); !ok || sh.ConsecutiveFailures != 2 {
		t.Fatalf("after Sync node b has %+v", sh)
	}
	if got := metricValue(t, reg, "netpulse_feeds_consecutive_failures", "runlog-bad"); got != 2 {
		t.Errorf("consecutive_failures gauge after Sync = %v, want 2", got)
	}
	if err := bHealth.Record(ctx, "runlog-bad", testNow.Add(3*time.Minute), time.Second, Run{Failed: 1}, errFeedGone); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(raised) != 1 || raised[0].ConsecutiveFailures != 3 {
		t.Errorf("failing raised %+v, want once at the third failure", raised)
	}
	var last []runRow
	if err := db.Select(ctx, &last, `SELECT * FROM netpulse.crawl_runs WHERE source = 'runlog-bad' ORDER BY started_at DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if len(last) != 1 || last[0].Node != "node-b" || last[0].ConsecutiveFailures != 3 || last[0].DurationMs != 1000 {
		t.Errorf("node b's run row = %+v", last)
	}
}

// TestSyncKeepsNewerLocalState: a node's own newer run is not replaced by
// an older shared one, and runs of sources it does not have are left out.
func TestSyncKeepsNewerLocalState(t *testing.T) {
	db := chDB(t)
	ctx := context.Background()
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := NewHealth(st, prometheus.NewRegistry(), 3)
	if err != nil {
		t.Fatal(err)
	}
	// An old failure in the table, from another node.
	if err := db.Insert(ctx, TableCrawlRuns, []runRow{{Source: "sync-local", StartedAt: testNow.Add(-time.Hour),
		Error: "old", ConsecutiveFailures: 1, Node: "other"}}); err != nil {
		t.Fatal(err)
	}
	// And runs of a source this node does not have (deleted here).
	if err := db.Insert(ctx, TableCrawlRuns, []runRow{{Source: "sync-deleted", StartedAt: testNow, OK: 1, Node: "other"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSources(context.Background(), feedSource("sync-local", KindRSS, "https://x.cn/rss.xml")); err != nil {
		t.Fatal(err)
	}
	// A newer success here, before the run log is shared.
	if err := h.Record(ctx, "sync-local", testNow, 0, Run{Posts: 4}, nil); err != nil {
		t.Fatal(err)
	}
	h.ShareRuns(db, "here")
	if err := h.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if sh, _ := h.Get("sync-local"); sh.ConsecutiveFailures != 0 || sh.LastRun.Posts != 4 {
		t.Errorf("Sync replaced newer local state: %+v", sh)
	}
	if sh, ok := h.Get("sync-deleted"); ok {
		t.Errorf("Sync took an unregistered source: %+v", sh)
	}
	shared, err := h.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(shared) != 1 || shared[0].Source != "sync-local" || shared[0].LastRun.Posts != 4 {
		t.Errorf("shared health lists %+v, want only sync-local with this node's newer run", shared)
	}
}

var errFeedGone = &permanentError{url: "https://x.cn/gone.xml", status: 410}
