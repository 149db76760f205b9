package records_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/records"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

func reset(t *testing.T) {
	t.Helper()
	for _, table := range []string{"access_records", "venues", "record_holds"} {
		if err := db.Exec(context.Background(), `TRUNCATE TABLE netpulse.`+table); err != nil {
			t.Fatal(err)
		}
	}
}

// rec builds a stored-form record as intake publishes it.
func rec(venue string, i int, start, received time.Time, retain time.Duration) bus.Message {
	r := intake.Record{RecordID: fmt.Sprintf("%s-%04d", venue, i), Venue: venue, Kind: "cafe", Place: fmt.Sprintf("A%d", i),
		IDType: "resident_id", IDHash: fmt.Sprintf("h%d", i%3), IDEnc: "x", IDMasked: "420199********0000", Name: "n",
		StartedAt: start, ReceivedAt: received, BatchID: "b", Version: uint64(received.UnixMilli()), RetainUntil: start.Add(retain)}
	b, _ := json.Marshal(r)
	return bus.Message{Key: []byte(venue), Value: b}
}

func count(t *testing.T, where string) (final, raw uint64) {
	t.Helper()
	var n []struct {
		F uint64 `json:"f"`
		R uint64 `json:"r"`
	}
	if err := db.Select(context.Background(), &n, `SELECT (SELECT count() FROM netpulse.access_records FINAL WHERE `+where+`) AS f,
		(SELECT count() FROM netpulse.access_records WHERE `+where+`) AS r`); err != nil {
		t.Fatal(err)
	}
	return n[0].F, n[0].R
}

