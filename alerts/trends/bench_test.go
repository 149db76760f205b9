package trends_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/trends"
	"github.com/netpulse/netpulse/pipeline/bus"
)

// BenchmarkBucketPass measures the whole per-bucket pass (read the
// bucket's counts from chDB, update every tracked term's detector, store
// the scores, group and save the state) with 200,000 tracked terms, of
// which 20,000 are mentioned in the bucket.
func BenchmarkBucketPass(b *testing.B) {
	ctx := context.Background()
	const tracked, mentioned = 200_000, 20_000
	// About five minutes, but a bucket size no earlier run used: runs share
	// the chDB folder, and each must start from its own first bucket.
	bucket := time.Duration(300-time.Now().UnixNano()%60) * time.Second
	secs := uint32(bucket / time.Second)
	// Recent enough to survive the tables' TTLs.
	base := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(bucket)
	type row struct {
		BucketSeconds uint32    `json:"bucket_seconds"`
		Bucket        time.Time `json:"bucket"`
		Term          string    `json:"term"`
		Cluster       uint64    `json:"cluster"`
		PostID        string    `json:"post_id"`
	}
	fill := func(at time.Time, n, perTerm int, rnd *rand.Rand) {
		rows := make([]row, 0, n*perTerm)
		for i := 0; i < n; i++ {
			t := fmt.Sprintf("t%06d", rnd.IntN(tracked))
			if perTerm == 3 {
				t = fmt.Sprintf("t%06d", i)
			}
			for k := 0; k < perTerm; k++ {
				rows = append(rows, row{secs, at, t, uint64(k), t})
			}
		}
		for i := 0; i < len(rows); i += 100_000 {
			if err := db.Insert(ctx, "netpulse.term_mentions", rows[i:min(i+100_000, len(rows))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	fill(base, tracked, 3, rnd) // every term reaches support in the first bucket
	now := base.Add(bucket + time.Second)
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		b.Fatal(err)
	}
	e, err := trends.New(trends.Options{DB: db, Raiser: m, Dir: b.TempDir(), Bucket: bucket, Grace: time.Second,
		Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	if n, err := e.Step(ctx); err != nil || n != 1 {
		b.Fatalf("first pass: %d buckets, %v", n, err)
	}
	ov, _ := e.Topics(ctx)
	if ov.TrackedTerms != tracked {
		b.Fatalf("tracking %d terms, want %d", ov.TrackedTerms, tracked)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		next := base.Add(time.Duration(i+1) * bucket)
		fill(next, mentioned, 1, rnd)
		now = next.Add(bucket + time.Second)
		b.StartTimer()
		if n, err := e.Step(ctx); err != nil || n != 1 {
			b.Fatalf("pass %d: %d buckets, %v", i, n, err)
		}
	}
	b.ReportMetric(float64(tracked), "terms")
}

// BenchmarkBurstToAlert measures, on the real journal and chDB with the
// counter and the engine running as serve runs them, the time from the
// first post of a burst to its topic alert, with 2-second buckets
// (detector time scaled so each bucket counts as five minutes). The goal
// is under one bucket plus 10 s.
func BenchmarkBurstToAlert(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := 2 * time.Second
	r := newRig(b, bucket)
	start := time.Now().Truncate(bucket)
	r.history(ctx, start, 300)
	c := r.counter(ctx)
	r.waitDrained(ctx, c)
	m, e := r.open(ctx)
	if _, err := e.Step(ctx); err != nil {
		b.Fatal(err)
	}
	events, unsub := m.Subscribe(64)
	defer unsub()
	go e.Run(ctx)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6)) // runs share chDB: never repeat an earlier run's words
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A fresh event each time: words never seen before.
		text := make([]rune, 12)
		for k := range text {
			text[k] = rune(0x4E00 + rnd.IntN(0x5000))
		}
		first := time.Now()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tk := time.NewTicker(100 * time.Millisecond)
			defer tk.Stop()
			for {
				var msgs []bus.Message
				for k := 0; k < 3; k++ {
					msgs = append(msgs, r.post(string(text), time.Now(), 0))
				}
				if err := r.bus.Publish(ctx, bus.TopicPosts, msgs...); err != nil && ctx.Err() == nil {
					b.Error(err)
				}
				select {
				case <-stop:
					return
				case <-tk.C:
				}
			}
		}()
		var lat time.Duration
	wait:
		for {
			select {
			case ev := <-events:
				if ev.Type == "opened" && ev.Alert.Kind == "topic" {
					lat = time.Since(first)
					break wait
				}
			case <-time.After(5*bucket + 30*time.Second):
				h, err := e.History(ctx, string(text[:2]), first.Add(-time.Minute), time.Now())
				b.Fatalf("no topic alert; history of %s: %+v %v", string(text[:2]), h, err)
			}
		}
		close(stop)
		<-done
		total += lat
		// Let the burst cool off before the next one.
		time.Sleep(3 * bucket)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/alert")
	b.ReportMetric(total.Seconds()/float64(b.N)/bucket.Seconds(), "buckets/alert")
}
