package records_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/records"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
	"github.com/netpulse/netpulse/privacy/identity"
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

// TestDuplicatesAbsorbed publishes every record twice, in two different
// orders and batchings (kafka-go retries without idempotence, and a batch
// answered 503 may have landed), and checks that the store and the
// delivery accounting end as they do after publishing once.
func TestDuplicatesAbsorbed(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var once []bus.Message
	for i := range 60 {
		received := now.Add(-time.Duration(i%7) * time.Minute)
		if i%10 == 0 {
			received = now.Add(-3 * time.Hour) // an older delivery
		}
		once = append(once, rec(fmt.Sprintf("DUP-%d", i%3), i, received.Add(-time.Duration(i%50)*time.Minute), received, 60*24*time.Hour))
	}
	run := func(batches ...[]bus.Message) (uint64, uint64, []records.Delivery) {
		reset(t)
		w := records.New(records.Options{DB: db})
		for _, b := range batches {
			if err := w.Store(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := records.Deliveries(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		final, _ := count(t, "venue LIKE 'DUP-%'")
		var keep []records.Delivery
		for _, d := range ds {
			if strings.HasPrefix(d.Venue, "DUP-") {
				keep = append(keep, d)
			}
		}
		return final, uint64(len(ds)), keep
	}
	wantN, _, want := run(once)
	reversed := slices.Clone(once)
	slices.Reverse(reversed)
	shuffled := slices.Clone(once)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	cases := map[string][][]bus.Message{
		"twice in one batch":          {append(slices.Clone(once), once...)},
		"forward then reversed":       {once, reversed},
		"shuffled, in small batches":  {shuffled[:20], once[:30], shuffled[20:], once[30:]},
		"interleaved, each back-back": {interleave(once)},
	}
	for name, batches := range cases {
		t.Run(name, func(t *testing.T) {
			n, _, got := run(batches...)
			if n != wantN || n != uint64(len(once)) {
				t.Errorf("%d distinct records stored, want %d", n, len(once))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("deliveries differ from publishing once:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func interleave(msgs []bus.Message) []bus.Message {
	out := make([]bus.Message, 0, 2*len(msgs))
	for _, m := range msgs {
		out = append(out, m, m)
	}
	return out
}

// TestProtectNames stores a record as it was stored before names were
// protected (clear name, no hash) and checks that ProtectNames leaves only
// the mask, the hash and the ciphertext, keeping everything else.
func TestProtectNames(t *testing.T) {
	ctx := context.Background()
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.access_records`); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, `INSERT INTO netpulse.access_records (record_id, venue, kind, place, id_type, id_hash, id_enc, id_masked, name,
		started_at, received_at, batch_id, version, retain_until, held) VALUES
		('old-1', 'PN-1', 'cafe', 'A1', 'resident_id', 'h', 'e', 'm', '欧阳修远', now64(3), now64(3), 'b', 4398046511104 + 5, now64(3) + INTERVAL 60 DAY, 1)`); err != nil {
		t.Fatal(err)
	}
	prot, err := identity.NewProtector(identity.Keys{IDHash: bytes.Repeat([]byte{1}, 32), IDEnc: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := records.ProtectNames(ctx, db, prot)
	if err != nil || n != 1 {
		t.Fatalf("ProtectNames = %d, %v", n, err)
	}
	var rows []struct {
		Name     string `json:"name"`
		NameHash string `json:"name_hash"`
		NameEnc  string `json:"name_enc"`
		Held     uint8  `json:"held"`
		N        uint64 `json:"n"`
	}
	if err := db.Select(ctx, &rows, `SELECT any(name) AS name, any(name_hash) AS name_hash, any(name_enc) AS name_enc, any(held) AS held, count() AS n
		FROM netpulse.access_records WHERE record_id = 'old-1'`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].N != 1 || rows[0].Name != "欧*" || rows[0].NameHash != prot.NameHash("欧阳修远") || rows[0].Held != 1 {
		t.Fatalf("after ProtectNames (unmerged rows included): %+v", rows)
	}
	if plain, err := prot.Decrypt(rows[0].NameEnc); err != nil || string(plain) != "欧阳修远" {
		t.Errorf("name ciphertext: %q %v", plain, err)
	}
	if n, err := records.ProtectNames(ctx, db, prot); err != nil || n != 0 {
		t.Errorf("second run rewrote %d rows (%v)", n, err)
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