// TestCrashBeforeCommitReplays consumes a batch, stores it but dies before
// committing; the next writer replays it, and the table still holds each
// record once.
func TestCrashBeforeCommitReplays(t *testing.T) {
	reset(t)
	ctx := context.Background()
	j, err := journal.Open(journal.Options{Dir: filepath.Join(t.TempDir(), "j"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	now := time.Now().UTC()
	var msgs []bus.Message
	for i := 0; i < 50; i++ {
		msgs = append(msgs, rec("RP-1", i, now.Add(-time.Hour), now, 60*24*time.Hour))
	}
	if err := j.Publish(ctx, bus.TopicAccess, msgs...); err != nil {
		t.Fatal(err)
	}
	w := records.New(records.Options{Bus: j, DB: db})
	c, err := j.Subscribe(ctx, "records", bus.TopicAccess)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Fetch(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Store(ctx, got); err != nil { // stored, never committed
		t.Fatal(err)
	}
	c.Close()

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		records.New(records.Options{Bus: j, DB: db, BatchDelay: 10 * time.Millisecond}).Run(rctx)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, raw := count(t, "venue = 'RP-1'"); raw >= 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if lag, _ := j.Lag(ctx, "records", bus.TopicAccess); lag == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	final, raw := count(t, "venue = 'RP-1'")
	if final != 50 || raw != 100 {
		t.Errorf("after replay: %d distinct of %d rows, want 50 of 100", final, raw)
	}
	if lag, err := j.Lag(ctx, "records", bus.TopicAccess); err != nil || lag != 0 {
		t.Errorf("lag after replay = %d, %v; want committed", lag, err)
	}
}

// TestLegalHoldSuspendsTTL stores soon-expiring records of a held and an
// unheld venue and of a person under a case hold, lets them expire, then
// forces the TTL merge. (ClickHouse drops rows already expired at insert,
// so the records are written with a few seconds left.)
func TestLegalHoldSuspendsTTL(t *testing.T) {
	reset(t)
	ctx := context.Background()
	w := records.New(records.Options{Bus: nil, DB: db})
	venues := func(held bool) []records.Venue {
		return []records.Venue{{Code: "LH-HELD", Kind: "cafe", Name: "a", District: "d", Unit: "u", LegalHold: held},
			{Code: "LH-FREE", Kind: "cafe", Name: "b", District: "d", Unit: "u"}}
	}
	if err := w.SyncVenues(ctx, venues(true)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -70)
	expiresSoon := now.Add(2*time.Second).Sub(old) + time.Second
	var msgs []bus.Message
	for i := 0; i < 6; i++ { // ids h0, h1, h2, h0, h1, h2
		msgs = append(msgs, rec("LH-HELD", i, old, old, expiresSoon)) // held on insert
		msgs = append(msgs, rec("LH-FREE", i, old, old, expiresSoon))
	}
	msgs = append(msgs, rec("LH-FREE", 102, now.Add(-time.Hour), now, 60*24*time.Hour)) // h0, not expiring
	if err := w.Store(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	// A case hold on one person (h1) marks their stored rows everywhere.
	if err := w.SetCaseHold(ctx, "h1", "CASE-1", "admin", true); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		where string
		want  uint64
	}{{"held = 1 AND venue = 'LH-HELD'", 6}, {"held = 1 AND venue = 'LH-FREE'", 2}} {
		if got, _ := count(t, w.where); got != w.want {
			t.Fatalf("%s: %d, want %d", w.where, got, w.want)
		}
	}
	time.Sleep(time.Until(now.Add(3500 * time.Millisecond))) // let the short retention pass
	if err := db.Exec(ctx, `OPTIMIZE TABLE netpulse.access_records FINAL`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		where string
		want  uint64
	}{
		{"venue = 'LH-HELD'", 6},
		{"venue = 'LH-FREE' AND id_hash = 'h1'", 2},
		{"venue = 'LH-FREE' AND id_hash != 'h1'", 1}, // only the unexpired one
	}
	for _, tt := range tests {
		if got, _ := count(t, tt.where); got != tt.want {
			t.Errorf("%s: %d rows after TTL, want %d", tt.where, got, tt.want)
		}
	}
	// Releasing the venue hold lets its rows expire, except the person
	// still held for the case.
	if err := w.SyncVenues(ctx, venues(false)); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, `OPTIMIZE TABLE netpulse.access_records FINAL`); err != nil {
		t.Fatal(err)
	}
	if got, _ := count(t, "venue = 'LH-HELD' AND id_hash != 'h1'"); got != 0 {
		t.Errorf("released venue kept %d expired rows", got)
	}
	if got, _ := count(t, "venue = 'LH-HELD' AND id_hash = 'h1'"); got != 2 {
		t.Errorf("case hold lost at the released venue: %d rows, want 2", got)
	}
}

func TestDeliveries(t *testing.T) {
	reset(t)
	ctx := context.Background()
	w := records.New(records.Options{DB: db})
	if err := w.SyncVenues(ctx, []records.Venue{{Code: "DV-1", Kind: "cafe", Name: "一号", District: "江岸区", Unit: "u"},
		{Code: "DV-QUIET", Kind: "cafe", Name: "二号", District: "江岸区", Unit: "u"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var msgs []bus.Message
	i := 0
	add := func(venue string, n int, start, received time.Time) {
		for k := 0; k < n; k++ {
			msgs = append(msgs, rec(venue, i, start, received, 60*24*time.Hour))
			i++
		}
	}
	add("DV-1", 8, now.Add(-10*time.Minute), now.Add(-9*time.Minute))      // on time, this hour
	add("DV-1", 2, now.Add(-50*time.Minute), now.Add(-5*time.Minute))      // late (45 min)
	add("DV-1", 168*3, now.Add(-30*time.Hour), now.Add(-30*time.Hour))     // history: 3 per hour on average
	add("DV-QUIET", 168*2, now.Add(-50*time.Hour), now.Add(-50*time.Hour)) // usually 2 per hour, silent now
	if err := w.Store(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	ds, err := records.Deliveries(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	byVenue := map[string]records.Delivery{}
	for _, d := range ds {
		byVenue[d.Venue] = d
	}
	one, quiet := byVenue["DV-1"], byVenue["DV-QUIET"]
	if one.LastHour != 10 || one.Late24h != 2 || one.UsualPerHour != 3 || one.Silent || one.District != "江岸区" {
		t.Errorf("DV-1 = %+v", one)
	}
	if !one.LastDelivery.Equal(now.Add(-5 * time.Minute)) {
		t.Errorf("DV-1 last delivery %v, want %v", one.LastDelivery, now.Add(-5*time.Minute))
	}
	if quiet.LastHour != 0 || quiet.UsualPerHour != 2 || !quiet.Silent {
		t.Errorf("DV-QUIET = %+v", quiet)
	}
}

// TestMalformedMessageGoesToDeadLetter checks that one broken message does
// not stall the batch: the good rows land and the bad one is moved aside.
func TestMalformedMessageGoesToDeadLetter(t *testing.T) {
	reset(t)
	ctx := context.Background()
	j, err := journal.Open(journal.Options{Dir: filepath.Join(t.TempDir(), "j"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w := records.New(records.Options{DB: db, DeadLetter: j})
	now := time.Now().UTC()
	msgs := []bus.Message{rec("DL-1", 1, now, now, 60*24*time.Hour), {Key: []byte("DL-1"), Value: []byte(`{"record_id":`)}, rec("DL-1", 2, now, now, 60*24*time.Hour)}
	if err := w.Store(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if got, _ := count(t, "venue = 'DL-1'"); got != 2 {
		t.Errorf("%d good rows stored, want 2", got)
	}
	c, err := j.Subscribe(ctx, "check", bus.TopicDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dl, err := c.Fetch(fctx, 10)
	if err != nil || len(dl) != 1 || string(dl[0].Value) != `{"record_id":` {
		t.Errorf("dead letters = %v, %v", dl, err)
	}
}

// TestAfterStoreSeesStoredBatch: the hook runs once the batch is in the
// table, and its failure fails the batch so that it is offered again.
func TestAfterStoreSeesStoredBatch(t *testing.T) {
	reset(t)
	ctx := context.Background()
	now := time.Now().UTC()
	msgs := []bus.Message{rec("AS-1", 1, now.Add(-time.Hour), now, 60*24*time.Hour), rec("AS-1", 2, now.Add(-time.Hour), now, 60*24*time.Hour)}
	fail := true
	var seen []int
	w := records.New(records.Options{DB: db, AfterStore: func(ctx context.Context, got []bus.Message) error {
		final, _ := count(t, "venue = 'AS-1'")
		seen = append(seen, int(final))
		if fail {
			return fmt.Errorf("lifecycle down")
		}
		return nil
	}})
	if err := w.Store(ctx, msgs); err == nil {
		t.Fatal("a failing hook did not fail the batch")
	}
	fail = false
	if err := w.Store(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[2 2]" {
		t.Errorf("hook saw %v stored rows on each call, want [2 2]", seen)
	}
}
