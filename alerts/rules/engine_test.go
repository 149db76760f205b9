package rules_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/rules"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

type record struct {
	RecordID   string    `json:"record_id"`
	Venue      string    `json:"venue"`
	Kind       string    `json:"kind"`
	StartedAt  time.Time `json:"started_at"`
	ReceivedAt time.Time `json:"received_at"`
	Version    uint64    `json:"version"`
	RetainUnt  time.Time `json:"retain_until"`
}

// deliver stores records for venue every gap from from to to, as the
// records writer would.
func deliver(t *testing.T, venue string, from, to time.Time, gap time.Duration) {
	t.Helper()
	var rs []record
	for at := from; !at.After(to); at = at.Add(gap) {
		rs = append(rs, record{RecordID: fmt.Sprintf("%s-%d", venue, at.UnixNano()), Venue: venue, Kind: "cafe",
			StartedAt: at.Add(-time.Minute), ReceivedAt: at, Version: uint64(at.UnixMilli()), RetainUnt: at.Add(90 * 24 * time.Hour)})
	}
	if err := db.Insert(context.Background(), "netpulse.access_records", rs); err != nil {
		t.Fatal(err)
	}
}

// clock is the test's "now", moved by hand so that flatline windows of
// minutes pass in an instant.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestFlatlineFiresAndClears: a venue that delivers every two minutes goes
// silent; the rule fires once the silence exceeds three usual gaps (and the
// floor), and resolves itself when the venue delivers again. A venue that
// keeps delivering, and one that never delivers at this hour, stay quiet.
func TestFlatlineFiresAndClears(t *testing.T) {
	ctx := context.Background()
	unit := fmt.Sprintf("u%d", time.Now().UnixNano())
	clk := &clock{t: time.Now().UTC().Truncate(time.Minute)}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "venues.yaml"), []byte(fmt.Sprintf(`rules:
  - name: venue-silent-%[1]s
    type: flatline
    of: venue
    factor: 3
    min_silence: 10m
    severity: warning
    unit: %[1]s
`, unit)), 0o600)
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(ctx, rules.Options{DB: db, Raiser: m, Dir: dir, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	quiet, busy, night := unit+"-Q", unit+"-B", unit+"-N"
	start := clk.t.Add(-3 * 24 * time.Hour)
	deliver(t, quiet, start, clk.t.Add(-5*time.Minute), 2*time.Minute)
	deliver(t, busy, start, clk.t, 2*time.Minute)
	// night delivers only twelve hours away from now's hour of day.
	for d := 1; d <= 3; d++ {
		at := clk.t.Add(-time.Duration(d)*24*time.Hour + 12*time.Hour)
		deliver(t, night, at, at.Add(30*time.Minute), 2*time.Minute)
	}
	open := func() []lifecycle.Alert {
		return m.List(lifecycle.Filter{Unit: unit, State: lifecycle.StateOpen})
	}
	steps := []struct {
		advance time.Duration
		want    []string // keys of open alerts
	}{
		{0, nil},               // silent 5 min: below the 10 min floor
		{4 * time.Minute, nil}, // 9 min
		{3 * time.Minute, []string{"venue:" + quiet}}, // 12 min > max(10m, 3×2m)
		{5 * time.Minute, []string{"venue:" + quiet}}, // still silent: the same alert, not a second
	}
	for i, s := range steps {
		clk.t = clk.t.Add(s.advance)
		deliver(t, busy, clk.t.Add(-s.advance), clk.t, 2*time.Minute)
		if err := e.Tick(ctx); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var keys []string
		for _, a := range open() {
			keys = append(keys, a.Key)
		}
		if strings.Join(keys, ",") != strings.Join(s.want, ",") {
			t.Fatalf("step %d (+%v): open alerts %v, want %v", i, s.advance, keys, s.want)
		}
	}
	if all := m.List(lifecycle.Filter{Unit: unit}); len(all) != 1 || all[0].Occurrences != 1 {
		t.Fatalf("want one alert for the whole silence, got %+v", all)
	}
	// The venue delivers again: the alert resolves itself.
	clk.t = clk.t.Add(time.Minute)
	deliver(t, quiet, clk.t, clk.t, time.Minute)
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	all := m.List(lifecycle.Filter{Unit: unit})
	if len(all) != 1 || all[0].State != lifecycle.StateResolved || all[0].ResolveReason != "自动解除：已恢复上报" {
		t.Fatalf("after resuming: %+v", all)
	}
}

// TestInvalidRuleFileRefused: a rule file with an error is left out and the
// error names its line; the valid file next to it still loads.
func TestInvalidRuleFileRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, f := range []string{"valid.yaml", "invalid.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(ctx, rules.Options{DB: db, Raiser: m, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "invalid.yaml: line 9: rule \"broken\": window") {
		t.Fatalf("want the invalid file refused at line 9, got %v", err)
	}
	if e == nil {
		t.Fatal("no engine for the valid rules")
	}
	var names []string
	for _, r := range e.Rules() {
		names = append(names, r.Name)
	}
	if len(names) != 6 || strings.Contains(strings.Join(names, ","), "broken") || strings.Contains(strings.Join(names, ","), "fine") {
		t.Fatalf("loaded rules %v, want the six of valid.yaml only", names)
	}
	// The same file through the API is refused with the same line.
	b, _ := os.ReadFile("testdata/invalid.yaml")
	if _, err := e.Put(ctx, b, "li", false); err == nil || !strings.Contains(err.Error(), "line 9") {
		t.Fatalf("API accepted an invalid file: %v", err)
	}
}

