package compliance

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// BenchmarkProcessAt100kOpen: 100,000 open café sessions in memory (1,000
// cafés of 100 terminals, one person each), then records arriving: new
// sessions of new people and closing updates. Reports time per record and
// the heap the memory holds per open session.
//
//	go test -run - -bench ProcessAt100kOpen -benchtime 200000x ./alerts/compliance/
func BenchmarkProcessAt100kOpen(b *testing.B) {
	const open = 100_000
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f := &fakeRaiser{alerts: map[string]lifecycle.Alert{}}
	c, err := New(Options{Raiser: f, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	rec := func(i int, start time.Time, end time.Time) Record {
		return Record{RecordID: fmt.Sprintf("r%08d", i), Venue: fmt.Sprintf("C%04d", i/100%1000), Kind: "cafe",
			Place: fmt.Sprintf("A%03d-%d", i%100, i/open), IDType: "resident_id", IDHash: fmt.Sprintf("%040x", i),
			IDMasked: "420199********0000", StartedAt: start, EndedAt: end, ReceivedAt: now}
	}
	ctx := context.Background()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	batch := make([]Record, 0, 1000)
	for i := range open {
		batch = append(batch, rec(i, now.Add(-time.Duration(i%600)*time.Minute/10), time.Time{}))
		if len(batch) == cap(batch) {
			if err := c.Process(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if c.Sessions() != open || len(f.alerts) != 0 {
		b.Fatalf("%d sessions, %d alerts", c.Sessions(), len(f.alerts))
	}
	perSession := float64(after.HeapAlloc-before.HeapAlloc) / open
	rs := make([]Record, b.N)
	for i := range rs {
		if i%2 == 0 {
			rs[i] = rec(open+i, now, time.Time{}) // a new session, new person, new terminal
		} else {
			j := (i * 7919) % open // the close of an open one
			rs[i] = rec(j, now.Add(-time.Duration(j%600)*time.Minute/10), now)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		if err := c.Process(ctx, rs[i:min(i+1000, b.N)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(perSession, "heap-B/session")
	if len(f.alerts) != 0 {
		b.Fatalf("%d alerts from rule-abiding records", len(f.alerts))
	}
}

// BenchmarkDecode: the JSON decode of one raw.access message, which the
// hook pays before Process.
func BenchmarkDecode(b *testing.B) {
	msg := []byte(`{"record_id":"0123456789abcdef0123","venue":"JA-C01","kind":"cafe","place":"A012","id_type":"resident_id",` +
		`"id_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","id_enc":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",` +
		`"id_masked":"420199********0012","name":"张三","started_at":"2026-12-05T06:00:00.000Z","ip":"10.0.0.8","mac":"52:54:00:ab:cd:ef",` +
		`"party_size":0,"received_at":"2026-12-05T06:00:03.000Z","batch_id":"b1","version":1,"retain_until":"2027-02-03T06:00:00.000Z"}`)
	for b.Loop() {
		if _, ok := Decode(msg); !ok {
			b.Fatal("not decoded")
		}
	}
}
