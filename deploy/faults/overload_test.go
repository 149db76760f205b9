package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOverloadAnswersRetryAfter measures intake capacity with a closed loop,
// then offers about twice that rate open-loop from many venues. Intake must
// shed the excess with 429 or 503 and Retry-After (never a 5xx of another
// kind, never a dropped connection), keep its memory bounded, and store
// every batch it acknowledged.
func TestOverloadAnswersRetryAfter(t *testing.T) {
	data := t.TempDir()
	venues := registerVenues(t, data, "OV-", 24)
	analyst := addUser(t, data, "ov-analyst", "analyst")
	s := startServer(t, data)
	idleKB := s.rssKB("VmRSS")
	const per = 500
	var seq atomic.Int64
	ack := newAcked()

	// Capacity: a closed loop with as many batches in flight as intake
	// takes at once (4 per core), one venue each.
	measure := 4 * time.Second
	st := &intakeStats{}
	ctx, cancel := context.WithTimeout(context.Background(), measure)
	feedRecords(ctx, s, venues[:min(len(venues), 4*runtime.NumCPU())], per, ack, st, &seq)
	cancel()
	capacity := float64(st.sent.Load()) / measure.Seconds()
	if capacity == 0 {
		t.Fatalf("no batch accepted while measuring capacity: %s", st)
	}
	t.Logf("measured capacity: %.0f records/s (%s)", capacity, st)

	// Overload: twice the capacity, open loop, round-robin over venues.
	dur := 5 * time.Second
	if long() {
		dur = 60 * time.Second
	}
	rate := 2 * capacity / per // batches per second
	interval := time.Duration(float64(time.Second) / rate)
	ctx, cancel = context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		mu        sync.Mutex
		codes     = map[int]int{}
		noRetry   int
		netErrs   int
		wg        sync.WaitGroup
		inflight  atomic.Int64
		peakRSSKB int
		peakHeap  float64
		peakLive  float64
		accepted  int
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	sample := time.NewTicker(250 * time.Millisecond)
	defer sample.Stop()
	start := time.Now()
	recStart := start.Add(-20 * time.Minute)
	for n := 0; ctx.Err() == nil; {
		select {
		case <-ctx.Done():
			continue
		case <-sample.C:
			peakRSSKB = max(peakRSSKB, s.rssKB("VmRSS"))
			if h, err := strconv.ParseFloat(s.metric(t, "go_memstats_heap_inuse_bytes"), 64); err == nil {
				peakHeap = max(peakHeap, h)
			}
			if h, err := strconv.ParseFloat(s.metric(t, "go_gc_heap_live_bytes"), 64); err == nil {
				peakLive = max(peakLive, h)
			}
			continue
		case <-tick.C:
		}
		// A bound on the client side too, so a stalled server shows up as
		// errors rather than as an ever larger test process.
		if inflight.Load() > 2000 {
			mu.Lock()
			codes[-1]++
			mu.Unlock()
			continue
		}
		v := venues[n%len(venues)]
		n++
		first := int(seq.Add(per)) - per
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			r, err := s.call(context.Background(), "POST", "/api/v1/intake/access-records", v.key, recordBatch(recStart, first, per),
				"Content-Type", "application/json", "Idempotency-Key", fmt.Sprintf("ov-%d", first))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				netErrs++
				return
			}
			codes[r.code]++
			if (r.code == 429 || r.code == 503) && r.header.Get("Retry-After") == "" {
				noRetry++
			}
			if r.code == 200 {
				var ans struct {
					Accepted int `json:"accepted"`
				}
				if json.Unmarshal(r.body, &ans) == nil && ans.Accepted == per {
					keys := make([]string, per)
					for i := range keys {
						keys[i] = v.code + "/" + place(first+i)
					}
					ack.add(keys...)
					accepted += per
				}
			}
		}()
	}
	wg.Wait()
	peakRSSKB = max(peakRSSKB, s.rssKB("VmRSS"))
	hwm := s.rssKB("VmHWM")
	elapsed := time.Since(start)
	t.Logf("offered %.0f records/s for %v: answers %v (-1 = client cap), network errors %d; accepted %.0f records/s; peak RSS %d MiB (VmHWM %d MiB), peak Go heap %.0f MiB in use, %.0f MiB live",
		rate*per, dur, codes, netErrs, float64(accepted)/elapsed.Seconds(), peakRSSKB/1024, hwm/1024, peakHeap/(1<<20), peakLive/(1<<20))
	if !s.alive() {
		t.Fatalf("serve died under overload:\n%s", tail(s.logText(), 2000))
	}
	if codes[429]+codes[503] == 0 {
		t.Errorf("no 429 or 503 at twice the capacity: intake queues instead of telling clients to slow down (answers %v)", codes)
	}
	if noRetry > 0 {
		t.Errorf("%d 429/503 answers without Retry-After", noRetry)
	}
	for code, n := range codes {
		if code >= 500 && code != 503 {
			t.Errorf("%d answers %d under overload", n, code)
		}
	}
	if netErrs > 0 {
		t.Errorf("%d requests failed at the connection level (dropped instead of refused)", netErrs)
	}
	// The RSS also counts chDB's caches, which grow with the data stored,
	// not with the overload; the Go heap is bounded by design: the journal
	// keeps each partition's tail segment and two cached ones in memory
	// (4 × 3 × 64 MiB), intake at most 8 batches in flight (× 16 MiB, about
	// three copies each), plus the rest of serve (~256 MiB). Past that,
	// something queues without bound. The bound is on the live heap (what
	// the last collection kept): the in-use heap also holds garbage not yet
	// collected, up to GOGC% of the live heap more, which says when the
	// collector ran, not what serve holds on to. CI once saw 1,478 MiB in
	// use with nothing queued.
	if peakLive == 0 {
		t.Errorf("serve exports no go_gc_heap_live_bytes; the heap bound cannot be checked")
	}
	if limitMiB := 4*3*64 + 8*3*16 + 256.0; peakLive/(1<<20) > limitMiB {
		t.Errorf("peak live Go heap %.0f MiB over %.0f MiB", peakLive/(1<<20), limitMiB)
	}
	n := checkAllStored(t, s, analyst, venues, ack)
	t.Logf("%d acknowledged, %d stored; RSS idle %d MiB, peak %s MiB", ack.len(), n, idleKB/1024, strconv.Itoa(hwm/1024))
}