type mention struct {
	BucketSeconds uint32    `json:"bucket_seconds"`
	Bucket        time.Time `json:"bucket"`
	Term          string    `json:"term"`
	Cluster       uint64    `json:"cluster"`
	PostID        string    `json:"post_id"`
}

func mentions(t *testing.T, term string, at time.Time, clusters int) {
	t.Helper()
	var rows []mention
	for i := 0; i < clusters; i++ {
		rows = append(rows, mention{300, at.Truncate(time.Second), term, uint64(i + 1), fmt.Sprintf("%s-%d", term, i)})
	}
	if err := db.Insert(context.Background(), "netpulse.term_mentions", rows); err != nil {
		t.Fatal(err)
	}
}

// TestNewTermSurvivesRestart: terms known before the rule learnt the
// vocabulary never alert; a new term alerts once, and a restart of both the
// lifecycle and the rules (state read back from ClickHouse) neither floods
// nor repeats.
func TestNewTermSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	u := fmt.Sprintf("u%d", time.Now().UnixNano())
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nt.yaml"), []byte(fmt.Sprintf(`rules:
  - {name: nt-%[1]s, type: new_term, min_count: 3, window: 1h, learn: 10m, unit: %[1]s}
`, u)), 0o600)
	start := func() (*lifecycle.Manager, *rules.Engine) {
		m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		e, err := rules.New(ctx, rules.Options{DB: db, Raiser: m, Dir: dir, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		return m, e
	}
	old := "旧词" + u
	mentions(t, old, clk.t.Add(-time.Hour), 5)
	m, e := start()
	e.Tick(ctx) // arms the rule
	clk.t = clk.t.Add(5 * time.Minute)
	fresh := "新词" + u
	mentions(t, fresh, clk.t, 5) // during learning: part of the vocabulary
	clk.t = clk.t.Add(6 * time.Minute)
	mentions(t, old, clk.t, 5)
	newer := "更新" + u
	mentions(t, newer, clk.t, 2) // below min_count so far
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.List(lifecycle.Filter{Unit: u}); len(got) != 0 {
		t.Fatalf("alerts before any new term reached support: %v", got[0].Title)
	}
	clk.t = clk.t.Add(time.Minute)
	mentions(t, newer, clk.t, 4)
	e.Tick(ctx)
	got := m.List(lifecycle.Filter{Unit: u})
	if len(got) != 1 || got[0].Term != newer || got[0].Kind != rules.TypeNewTerm {
		t.Fatalf("want one new_term alert for %s, got %+v", newer, got)
	}
	// Restart everything; the same state must come back.
	m, e = start()
	clk.t = clk.t.Add(time.Minute)
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.List(lifecycle.Filter{Unit: u}); len(got) != 1 {
		t.Fatalf("after restart: %d alerts, want the one from before", len(got))
	}
	var n []struct {
		N uint64 `json:"n"`
	}
	db.Select(ctx, &n, `SELECT count() AS n FROM netpulse.alert_events WHERE action = 'opened' AND alert_id IN (SELECT id FROM netpulse.alerts WHERE unit = ?)`, u)
	if n[0].N != 1 {
		t.Fatalf("%d opened events stored, want 1", n[0].N)
	}
}

type post struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	PublishedAt time.Time `json:"published_at"`
	SeenAt      time.Time `json:"seen_at"`
	Cluster     uint64    `json:"cluster"`
}

// TestPostRules runs keyword, frequency, spike and threshold rules over
// stored posts with a hand-moved clock.
func TestPostRules(t *testing.T) {
	ctx := context.Background()
	u := fmt.Sprintf("u%d", time.Now().UnixNano())
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	word := "诈骗" + u[len(u)-6:]
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf(`rules:
  - {name: kw-%[1]s, title: 反诈关键词, type: keyword, query: "%[2]s -广告", dedup_key: source, unit: %[1]s}
  - {name: fq-%[1]s, type: frequency, query: "%[2]s", window: 10m, threshold: 4, unit: %[1]s}
  - {name: sp-%[1]s, type: spike, query: "%[2]s", window: 10m, ratio: 3, min_count: 4, unit: %[1]s}
  - {name: th-%[1]s, type: threshold, sql: "SELECT count() AS value FROM netpulse.alert_posts WHERE source = 'src-%[1]s'", op: ">=", value: 6, unit: %[1]s}
