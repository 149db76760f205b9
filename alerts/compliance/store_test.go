package compliance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

type storedRow struct {
	RecordID    string    `json:"record_id"`
	Venue       string    `json:"venue"`
	Kind        string    `json:"kind"`
	Place       string    `json:"place"`
	IDType      string    `json:"id_type"`
	IDHash      string    `json:"id_hash"`
	IDMasked    string    `json:"id_masked"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
	ReceivedAt  time.Time `json:"received_at"`
	Version     uint64    `json:"version"`
	RetainUntil time.Time `json:"retain_until"`
}

// store writes records as the records writer would, before the hook.
func storeRecords(t *testing.T, rs ...Record) {
	t.Helper()
	rows := make([]storedRow, len(rs))
	for i, r := range rs {
		rows[i] = storedRow{r.RecordID, r.Venue, r.Kind, r.Place, r.IDType, r.IDHash, r.IDMasked, r.StartedAt, r.EndedAt,
			r.ReceivedAt, uint64(r.ReceivedAt.UnixMilli()), r.StartedAt.Add(61 * 24 * time.Hour)}
		if r.EndedAt.IsZero() {
			rows[i].EndedAt = time.Unix(0, 0).UTC()
		}
	}
	if err := db.Insert(context.Background(), "netpulse.access_records", rows); err != nil {
		t.Fatal(err)
	}
}

// TestStorePaths: a record older than the horizon is checked against the
// store (memory no longer holds its day), and a new checker rebuilds its
// memory from the store and finds the conflicts again without repeating
// the ones already raised.
func TestStorePaths(t *testing.T) {
	ctx := context.Background()
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	u := fmt.Sprint(now.UnixNano())
	open := func() *Checker {
		c, err := New(Options{Raiser: f, DB: db, Now: clock, Grace: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mk := func(venue, place, who string, start, end time.Duration, recv time.Duration) Record {
		r := Record{RecordID: fmt.Sprintf("%s-%s-%s-%d", u, venue, who, start), Venue: venue + u, Kind: "cafe", Place: place,
			IDType: "resident_id", IDHash: "h" + u + who, IDMasked: "420199********" + who, StartedAt: now.Add(start),
			ReceivedAt: now.Add(recv)}
		if end != 0 {
			r.EndedAt = now.Add(end)
		}
		return r
	}
	c := open()
	// Yesterday at C1 (stored long ago); its twin at C2 arrives today.
	y1 := mk("C1", "A1", "x", -26*time.Hour, -25*time.Hour, -25*time.Hour)
	storeRecords(t, y1)
	y2 := mk("C2", "B1", "x", -25*time.Hour-30*time.Minute, -24*time.Hour, 0)
	storeRecords(t, y2)
	if err := c.Process(ctx, []Record{y2}); err != nil {
		t.Fatal(err)
	}
	if len(f.order) != 1 || f.alerts[f.order[0]].Rule != RuleSharedID {
		t.Fatalf("late shared card: %+v", f.alerts)
	}
	if a := f.alerts[f.order[0]]; string(a.Title[:len("【补报】")]) != "【补报】" {
		t.Errorf("late alert does not say so: %s", a.Title)
	}
	if c.Sessions() != 0 {
		t.Errorf("late ended sessions kept in memory: %d", c.Sessions())
	}

	// Today: two open sessions of one card at two cafés, stored and seen
	// by a checker that then dies before the grace passed.
	o1 := mk("C1", "A2", "z", -20*time.Minute, 0, -20*time.Minute)
	o2 := mk("C3", "D4", "z", -10*time.Minute, 0, -10*time.Minute)
	storeRecords(t, o1, o2)
	if err := c.Process(ctx, []Record{o1, o2}); err != nil {
		t.Fatal(err)
	}
	if len(f.order) != 1 {
		t.Fatalf("raised before the grace: %d alerts", len(f.order))
	}
	// The new checker loads both, waits the grace, raises once; a third
	// checker finds it raised already.
	for round := range 2 {
		c2 := open()
		if err := c2.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if c2.Sessions() < 2 {
			t.Fatalf("round %d: rebuilt %d sessions", round, c2.Sessions())
		}
		now = now.Add(2 * time.Minute)
		if err := c2.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if len(f.order) != 2 || f.alerts[f.order[1]].Occurrences != 1 {
			t.Fatalf("round %d: %d alerts after the rebuilt checker's sweep", round, len(f.order))
		}
	}
}

// TestGaps: a venue whose refused rows pass the share over the day gets
// one alert for the day that grows with the refusals; a venue under the
// threshold, or with too few rows, gets none.
func TestGaps(t *testing.T) {
	ctx := context.Background()
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	now := time.Now().UTC().Truncate(time.Second)
	u := fmt.Sprint(now.UnixNano())
	c, err := New(Options{Raiser: f, DB: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	type qrow struct {
		Venue      string    `json:"venue"`
		BatchID    string    `json:"batch_id"`
		Row        uint32    `json:"row"`
		ReceivedAt time.Time `json:"received_at"`
		Errors     string    `json:"errors"`
		Status     string    `json:"status"`
		Version    uint64    `json:"version"`
	}
	batch := 0
	add := func(venue string, accepted, refused, missing int) {
		batch++
		var rs []Record
		for i := range accepted {
			rs = append(rs, Record{RecordID: fmt.Sprintf("%s-%s-%d-%d", u, venue, batch, i), Venue: venue + u, Kind: "hotel", Place: "301",
				IDType: "resident_id", IDHash: "h", StartedAt: now.Add(-time.Minute), ReceivedAt: now})
		}
		storeRecords(t, rs...)
		var qs []qrow
		for i := range refused {
			e := `[{"row":1,"field":"id_number","reason":"resident ID check digit mismatch"}]`
			if i < missing {
				e = `[{"row":1,"field":"id_number","reason":"required"}]`
			}
			qs = append(qs, qrow{venue + u, fmt.Sprint("b", u, batch), uint32(i + 1), now, e, "open", 1})
		}
		if err := db.Insert(ctx, "netpulse.intake_quarantine", qs); err != nil {
			t.Fatal(err)
		}
	}
	add("G1", 30, 10, 0) // 25% refused: over 20%
	add("G2", 95, 5, 0)  // 5% refused, none for a missing identity: fine
	add("G3", 95, 5, 5)  // 5% refused, all for a missing identity: over 5%
	add("G4", 5, 5, 5)   // too few rows to judge
	if err := c.Gaps(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, a := range f.alerts {
		got[a.Key[len("venue:"):len("venue:")+2]] = a.Occurrences
	}
	if len(got) != 2 || got["G1"] != 10 || got["G3"] != 5 {
		t.Fatalf("gap alerts by venue (occurrences) = %v, want G1:10 G3:5", got)
	}
	add("G1", 0, 3, 0) // later the same day: the alert grows
	if err := c.Gaps(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.order) != 2 {
		t.Fatalf("%d alerts after the day grew, want the same 2", len(f.order))
	}
	for _, a := range f.alerts {
		if a.Key[len("venue:"):len("venue:")+2] == "G1" && a.Occurrences != 13 {
			t.Errorf("G1 alert at %d refusals, want 13: %s", a.Occurrences, a.Title)
		}
	}
}
