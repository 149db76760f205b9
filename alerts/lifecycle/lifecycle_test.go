package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, clk *clock) *lifecycle.Manager {
	t.Helper()
	m, err := lifecycle.Open(context.Background(), lifecycle.Options{DB: db, Now: clk.now,
		AckSLA: map[string]time.Duration{lifecycle.SeverityCritical: 5 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func unit() string { return fmt.Sprintf("u%d", time.Now().UnixNano()) }

// TestAckResolveAndHistory walks an alert through its states and checks
// the stored history and that a restart sees the same alert.
func TestAckResolveAndHistory(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}
	m := open(t, clk)
	u := unit()
	events, cancel := m.Subscribe(16)
	defer cancel()
	a, created, err := m.Raise(ctx, lifecycle.Signal{Rule: "r1", Kind: "keyword", Key: "k", Severity: "critical", Unit: u, Title: "t"})
	if err != nil || !created || a.State != lifecycle.StateOpen {
		t.Fatalf("raise: %+v %v %v", a, created, err)
	}
	// A repeat folds into the open alert.
	if b, created, err := m.Raise(ctx, lifecycle.Signal{Rule: "r1", Key: "k", Unit: u}); err != nil || created || b.ID != a.ID || b.Occurrences != 2 {
		t.Fatalf("repeat: %+v %v %v", b, created, err)
	}
	steps := []struct {
		name  string
		do    func() (lifecycle.Alert, error)
		state string
		fail  bool
	}{
		{"resolve needs a reason", func() (lifecycle.Alert, error) { return m.Resolve(ctx, a.ID, "li", "") }, "", true},
		{"ack", func() (lifecycle.Alert, error) { return m.Ack(ctx, a.ID, "li") }, lifecycle.StateAcked, false},
		{"ack twice", func() (lifecycle.Alert, error) { return m.Ack(ctx, a.ID, "wang") }, "", true},
		{"assign", func() (lifecycle.Alert, error) { return m.Assign(ctx, a.ID, "li", "wang") }, lifecycle.StateAcked, false},
		{"note", func() (lifecycle.Alert, error) { return m.AddNote(ctx, a.ID, "wang", "called the venue") }, lifecycle.StateAcked, false},
		{"resolve", func() (lifecycle.Alert, error) { return m.Resolve(ctx, a.ID, "wang", "false alarm: drill") }, lifecycle.StateResolved, false},
		{"feedback", func() (lifecycle.Alert, error) { return m.Feedback(ctx, a.ID, "wang", "noise") }, lifecycle.StateResolved, false},
		{"bad feedback", func() (lifecycle.Alert, error) { return m.Feedback(ctx, a.ID, "wang", "meh") }, "", true},
	}
	for _, s := range steps {
		got, err := s.do()
		if s.fail != (err != nil) {
			t.Fatalf("%s: err = %v", s.name, err)
		}
		if !s.fail && got.State != s.state {
			t.Fatalf("%s: state %s, want %s", s.name, got.State, s.state)
		}
	}
	got, _ := m.Get(a.ID)
	if got.AckedBy != "li" || got.AckedAt == nil || got.Assignee != "wang" || got.ResolvedBy != "wang" ||
		got.ResolveReason != "false alarm: drill" || len(got.Notes) != 1 || got.Feedback != "noise" {
		t.Fatalf("alert after lifecycle: %+v", got)
	}
	hist, err := m.History(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, h := range hist {
		types = append(types, h.Type)
	}
	want := []string{"opened", "updated", "acknowledged", "assigned", "note", "resolved", "feedback"}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("history %v, want %v", types, want)
	}
	if n := len(events); n != len(want) {
		t.Fatalf("subscriber got %d events, want %d", n, len(want))
	}
	// A restart reads the same state back from ClickHouse.
	again, ok := open(t, clk).Get(a.ID)
	if !ok || again.State != lifecycle.StateResolved || len(again.Notes) != 1 || again.Assignee != "wang" {
		t.Fatalf("after restart: %+v", again)
	}
	p, err := m.PrecisionByRule(ctx, clk.t.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range p {
		if r.Rule == "r1" && r.Noise >= 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("precision %+v lacks r1's noise verdict", p)
	}
}

func TestSilenceInhibitionAndEscalation(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}
	m := open(t, clk)
	u := unit()
	// A silence holds back alerts it matches, until it expires.
	s, err := m.AddSilence(ctx, lifecycle.Silence{Matchers: map[string]string{"rule": "venue-silent", "key": "venue:" + u + "*"},
		Comment: "maintenance", CreatedBy: "li", ExpiresAt: clk.t.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	quiet, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "venue-silent", Key: "venue:" + u + "-A", Severity: "critical", Unit: u})
	if err != nil || quiet.SilencedBy != s.ID {
		t.Fatalf("silenced alert: %+v %v", quiet, err)
	}
	loud, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "other", Key: "x" + u, Severity: "critical", Unit: u})
	if err != nil || loud.SilencedBy != "" {
		t.Fatalf("unmatched alert silenced: %+v %v", loud, err)
	}
	// Silencing one alert from the board.
	if _, err := m.SilenceAlert(ctx, loud.ID, "li", "known", time.Minute); err != nil {
		t.Fatal(err)
	}
	if a, _ := m.Get(loud.ID); a.SilencedBy == "" {
		t.Fatal("SilenceAlert did not silence the alert")
	}
	if _, err := m.AddSilence(ctx, lifecycle.Silence{Matchers: map[string]string{"planet": "x"}, ExpiresAt: clk.t.Add(time.Hour)}); err == nil {
		t.Fatal("silence on an unknown field accepted")
	}

	// Inhibition: a topic suppresses the term alerts it covers, before and after.
	before, _, _ := m.Raise(ctx, lifecycle.Signal{Rule: "fresh", Kind: "new_term", Key: "term:火灾" + u, Term: "火灾" + u, Unit: u, Severity: "critical"})
	topic, _, err := m.Raise(ctx, lifecycle.Signal{ID: "trend-" + u, Rule: "trends", Kind: "topic", Key: "topic:" + u, Terms: []string{"火灾" + u, "浓烟" + u}, Unit: u, Severity: "critical"})
	if err != nil {
		t.Fatal(err)
	}
	after, _, _ := m.Raise(ctx, lifecycle.Signal{Rule: "fresh", Kind: "new_term", Key: "term:浓烟" + u, Term: "浓烟" + u, Unit: u, Severity: "critical"})
	if b, _ := m.Get(before.ID); b.SuppressedBy != topic.ID {
		t.Errorf("earlier term alert not suppressed: %+v", b)
	}
	if after.SuppressedBy != topic.ID {
		t.Errorf("later term alert not suppressed: %+v", after)
	}
	// Re-raising the topic with the same id is a no-op.
	if _, created, _ := m.Raise(ctx, lifecycle.Signal{ID: "trend-" + u, Rule: "trends", Key: "topic:" + u, Terms: []string{"火灾" + u}, Unit: u}); created {
		t.Error("re-raise of a topic created a new alert")
	}

	// Escalation: only the open, unsilenced, unsuppressed critical topic
	// escalates once its five minutes pass.
	clk.t = clk.t.Add(4 * time.Minute)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := m.Get(topic.ID); a.Escalated {
		t.Fatal("escalated before the SLA ran out")
	}
	clk.t = clk.t.Add(2 * time.Minute)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range m.List(lifecycle.Filter{Unit: u}) {
		if want := a.ID == topic.ID; a.Escalated != want {
			t.Errorf("alert %s (%s) escalated=%v, want %v", a.ID, a.Rule, a.Escalated, want)
		}
	}
	// The silence expires: a new matching alert is loud again.
	clk.t = clk.t.Add(2 * time.Hour)
	m.Tick(ctx)
	late, _, _ := m.Raise(ctx, lifecycle.Signal{Rule: "venue-silent", Key: "venue:" + u + "-B", Unit: u})
	if late.SilencedBy != "" {
		t.Errorf("expired silence still applied: %+v", late)
	}
	// Resolved alerts leave the board after a week, but their ids are
	// remembered: re-raising the topic does not reopen it.
	if _, err := m.Resolve(ctx, topic.ID, "li", "over"); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(8 * 24 * time.Hour)
	m.Tick(ctx)
	if _, ok := m.Get(topic.ID); ok {
		t.Error("a resolved alert stayed on the board past a week")
	}
	if _, created, err := m.Raise(ctx, lifecycle.Signal{ID: "trend-" + u, Rule: "trends", Key: "topic:" + u, Unit: u}); err != nil || created {
		t.Errorf("re-raise of a forgotten topic: created=%v err=%v", created, err)
	}
}

// TestTwoNodesFollow: two managers on one store, as two serve nodes. What
// one raises, acknowledges, notes or silences, the other learns on
// Refresh, and its board subscribers see it marked remote (so its
// notifiers stay quiet).
func TestTwoNodesFollow(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}
	leader, api := open(t, clk), open(t, clk)
	board, cancel := api.Subscribe(16)
	defer cancel()
	u := unit()
	a, _, err := leader.Raise(ctx, lifecycle.Signal{ID: "trend-" + u, Rule: "trends", Kind: "topic", Key: "topic:" + u, Unit: u, Severity: "critical", Terms: []string{"火灾"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := api.Get(a.ID); ok {
		t.Fatal("the other node knew before refreshing")
	}
	if err := api.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, ok := api.Get(a.ID)
	if !ok || got.State != lifecycle.StateOpen || len(got.Terms) != 1 {
		t.Fatalf("api node after refresh: %+v %v", got, ok)
	}
	if e := <-board; e.Type != "opened" || !e.Remote || e.Alert.ID != a.ID {
		t.Fatalf("board event %+v", e)
	}
	clk.t = clk.t.Add(time.Second)
	if _, err := api.Ack(ctx, a.ID, "li"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.AddNote(ctx, a.ID, "li", "on it"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.AddSilence(ctx, lifecycle.Silence{Matchers: map[string]string{"rule": "quiet-" + u}, ExpiresAt: clk.t.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := leader.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = leader.Get(a.ID)
	if got.State != lifecycle.StateAcked || got.AckedBy != "li" || len(got.Notes) != 1 {
		t.Fatalf("leader after refresh: %+v", got)
	}
	if s, _, _ := leader.Raise(ctx, lifecycle.Signal{Rule: "quiet-" + u, Key: "k", Unit: u}); s.SilencedBy == "" {
		t.Error("the leader did not learn the silence")
	}
	// Refreshing again changes nothing and duplicates no note.
	if err := api.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := api.Get(a.ID); len(got.Notes) != 1 {
		t.Fatalf("notes duplicated: %+v", got.Notes)
	}
}

// TestGrowByCount: an alert whose detector counts its own occurrences grows
// when the count rises and ignores replays, also after a restart.
func TestGrowByCount(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}
	m := open(t, clk)
	u := unit()
	id := "cp-" + u
	sig := func(n int, title string) lifecycle.Signal {
		return lifecycle.Signal{ID: id, Rule: "compliance-test", Kind: "compliance", Key: "venue:V1:" + u, Unit: u,
			Title: title, Occurrences: n, Payload: map[string]int{"count": n}}
	}
	steps := []struct {
		name    string
		n       int
		restart bool
		want    int
		created bool
		title   string
	}{
		{"first violation opens", 1, false, 1, true, "一起"},
		{"second grows", 2, false, 2, false, "两起"},
		{"replay of the second changes nothing", 2, false, 2, false, "两起"},
		{"a smaller count is an old replay", 1, false, 2, false, "两起"},
		{"after a restart a replay still changes nothing", 2, true, 2, false, "两起"},
		{"and the third grows", 3, false, 3, false, "三起"},
	}
	titles := map[int]string{1: "一起", 2: "两起", 3: "三起"}
	for _, st := range steps {
		if st.restart {
			m = open(t, clk)
		}
		clk.t = clk.t.Add(time.Second)
		a, created, err := m.Raise(ctx, sig(st.n, titles[st.n]))
		if err != nil || created != st.created || a.Occurrences != st.want || a.Title != st.title || a.ID != id {
			t.Fatalf("%s: %+v created=%v err=%v", st.name, a, created, err)
		}
	}
	hist, err := m.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 { // opened, updated (2), updated (3)
		t.Errorf("history has %d events, want 3: %+v", len(hist), hist)
	}
}

// TestUpdateGrowsInPlace: a growing signal updates its one card (payload,
// title) without a new occurrence, and a resolved card stays resolved.
func TestUpdateGrowsInPlace(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}
	m := open(t, clk)
	u := unit()
	a, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "r1", Kind: "topic", Key: "grow", Unit: u, Title: "3 条", Payload: map[string]int{"posts": 3}})
	if err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	b, err := m.Update(ctx, a.ID, "9 条", map[string]int{"posts": 9}, clk.t)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID || b.Occurrences != a.Occurrences || b.Title != "9 条" || string(b.Payload) != `{"posts":9}` || !b.LastSeen.Equal(clk.t) {
		t.Fatalf("after update: %+v (payload %s)", b, b.Payload)
	}
	if n := len(m.List(lifecycle.Filter{Unit: u})); n != 1 {
		t.Fatalf("%d cards, want the one that grew", n)
	}
	// A restart reads the grown card back.
	if got, ok := open(t, clk).Get(a.ID); !ok || string(got.Payload) != `{"posts":9}` || got.Title != "9 条" {
		t.Fatalf("after restart: %+v", got)
	}
	if _, err := m.Resolve(ctx, a.ID, "li", "核实无害"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(ctx, a.ID, "12 条", map[string]int{"posts": 12}, clk.t); !errors.Is(err, lifecycle.ErrInvalid) {
		t.Fatalf("update of a resolved alert: %v, want ErrInvalid", err)
	}
	if _, err := m.Update(ctx, "no-such", "", nil, clk.t); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Fatalf("update of a missing alert: %v, want ErrNotFound", err)
	}
}

// TestSilenceAlertCoversTheSubject: a raiser whose keys name an occurrence
// window gives the lifecycle the key's subject; a silence set from one
// alert then covers the subject's later windows of the same rule and unit,
// and nothing else. Without Options.Subject the silence is the key's.
func TestSilenceAlertCoversTheSubject(t *testing.T) {
	ctx := context.Background()
	subject := func(rule, key string) (string, bool) {
		if rule != "windowed" {
			return "", false
		}
		i := strings.LastIndexByte(key, '/')
		return key[:i+1], i >= 0
	}
	for _, tc := range []struct {
		name    string
		subject func(rule, key string) (string, bool)
		// whether each later signal is silenced
		want map[string]bool
	}{
		{"with a subject", subject, map[string]bool{"same venue, next hour": true, "same venue, same hour": true,
			"venue code that extends it": false, "other venue": false, "other rule": false, "other unit": false}},
		{"without", nil, map[string]bool{"same venue, next hour": false, "same venue, same hour": true,
			"venue code that extends it": false, "other venue": false, "other rule": false, "other unit": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db, Now: clk.now, Subject: tc.subject})
			if err != nil {
				t.Fatal(err)
			}
			u, v := unit(), unit()
			first, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "windowed", Key: "venue:" + v + "/1400", Unit: u, Severity: "warning"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.SilenceAlert(ctx, first.ID, "li", "on it", 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			if a, _ := m.Get(first.ID); a.SilencedBy == "" {
				t.Error("the alert silenced from the board is not silenced")
			}
			later := map[string]lifecycle.Signal{
				"same venue, next hour":      {Rule: "windowed", Key: "venue:" + v + "/1500", Unit: u},
				"same venue, same hour":      {Rule: "windowed", Key: "venue:" + v + "/1400", Unit: u, Occurrences: 2},
				"venue code that extends it": {Rule: "windowed", Key: "venue:" + v + "9/1500", Unit: u},
				"other venue":                {Rule: "windowed", Key: "venue:x" + v + "/1500", Unit: u},
				"other rule":                 {Rule: "other", Key: "venue:" + v + "/1500", Unit: u},
				"other unit":                 {Rule: "windowed", Key: "venue:" + v + "/1600", Unit: "x" + u},
			}
			for name, s := range later {
				a, _, err := m.Raise(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				if got := a.SilencedBy != ""; got != tc.want[name] {
					t.Errorf("%s: silenced %v, want %v", name, got, tc.want[name])
				}
			}
		})
	}
}
