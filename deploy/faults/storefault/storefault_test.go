package storefault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/records"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// real is the one chDB engine of this process.
var real store.Backend

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "storefault-chdb-")
	if err != nil {
		panic(err)
	}
	b, err := chdb.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	real = b
	if err := store.New(b, nil).Migrate(context.Background(), deploy.Schema()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	b.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// faulty wraps the real backend and fails inserts into one table while
// failing is set: before the insert (the store refused it) or after it
// (the store took it but the answer was lost).
type faulty struct {
	store.Backend
	table string

	mu      sync.Mutex
	failing bool
	after   bool
	failed  int
}

var errInjected = errors.New("injected insert failure")

func (f *faulty) set(failing, after bool) {
	f.mu.Lock()
	f.failing, f.after = failing, after
	f.mu.Unlock()
}

func (f *faulty) Insert(ctx context.Context, table string, rows []byte) error {
	f.mu.Lock()
	fail, after := f.failing && table == f.table, f.after
	if fail {
		f.failed++
	}
	f.mu.Unlock()
	if !fail {
		return f.Backend.Insert(ctx, table, rows)
	}
	if after {
		if err := f.Backend.Insert(ctx, table, rows); err != nil {
			return err
		}
	}
	return errInjected
}

func (f *faulty) Close() error { return nil } // the real engine outlives each test

func record(venue string, i int, start time.Time, retain time.Duration) bus.Message {
	r := intake.Record{RecordID: fmt.Sprintf("%s-%05d", venue, i), Venue: venue, Kind: "cafe", Place: fmt.Sprintf("A%d", i),
		IDType: "resident_id", IDHash: fmt.Sprintf("h%d", i%5), IDEnc: "x", IDMasked: "420199********0000", Name: "n",
		StartedAt: start, ReceivedAt: start, BatchID: "b", Version: uint64(start.UnixMilli()), RetainUntil: start.Add(retain)}
	b, _ := json.Marshal(r)
	return bus.Message{Key: []byte(venue), Value: b}
}

func counts(t *testing.T, db *store.DB, venue string) (final, raw uint64) {
	t.Helper()
	var n []struct {
		F uint64 `json:"f"`
		R uint64 `json:"r"`
	}
	if err := db.Select(context.Background(), &n, `SELECT (SELECT count() FROM netpulse.access_records FINAL WHERE venue = ?) AS f,
		(SELECT count() FROM netpulse.access_records WHERE venue = ?) AS r`, venue, venue); err != nil {
		t.Fatal(err)
	}
	return n[0].F, n[0].R
}

// TestInsertFailureHoldsTheCommit runs the records writer over a journal
// and a store whose inserts fail, first before and then after the rows
// land. While they fail, the writer must not commit (the lag stays) and
// must keep retrying; once the store heals, every record is stored once.
func TestInsertFailureHoldsTheCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after bool
	}{{"refused", false}, {"answer lost after the insert", true}} {
		t.Run(tc.name, func(t *testing.T) {
			venue := "SF-" + strings.ReplaceAll(tc.name[:4], " ", "")
			j, err := journal.Open(journal.Options{Dir: t.TempDir(), Partitions: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			f := &faulty{Backend: real, table: "netpulse.access_records"}
			db := store.New(f, nil)
			f.set(true, tc.after)
			w := records.New(records.Options{Bus: j, DB: db, BatchRows: 300, BatchDelay: 20 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() { cancel(); <-done }()

			const n = 1000
			start := time.Now().Add(-time.Hour)
			msgs := make([]bus.Message, n)
			for i := range msgs {
				msgs[i] = record(venue, i, start.Add(time.Duration(i)*time.Millisecond), 90*24*time.Hour)
			}
			if err := j.Publish(context.Background(), bus.TopicAccess, msgs...); err != nil {
				t.Fatal(err)
			}
			// Let the writer fail several times.
			deadline := time.Now().Add(20 * time.Second)
			for {
				f.mu.Lock()
				failed := f.failed
				f.mu.Unlock()
				if failed >= 3 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			lag, err := j.Lag(context.Background(), "records", bus.TopicAccess)
			if err != nil {
				t.Fatal(err)
			}
			if lag != n {
				t.Errorf("lag %d while every insert fails; want %d (nothing committed)", lag, n)
			}
			f.set(false, false)
			deadline = time.Now().Add(60 * time.Second)
			for {
				lag, _ = j.Lag(context.Background(), "records", bus.TopicAccess)
				fin, _ := counts(t, db, venue)
				if (lag == 0 && fin == n) || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			fin, raw := counts(t, db, venue)
			if fin != n || lag != 0 {
				t.Errorf("after the store healed: %d records stored (FINAL), lag %d; want %d and 0", fin, lag, n)
			}
			t.Logf("%d injected failures; stored %d distinct, %d physical rows (replays absorbed by ReplacingMergeTree)", f.failed, fin, raw)
		})
	}
}

// TestRetentionAndLegalHold stores rows whose retention ended, some under
// a venue hold and some under a case hold, forces the TTL with OPTIMIZE
// FINAL, and checks the expired unheld rows are gone and the held and
// current ones stay.
func TestRetentionAndLegalHold(t *testing.T) {
	ctx := context.Background()
	db := store.New(&faulty{Backend: real}, nil)
	j, err := journal.Open(journal.Options{Dir: t.TempDir(), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w := records.New(records.Options{Bus: j, DB: db})
	if err := w.SyncVenues(ctx, []records.Venue{{Code: "RT-HELD", Kind: "cafe", LegalHold: true}, {Code: "RT-FREE", Kind: "cafe"}}); err != nil {
		t.Fatal(err)
	}
	// Records of h1 (a person) are held for a case wherever they are.
	if err := w.SetCaseHold(ctx, "h1", "CASE-9", "tester", true); err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(0, -4, 0)
	var msgs []bus.Message
	for i := 0; i < 10; i++ {
		msgs = append(msgs, record("RT-HELD", i, old.Add(time.Duration(i)*time.Second), 61*24*time.Hour))
		msgs = append(msgs, record("RT-FREE", i, old.Add(time.Duration(i)*time.Second), 61*24*time.Hour))
		msgs = append(msgs, record("RT-FREE", 100+i, time.Now().Add(-time.Duration(i)*time.Minute), 61*24*time.Hour))
	}
	if err := w.Store(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, `OPTIMIZE TABLE netpulse.access_records FINAL`); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Venue string `json:"venue"`
		Old   uint8  `json:"old"`
		Hash  string `json:"id_hash"`
		N     uint64 `json:"n"`
	}
	if err := db.Select(ctx, &rows, `SELECT venue, started_at < now() - INTERVAL 30 DAY AS old, id_hash, count() AS n
		FROM netpulse.access_records FINAL WHERE venue LIKE 'RT-%' GROUP BY venue, old, id_hash ORDER BY venue, old, id_hash`); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, r := range rows {
		got[fmt.Sprintf("%s old=%d %s", r.Venue, r.Old, r.Hash)] += r.N
	}
	want := map[string]uint64{
		// the held venue keeps all its expired rows
		"RT-HELD old=1 h0": 2, "RT-HELD old=1 h1": 2, "RT-HELD old=1 h2": 2, "RT-HELD old=1 h3": 2, "RT-HELD old=1 h4": 2,
		// the free venue keeps only the case-held person's expired rows
		"RT-FREE old=1 h1": 2,
		// and all its current rows
		"RT-FREE old=0 h0": 2, "RT-FREE old=0 h1": 2, "RT-FREE old=0 h2": 2, "RT-FREE old=0 h3": 2, "RT-FREE old=0 h4": 2,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d rows after the TTL, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %d rows survived the TTL; they are past retention and not held", k, n)
		}
	}
}
