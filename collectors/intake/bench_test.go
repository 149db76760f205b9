package intake_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/collectors/intake/intaketest"
	"github.com/netpulse/netpulse/privacy/identity"
)

const benchBatch = 5000

// benchBodies builds n unique records as CSV batches.
func benchBodies(n int, start time.Time) [][]byte {
	var out [][]byte
	for i := 0; i < n; i += benchBatch {
		var b bytes.Buffer
		b.WriteString("kind,place,id_type,id_number,name,started_at,ended_at,ip,mac,party_size\n")
		for k := i; k < min(n, i+benchBatch); k++ {
			fmt.Fprintf(&b, "cafe,A%03d,resident_id,%s,用户%d,%s,,10.1.%d.%d,52:54:00:00:%02x:%02x,\n",
				k%500, identity.Synthetic("420199", k%50000), k, start.Add(time.Duration(k)*time.Millisecond).Format(time.RFC3339Nano),
				(k/250)%250, k%250, (k/256)%256, k%256)
		}
		out = append(out, b.Bytes())
	}
	return out
}

func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

var benchRun atomic.Int64

// BenchmarkIntakeEndToEnd measures accepted records per second from HTTP
// POST to rows in ClickHouse (validation, encryption, journal fsync, the
// records writer, chDB insert), then, in the same run, the chDB raw-insert
// ceiling for the same rows, and reports their ratio and peak memory.
// Run with -benchtime=200000x or more: small N measures only latency.
func BenchmarkIntakeEndToEnd(b *testing.B) {
	venue := fmt.Sprintf("BENCH-%d", benchRun.Add(1))
	e := intaketest.New(b, db, map[string]string{venue: "cafe"}, nil)
	start := time.Now().Add(-time.Hour)
	bodies := benchBodies(b.N, start)
	runtime.GC()
	// Peak live heap while the stream runs, sampled: the Go side's share of
	// peak memory (the engine's share shows in peak RSS).
	var peakHeap atomic.Uint64
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for sampleCtx.Err() == nil {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(ms.HeapAlloc)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	work := make(chan []byte)
	var failed atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				r := e.Post(venue, "/api/v1/intake/access-records", "text/csv", "", body)
				if r.Code != http.StatusOK || len(r.Ans.Rejected) > 0 {
					failed.Add(1)
				}
			}
		}()
	}
	for _, body := range bodies {
		work <- body
	}
	close(work)
	wg.Wait()
	acked := time.Since(t0)
	waitRaw(b, venue, b.N)
	total := time.Since(t0)
	b.StopTimer()
	stopSampling()
	<-sampled
	if failed.Load() > 0 {
		b.Fatalf("%d batches not fully accepted", failed.Load())
	}
	e2e := float64(b.N) / total.Seconds()
	b.ReportMetric(e2e, "records/s")
	b.ReportMetric(float64(b.N)/acked.Seconds(), "acked-records/s")

	// The ceiling: the same rows, already in stored form, inserted straight
	// into a table of the same schema in the writer's batch size.
	ctx := context.Background()
	if err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS netpulse.bench_access_records AS netpulse.access_records`); err != nil {
		b.Fatal(err)
	}
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.bench_access_records`); err != nil {
		b.Fatal(err)
	}
	v := &intake.Validator{Venue: venue, VenueKind: "cafe", Now: time.Now(), Protect: e.Protect}
	var rows []json.RawMessage
	for _, body := range bodies {
		parsed, _ := intake.Parse(body, intake.FormatCSV, benchBatch+1)
		for _, p := range parsed {
			r, _ := v.Validate(p.Row, p.In)
			j, _ := json.Marshal(&r)
			rows = append(rows, j)
		}
	}
	t1 := time.Now()
	for i := 0; i < len(rows); i += 20000 {
		if err := db.Insert(ctx, "netpulse.bench_access_records", rows[i:min(len(rows), i+20000)]); err != nil {
			b.Fatal(err)
		}
	}
	ceiling := float64(len(rows)) / time.Since(t1).Seconds()
	b.ReportMetric(ceiling, "ceiling-rows/s")

	// And the narrow-row ceiling of pipeline/store/chdb's BenchmarkInsert
	// (five columns, 5000-row batches), to place both on one scale.
	if err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS netpulse.bench_narrow (id UInt64, name String, at DateTime64(3,'UTC'), tags Array(String), score Float64) ENGINE = MergeTree ORDER BY id`); err != nil {
		b.Fatal(err)
	}
	type narrow struct {
		ID    uint64    `json:"id"`
		Name  string    `json:"name"`
		At    time.Time `json:"at"`
		Tags  []string  `json:"tags"`
		Score float64   `json:"score"`
	}
	nrows := make([]narrow, 5000)
	for i := range nrows {
		nrows[i] = narrow{uint64(i), fmt.Sprintf("终端-%04d 张三", i), time.Now().UTC(), []string{"cafe"}, float64(i)}
	}
	t2 := time.Now()
	for i := 0; i < max(len(rows)/len(nrows), 1); i++ {
		if err := db.Insert(ctx, "netpulse.bench_narrow", nrows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(max(len(rows)/len(nrows), 1)*len(nrows))/time.Since(t2).Seconds(), "narrow-ceiling-rows/s")
	b.ReportMetric(e2e/ceiling, "ratio")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-go-heap-MiB")
}

func waitRaw(b *testing.B, venue string, n int) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var c []struct {
			N uint64 `json:"n"`
		}
		if err := db.Select(context.Background(), &c, `SELECT count() AS n FROM netpulse.access_records WHERE venue = ?`, venue); err != nil {
			b.Fatal(err)
		}
		if c[0].N >= uint64(n) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("venue %s: not all %d records stored", venue, n)
}
