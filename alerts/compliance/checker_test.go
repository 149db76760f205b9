package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/privacy/identity"
)

// fakeRaiser keeps alerts the way the lifecycle does for signals with an
// id: a larger count grows the alert, anything else changes nothing.
type fakeRaiser struct {
	alerts map[string]lifecycle.Alert
	order  []string
	raises int
}

func (f *fakeRaiser) Raise(_ context.Context, s lifecycle.Signal) (lifecycle.Alert, bool, error) {
	f.raises++
	b, err := json.Marshal(s.Payload)
	if err != nil {
		return lifecycle.Alert{}, false, err
	}
	a, ok := f.alerts[s.ID]
	if ok {
		if s.Occurrences > a.Occurrences {
			a.Occurrences, a.Title, a.Payload = s.Occurrences, s.Title, b
			f.alerts[s.ID] = a
		}
		return a, false, nil
	}
	a = lifecycle.Alert{ID: s.ID, Rule: s.Rule, Kind: s.Kind, Key: s.Key, Severity: s.Severity, Unit: s.Unit, Title: s.Title,
		State: lifecycle.StateOpen, OpenedAt: s.At, Occurrences: max(1, s.Occurrences), Payload: b}
	f.alerts[s.ID] = a
	f.order = append(f.order, s.ID)
	return a, true, nil
}

func (f *fakeRaiser) Get(id string) (lifecycle.Alert, bool) {
	a, ok := f.alerts[id]
	return a, ok
}

func (f *fakeRaiser) resolve(id string, at time.Time) {
	a := f.alerts[id]
	a.State, a.ResolvedAt = lifecycle.StateResolved, &at
	f.alerts[id] = a
}

// day is the test's China day; times are "15:04" on it, or "-1 15:04" on
// the day before.
var day = time.Date(2026, 12, 5, 0, 0, 0, 0, identity.ChinaTime)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	if s == "" {
		return time.Time{}
	}
	d := 0
	if n, rest, ok := strings.Cut(s, " "); ok {
		fmt.Sscan(n, &d)
		s = rest
	}
	hm, err := time.Parse("15:04:05", s)
	if err != nil {
		hm, err = time.Parse("15:04", s)
	}
	if err != nil {
		t.Fatalf("bad time %q", s)
	}
	return day.AddDate(0, 0, d).Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute +
		time.Duration(hm.Second())*time.Second).UTC()
}

// step is one record arriving, or (rec == nil) the clock moving and a sweep.
type step struct {
	now string
	rec *rec
}

type rec struct {
	venue, kind, place, who string
	start, end              string
	born                    string // birth date of a minor
	guardian, relation      string
	passport                bool
	recv                    string // when it arrived; default the step's now
}

// want is one alert: rule, venue, violations, how many late.
type want struct {
	rule, venue string
	count, late int
}

func (r *rec) record(t *testing.T, now time.Time) Record {
	kind := r.kind
	if kind == "" {
		kind = "cafe"
	}
	out := Record{RecordID: fmt.Sprintf("%s/%s/%s/%s", r.venue, r.place, r.who, r.start), Venue: r.venue, Kind: kind,
		Place: r.place, IDType: identity.TypeResident, IDHash: "h-" + r.who, IDMasked: "420199********" + r.who,
		StartedAt: at(t, r.start), EndedAt: at(t, r.end), BirthDate: r.born, GuardianContact: r.guardian,
		GuardianRelation: r.relation, ReceivedAt: now}
	if r.passport {
		out.IDType = identity.TypePassport
	}
	if r.recv != "" {
		out.ReceivedAt = at(t, r.recv)
	}
	return out
}