`, u, word)), 0o600)
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(ctx, rules.Options{DB: db, Raiser: m, Dir: dir, Now: clk.now, Settle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.Tick(ctx) // keyword cursor starts now
	seq := 0
	add := func(n int, text string, at time.Time) {
		var ps []post
		for i := 0; i < n; i++ {
			seq++
			ps = append(ps, post{ID: fmt.Sprintf("%s-%d", u, seq), Source: "src-" + u, Title: text, Body: "正文",
				PublishedAt: at, SeenAt: at, Cluster: uint64(seq)})
		}
		if err := db.Insert(ctx, "netpulse.alert_posts", ps); err != nil {
			t.Fatal(err)
		}
	}
	// Baseline a day and a week ago: one post each.
	add(1, "警惕"+word, clk.t.Add(-24*time.Hour-time.Minute))
	add(1, "警惕"+word, clk.t.Add(-7*24*time.Hour-time.Minute))
	clk.t = clk.t.Add(time.Minute)
	add(5, "警惕"+word+"新手法", clk.t.Add(-30*time.Second))
	add(1, word+"广告", clk.t.Add(-30*time.Second))
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	byRule := map[string]lifecycle.Alert{}
	for _, a := range m.List(lifecycle.Filter{Unit: u}) {
		byRule[strings.SplitN(a.Rule, "-", 2)[0]] = a
	}
	if a, ok := byRule["kw"]; !ok || a.Key != "source:src-"+u || !strings.Contains(a.Title, "5 条新帖文命中") {
		t.Errorf("keyword alert: %+v", a)
	}
	for _, r := range []string{"fq", "sp", "th"} {
		if _, ok := byRule[r]; !ok {
			t.Errorf("no %s alert; have %v", r, byRule)
		}
	}
	// More matches within the window grow the same cards in place: one
	// keyword card whose count adds up, and a frequency card whose title
	// states the highest count so far.
	clk.t = clk.t.Add(time.Minute)
	add(3, "又一起"+word, clk.t.Add(-30*time.Second))
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	kws, fqTitle := 0, ""
	for _, a := range m.List(lifecycle.Filter{Unit: u}) {
		switch strings.SplitN(a.Rule, "-", 2)[0] {
		case "kw":
			kws++
			if !strings.HasPrefix(a.Title, "反诈关键词：") || !strings.Contains(a.Title, "8 条新帖文命中") {
				t.Errorf("keyword card after more matches: %q, want the rule's title and 8 posts", a.Title)
			}
		case "fq":
			fqTitle = a.Title
		}
	}
	if kws != 1 {
		t.Errorf("%d keyword cards, want one that grew", kws)
	}
	if !strings.Contains(fqTitle, "最多 9 条") {
		t.Errorf("frequency card %q, want it to state the peak of 9", fqTitle)
	}
	// Ten minutes on, the window is empty: frequency and spike clear
	// themselves; the keyword alert waits for an officer.
	clk.t = clk.t.Add(11 * time.Minute)
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range m.List(lifecycle.Filter{Unit: u}) {
		kind := strings.SplitN(a.Rule, "-", 2)[0]
		wantResolved := kind == "fq" || kind == "sp"
		if (a.State == lifecycle.StateResolved) != wantResolved {
			t.Errorf("%s alert is %s", a.Rule, a.State)
		}
		// The resolved card's title and reason describe the same peak.
		if kind == "fq" && (!strings.Contains(a.Title, "最多 9 条") || !strings.Contains(a.ResolveReason, "最多 9 条")) {
			t.Errorf("frequency card title %q and reason %q disagree", a.Title, a.ResolveReason)
		}
	}
}