func run(t *testing.T, steps []step) (*fakeRaiser, *Checker) {
	t.Helper()
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	var now time.Time
	c, err := New(Options{Raiser: f, Now: func() time.Time { return now }, Unit: "网安大队",
		Venue: func(_ context.Context, code string) (Venue, error) {
			kind := "cafe"
			if strings.HasPrefix(code, "H") {
				kind = "hotel"
			}
			return Venue{Code: code, Kind: kind, Name: "场所" + code, Unit: "江岸分局网安大队"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, s := range steps {
		now = at(t, s.now)
		if s.rec == nil {
			if err := c.Sweep(ctx); err != nil {
				t.Fatalf("step %d: sweep: %v", i, err)
			}
			continue
		}
		if err := c.Process(ctx, []Record{s.rec.record(t, now)}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	return f, c
}

func got(t *testing.T, f *fakeRaiser) []want {
	var out []want
	for _, id := range f.order {
		a := f.alerts[id]
		var p Payload
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Count != a.Occurrences || len(p.Seen) != p.Count {
			t.Errorf("alert %s: count %d, occurrences %d, seen %d", id, p.Count, a.Occurrences, len(p.Seen))
		}
		out = append(out, want{a.Rule, p.Venue, p.Count, p.Late})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func TestChecks(t *testing.T) {
	cafe := func(venue, place, who, start, end string) *rec {
		return &rec{venue: venue, place: place, who: who, start: start, end: end}
	}
	minor := func(venue, who, born, start string) *rec {
		return &rec{venue: venue, place: "A01", who: who, start: start, born: born}
	}
	cases := []struct {
		name  string
		steps []step
		want  []want
	}{
		// Age boundary (intake sends a birth date only for minors, but the
		// checker counts the age itself).
		{"minor on the 18th birthday itself", []step{{"14:05", minor("C1", "01", "2008-12-05", "14:00")}},
			[]want{{RuleMinorCafe, "C1", 1, 0}}},
		{"adult from the day after", []step{{"14:05", minor("C1", "01", "2008-12-04", "14:00")}}, nil},
		{"17 years and a half", []step{{"14:05", minor("C1", "01", "2009-06-01", "14:00")}},
			[]want{{RuleMinorCafe, "C1", 1, 0}}},
		{"birthday counted on China time: 23:59 is still the birthday", []step{{"23:59", minor("C1", "01", "2008-12-05", "23:59")}},
			[]want{{RuleMinorCafe, "C1", 1, 0}}},
		{"a session started the evening before the day after counts at its start", []step{
			{"00:04", minor("C1", "01", "2008-12-04", "-1 23:50")}}, // 17 at start (4 Dec), adult at arrival
			[]want{{RuleMinorCafe, "C1", 1, 0}}},
		{"passport numbers carry no birth date", []step{{"14:05", &rec{venue: "C1", place: "A01", who: "p", start: "14:00",
			born: "2010-01-01", passport: true}}}, nil},
		{"closing update of a minor's session is the same violation", []step{
			{"14:05", minor("C1", "01", "2010-01-01", "14:00")},
			{"15:05", &rec{venue: "C1", place: "A01", who: "01", start: "14:00", end: "15:00", born: "2010-01-01"}},
		}, []want{{RuleMinorCafe, "C1", 1, 0}}},
		{"three minors in one hour form one alert, the next hour another", []step{
			{"14:05", minor("C1", "01", "2010-01-01", "14:00")},
			{"14:20", minor("C1", "02", "2010-01-01", "14:15")},
			{"14:59", minor("C1", "03", "2010-01-01", "14:58")},
			{"15:01", minor("C1", "04", "2010-01-01", "15:00")},
			{"15:02", minor("C2", "05", "2010-01-01", "15:00")},
		}, []want{{RuleMinorCafe, "C1", 1, 0}, {RuleMinorCafe, "C1", 3, 0}, {RuleMinorCafe, "C2", 1, 0}}},
		{"a minor's record a day late is checked and marked late", []step{
			{"14:00", &rec{venue: "C1", place: "A01", who: "01", start: "-1 14:00", end: "-1 16:00", born: "2010-01-01"}},
		}, []want{{RuleMinorCafe, "C1", 1, 1}}},

		// 29 February.
		{"29 Feb child on 28 Feb of a common year is 17", []step{{"14:05", &rec{venue: "C1", place: "A1", who: "f",
			born: "2008-02-29", start: "-280 14:00", recv: "-280 14:01"}}}, []want{{RuleMinorCafe, "C1", 1, 0}}},
		{"29 Feb child on 1 Mar of a common year is 18", []step{{"14:05", &rec{venue: "C1", place: "A1", who: "f",
			born: "2008-02-29", start: "-279 14:00", recv: "-279 14:01"}}}, nil},

		// Hotels.
		{"minor in a hotel without guardian", []step{{"22:05", &rec{venue: "H1", kind: "hotel", place: "301", who: "01",
			born: "2011-03-01", start: "22:00"}}}, []want{{RuleMinorHotel, "H1", 1, 0}}},
		{"minor in a hotel with guardian and relation", []step{{"22:05", &rec{venue: "H1", kind: "hotel", place: "301", who: "01",
			born: "2011-03-01", start: "22:00", guardian: "13800000000", relation: "母亲"}}}, nil},
		{"guardian contact without relation", []step{{"22:05", &rec{venue: "H1", kind: "hotel", place: "301", who: "01",
			born: "2011-03-01", start: "22:00", guardian: "13800000000"}}}, []want{{RuleMinorHotel, "H1", 1, 0}}},
		{"adult in a hotel", []step{{"22:05", &rec{venue: "H1", kind: "hotel", place: "301", who: "01", start: "22:00"}}}, nil},

		// One identity at two places: overlap boundaries (slack 1 min).
		{"ended sessions at two cafés overlapping 10 min", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C2", "B7", "x", "10:50", "11:30")},
		}, []want{{RuleSharedID, "C2", 1, 0}}},
		{"overlap of exactly the slack is clock skew", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C2", "B7", "x", "10:59", "11:30")},
		}, nil},
		{"overlap one second over the slack", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C2", "B7", "x", "10:58:59", "11:30")},
		}, []want{{RuleSharedID, "C2", 1, 0}}},
		{"end equal to the next start", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C2", "B7", "x", "11:00", "11:30")},
		}, nil},
		{"different people never conflict across cafés", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C2", "B7", "y", "10:30", "11:30")},
		}, nil},
		{"two terminals of one café", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C1", "A2", "x", "10:30", "11:30")},
		}, []want{{RuleSharedID, "C1", 1, 0}}},
		{"arrival order does not matter: the later start is told", []step{
			{"11:31", cafe("C2", "B7", "x", "10:50", "11:30")},
			{"11:32", cafe("C1", "A1", "x", "10:00", "11:20")},
		}, []want{{RuleSharedID, "C2", 1, 0}}},

		// Open sessions: the grace, and MaxOpen (12 h).
		{"both open: counts after the grace, not before", []step{
			{"10:00", cafe("C1", "A1", "x", "10:00", "")},
			{"10:30", cafe("C2", "B7", "x", "10:30", "")},
			{"10:32", nil},
		}, nil},
		{"both open and still open after the grace", []step{
			{"10:00", cafe("C1", "A1", "x", "10:00", "")},
			{"10:30", cafe("C2", "B7", "x", "10:30", "")},
			{"10:34", nil},
			{"10:40", nil},
		}, []want{{RuleSharedID, "C2", 1, 0}}},
		{"the close arrives within the grace: no conflict", []step{
			{"10:00", cafe("C1", "A1", "x", "10:00", "")},
			{"10:30", cafe("C2", "B7", "x", "10:30", "")},
			{"10:31", cafe("C1", "A1", "x", "10:00", "10:29")},
			{"10:40", nil},
		}, nil},
		{"the close shows the overlap; the other still open counts after the grace", []step{
			{"10:00", cafe("C1", "A1", "x", "10:00", "")},
			{"10:30", cafe("C2", "B7", "x", "10:30", "")},
			{"10:46", cafe("C1", "A1", "x", "10:00", "10:45")},
			{"10:48", nil},
			{"10:50", nil},
		}, []want{{RuleSharedID, "C2", 1, 0}}},
		{"both closes show the overlap: counts at once", []step{
			{"10:00", cafe("C1", "A1", "x", "10:00", "")},
			{"10:30", cafe("C2", "B7", "x", "10:30", "")},
			{"10:46", cafe("C1", "A1", "x", "10:00", "10:45")},
			{"10:47", cafe("C2", "B7", "x", "10:30", "10:47")},
		}, []want{{RuleSharedID, "C2", 1, 0}}},
		{"open counts as open until MaxOpen, not after", []step{
			{"00:00", cafe("C1", "A1", "x", "00:00", "")},
			{"12:30", cafe("C2", "B7", "x", "12:30", "")},
			{"12:40", nil},
		}, nil},
		{"open counts as open before MaxOpen", []step{
			{"00:00", cafe("C1", "A1", "x", "00:00", "")},
			{"11:30", cafe("C2", "B7", "x", "11:30", "")},
			{"11:40", nil},
		}, []want{{RuleSharedID, "C2", 1, 0}}},

		// Terminal order.
		{"a terminal starts before its previous session ended", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C1", "A1", "y", "10:40", "11:30")},
		}, []want{{RuleTerminalOverlap, "C1", 1, 0}}},
		{"a terminal used one after the other", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C1", "A1", "y", "11:00", "11:30")},
		}, nil},
		{"terminals of different cafés share names", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C2", "A1", "y", "10:30", "11:30")},
		}, nil},
		{"out of order: the close before the open resend keeps its end", []step{
			{"11:01", cafe("C1", "A1", "x", "10:00", "11:00")},
			{"11:31", cafe("C1", "A1", "y", "11:05", "11:30")},
			{"11:32", cafe("C1", "A1", "y", "11:05", "")},
			{"11:40", nil},
		}, nil},

		// Long sessions.
		{"café session of 24 h exactly", []step{{"12:00", cafe("C1", "A1", "x", "-1 11:00", "11:00")}}, nil},
		{"café session of 24 h and a minute, late", []step{{"12:00", cafe("C1", "A1", "x", "-1 11:00", "11:01")}},
			[]want{{RuleLongSession, "C1", 1, 1}}},
		{"café session still open when it arrives 24 h and a minute after its start", []step{
			{"11:01", cafe("C1", "A1", "x", "-1 11:00", "")}}, []want{{RuleLongSession, "C1", 1, 1}}},
		{"café session still open when it arrives 23 h after its start", []step{
			{"10:00", cafe("C1", "A1", "x", "-1 11:00", "")}}, nil},
		{"a session reported open after a day, then closed: one violation", []step{
			{"11:05", cafe("C1", "A1", "x", "-1 11:00", "")},
			{"12:00", cafe("C1", "A1", "x", "-1 11:00", "11:59")},
		}, []want{{RuleLongSession, "C1", 1, 1}}},
		{"hotel stays are not sessions: no long-session check", []step{
			{"11:05", &rec{kind: "hotel", venue: "H1", place: "301", who: "x", start: "-3 14:00"}}}, nil},

		// Late records.
		{"a shared card found by a record a day late", []step{
			{"-1 12:00", cafe("C1", "A1", "x", "-1 10:00", "-1 11:00")},
			{"11:31", cafe("C2", "B7", "x", "-1 10:30", "-1 11:30")},
		}, []want{{RuleSharedID, "C2", 1, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := run(t, tc.steps)
			g := got(t, f)
			sort.Slice(tc.want, func(i, j int) bool { return fmt.Sprint(tc.want[i]) < fmt.Sprint(tc.want[j]) })
			if fmt.Sprint(g) != fmt.Sprint(tc.want) {
				t.Errorf("alerts %v, want %v", g, tc.want)
				for _, a := range f.alerts {
					t.Logf("%s %s", a.ID, a.Title)
				}
			}
		})
	}
}

// TestReplayAndFollowUp: a replayed batch changes nothing; a violation in
// a window whose alert was resolved opens a follow-up alert, and replays
// of the first one still change nothing.
func TestReplayAndFollowUp(t *testing.T) {
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	now := at(t, "14:10")
	c, err := New(Options{Raiser: f, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r1 := (&rec{venue: "C1", place: "A1", who: "1", start: "14:00", born: "2010-01-01"}).record(t, now)
	r2 := (&rec{venue: "C1", place: "A2", who: "2", start: "14:05", born: "2010-01-01"}).record(t, now)
	r3 := (&rec{venue: "C1", place: "A3", who: "3", start: "14:20", born: "2010-01-01"}).record(t, now)
	for range 3 {
		if err := c.Process(ctx, []Record{r1, r2}); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.order) != 1 || f.alerts[f.order[0]].Occurrences != 2 {
		t.Fatalf("after replays: %d alerts, %+v", len(f.order), f.alerts)
	}
	f.resolve(f.order[0], now)
	if err := c.Process(ctx, []Record{r1, r2, r3}); err != nil {
		t.Fatal(err)
	}
	if len(f.order) != 2 {
		t.Fatalf("%d alerts after a new violation in a resolved window, want a follow-up", len(f.order))
	}
	first, next := f.alerts[f.order[0]], f.alerts[f.order[1]]
	if first.Occurrences != 2 || next.Occurrences != 1 || first.Key != next.Key {
		t.Errorf("first %d (%s), follow-up %d (%s)", first.Occurrences, first.Key, next.Occurrences, next.Key)
	}
}

// TestMemoryIsPerActiveSession: ended sessions leave memory after the
// horizon, open ones after MaxOpen and the horizon, whoever they were.
func TestMemoryIsPerActiveSession(t *testing.T) {
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	now := at(t, "08:00")
	c, err := New(Options{Raiser: f, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rs []Record
	for i := range 1000 {
		end := "08:00"
		if i%2 == 0 {
			end = ""
		}
		rs = append(rs, (&rec{venue: "C1", place: fmt.Sprint("A", i), who: fmt.Sprint(i), start: "07:00", end: end}).record(t, now))
	}
	if err := c.Process(ctx, rs); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		now  string
		held int
	}{{"09:00", 1000}, {"10:01", 500}, {"20:59", 500}, {"21:01", 0}}
	for _, st := range steps {
		now = at(t, st.now)
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.Sessions(); got != st.held {
			t.Errorf("at %s: %d sessions held, want %d", st.now, got, st.held)
		}
	}
	if len(c.byID) != 0 || len(c.byPlace) != 0 || len(f.order) != 0 {
		t.Errorf("indexes not emptied: %d ids, %d terminals; %d alerts", len(c.byID), len(c.byPlace), len(f.order))
	}
}

// FuzzDecode: any message on raw.access decodes or is refused, never
// panics, and a decoded record has its id and venue and no epoch end.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"record_id":"r","venue":"V","kind":"cafe","started_at":"2026-12-05T06:00:00.000Z","ended_at":"1970-01-01T00:00:00.000Z"}`))
	f.Add([]byte(`{"record_id":"r","venue":"V","birth_date":"2008-02-29"}`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := Decode(b)
		if ok && (r.RecordID == "" || r.Venue == "" || (!r.EndedAt.IsZero() && r.EndedAt.Unix() <= 0)) {
			t.Errorf("decoded %+v from %q", r, b)
		}
	})
}

// TestConcurrentFolds: violations folded into one alert from several
// goroutines at once (the writer's hook and the sweep) are all counted.
func TestConcurrentFolds(t *testing.T) {
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	now := at(t, "14:30")
	c, err := New(Options{Raiser: f, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				r := (&rec{venue: "C1", place: fmt.Sprint("A", g, "-", i), who: fmt.Sprint(g, "-", i), start: "14:10", born: "2010-01-01"}).record(t, now)
				if err := c.Process(context.Background(), []Record{r}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(f.order) != 1 || f.alerts[f.order[0]].Occurrences != 200 {
		t.Fatalf("%d alerts, occurrences %d; want one alert of 200", len(f.order), f.alerts[f.order[0]].Occurrences)
	}
}

// TestStoreSkipsOnlyHarmlessHotelRecords: the hook's shortcut leaves out
// hotel records without a birth date, and nothing else.
func TestStoreSkipsOnlyHarmlessHotelRecords(t *testing.T) {
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	now := at(t, "22:05")
	c, err := New(Options{Raiser: f, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(r *rec) bus.Message {
		b, _ := json.Marshal(r.record(t, now))
		return bus.Message{Value: b}
	}
	err = c.Store(context.Background(), []bus.Message{
		// As intake writes it: no birth_date key for an adult.
		{Value: []byte(`{"record_id":"x","venue":"H1","kind":"hotel","place":"301","id_type":"resident_id","started_at":"2026-12-05T14:00:00.000Z"}`)},
		msg(&rec{venue: "H1", kind: "hotel", place: "302", who: "m", start: "22:00", born: "2011-03-01"}),
		msg(&rec{venue: "C1", place: "A1", who: "n", start: "22:00", born: "2011-03-01"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := got(t, f); fmt.Sprint(g) != fmt.Sprint([]want{{RuleMinorCafe, "C1", 1, 0}, {RuleMinorHotel, "H1", 1, 0}}) {
		t.Errorf("alerts %v", g)
	}
}
