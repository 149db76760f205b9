// Command load drives a running netpulse from a second process: venue
// intake, post search and alert-board streams (SSE) together, for a
// bounded time. It reports throughput, error rate and latency percentiles
// per kind of request, and the server's peak memory.
//
//	go run ./deploy/dev/load --server http://127.0.0.1:8080 \
//	   --venue-keys K1,K2 --analyst TOKEN --duty TOKEN --duration 30s [--pid N] [--json out.json]
//
// 429 and 503 answers with Retry-After are counted as shed, not as errors:
// they are the server asking to slow down, and the generator does.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netpulse/netpulse/privacy/identity"
)

type options struct {
	server, analyst, duty, jsonOut string
	venueKeys                      []string
	duration                       time.Duration
	intakeWorkers, batch           int
	searchWorkers, streams, pid    int
}

// kindStats gathers one kind of request.
type kindStats struct {
	mu      sync.Mutex
	lat     []time.Duration
	ok      int
	shed    int
	errs    int
	records int
	lastErr string
}

func (k *kindStats) note(d time.Duration, code int, err error, records int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case err != nil:
		k.errs++
		k.lastErr = err.Error()
	case code == 429 || code == 503:
		k.shed++
	case code >= 200 && code < 300:
		k.ok++
		k.records += records
		k.lat = append(k.lat, d)
	default:
		k.errs++
		k.lastErr = "HTTP " + strconv.Itoa(code)
	}
}

// Summary is one kind's result, as printed and written to --json.
type Summary struct {
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	Shed       int     `json:"shed_429_503"`
	Errors     int     `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	PerSecond  float64 `json:"ok_per_second"`
	Records    int     `json:"records,omitempty"`
	RecordsSec float64 `json:"records_per_second,omitempty"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	LastError  string  `json:"last_error,omitempty"`
}

func (k *kindStats) summary(elapsed time.Duration) Summary {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := Summary{OK: k.ok, Shed: k.shed, Errors: k.errs, Requests: k.ok + k.shed + k.errs, Records: k.records, LastError: k.lastErr}
	if s.Requests > 0 {
		s.ErrorRate = float64(k.errs) / float64(s.Requests)
	}
	s.PerSecond = float64(k.ok) / elapsed.Seconds()
	s.RecordsSec = float64(k.records) / elapsed.Seconds()
	if len(k.lat) > 0 {
		slices.Sort(k.lat)
		q := func(p float64) float64 {
			return float64(k.lat[min(len(k.lat)-1, int(p*float64(len(k.lat))))].Microseconds()) / 1000
		}
		s.P50ms, s.P99ms, s.MaxMs = q(0.50), q(0.99), float64(k.lat[len(k.lat)-1].Microseconds())/1000
	}
	return s
}

// Report is the whole run.
type Report struct {
	DurationS     float64            `json:"duration_s"`
	Kinds         map[string]Summary `json:"kinds"`
	SSEEvents     int64              `json:"sse_events"`
	SSEConnected  int64              `json:"sse_connected"`
	PeakRSSMiB    float64            `json:"server_peak_rss_mib"`
	PeakRSSSource string             `json:"server_peak_rss_source"`
}

func main() {
	var o options
	var keys string
	flag.StringVar(&o.server, "server", "http://127.0.0.1:8080", "netpulse base URL")
	flag.StringVar(&keys, "venue-keys", "", "comma-separated venue API keys (one intake worker per key, round robin)")
	flag.StringVar(&o.analyst, "analyst", "", "analyst token for post search")
	flag.StringVar(&o.duty, "duty", "", "duty token for the alert-board stream")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long to drive the server")
	flag.IntVar(&o.intakeWorkers, "intake-workers", 8, "concurrent intake clients")
	flag.IntVar(&o.batch, "batch", 200, "records per intake batch")
	flag.IntVar(&o.searchWorkers, "search-workers", 4, "concurrent search clients")
	flag.IntVar(&o.streams, "streams", 4, "alert-board SSE connections held open")
	flag.IntVar(&o.pid, "pid", 0, "server process id, to read its peak RSS (VmHWM); else /metrics is sampled")
	flag.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
	flag.Parse()
	for _, k := range strings.Split(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			o.venueKeys = append(o.venueKeys, k)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	printReport(os.Stdout, rep)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
	}
}

func printReport(w io.Writer, r Report) {
	fmt.Fprintf(w, "load: %.0fs; server peak RSS %.0f MiB (%s); SSE %d connected, %d events\n",
		r.DurationS, r.PeakRSSMiB, r.PeakRSSSource, r.SSEConnected, r.SSEEvents)
	fmt.Fprintf(w, "%-8s %9s %8s %7s %7s %9s %11s %8s %8s\n", "kind", "requests", "ok/s", "shed", "errors", "err rate", "records/s", "p50 ms", "p99 ms")
	for _, k := range []string{"intake", "search"} {
		s := r.Kinds[k]
		fmt.Fprintf(w, "%-8s %9d %8.1f %7d %7d %8.2f%% %11.0f %8.1f %8.1f\n", k, s.Requests, s.PerSecond, s.Shed, s.Errors, 100*s.ErrorRate, s.RecordsSec, s.P50ms, s.P99ms)
	}
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func run(ctx context.Context, o options) (Report, error) {
	if len(o.venueKeys) == 0 || o.analyst == "" || o.duty == "" {
		return Report{}, errors.New("--venue-keys, --analyst and --duty are required")
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	intake, search := &kindStats{}, &kindStats{}
	var events, connected atomic.Int64
	var peak atomic.Int64 // bytes
	var wg sync.WaitGroup
	start := time.Now()
	go sampleMemory(ctx, o, &peak)
	var seq atomic.Int64
	for w := 0; w < o.intakeWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			intakeLoop(ctx, o, o.venueKeys[w%len(o.venueKeys)], w, &seq, intake)
		}()
	}
	for w := 0; w < o.searchWorkers; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); searchLoop(ctx, o, w, search) }()
	}
	for w := 0; w < o.streams; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); streamLoop(ctx, o, &connected, &events) }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rep := Report{DurationS: elapsed.Seconds(), Kinds: map[string]Summary{"intake": intake.summary(elapsed), "search": search.summary(elapsed)},
		SSEEvents: events.Load(), SSEConnected: connected.Load()}
	if o.pid > 0 {
		if kb := statusKB(o.pid, "VmHWM"); kb > 0 {
			rep.PeakRSSMiB, rep.PeakRSSSource = float64(kb)/1024, "VmHWM"
		}
	}
	if rep.PeakRSSSource == "" {
		rep.PeakRSSMiB, rep.PeakRSSSource = float64(peak.Load())/(1<<20), "sampled process_resident_memory_bytes"
	}
	return rep, nil
}

func intakeLoop(ctx context.Context, o options, key string, w int, seq *atomic.Int64, st *kindStats) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		first := int(seq.Add(int64(o.batch))) - o.batch
		var b bytes.Buffer
		b.WriteByte('[')
		now := time.Now().UTC()
		for i := 0; i < o.batch; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			n := first + i
			j, _ := json.Marshal(map[string]string{"kind": "cafe", "place": fmt.Sprintf("L%07d", n), "id_type": "resident_id",
				"id_number": identity.Synthetic("420199", rng.IntN(5000)), "name": "负载测试",
				"started_at": now.Add(-time.Duration(rng.IntN(3600)) * time.Second).Format(time.RFC3339)})
			b.Write(j)
		}
		b.WriteByte(']')
		req, _ := http.NewRequestWithContext(ctx, "POST", o.server+"/api/v1/intake/access-records", &b)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if ctx.Err() != nil {
			return
		}
		code, wait := 0, time.Duration(0)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra > 0 && (code == 429 || code == 503) {
				wait = time.Duration(ra) * time.Second
			}
		}
		st.note(time.Since(t0), code, err, o.batch)
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

var queries = []string{"火灾", "诈骗", "地铁 暴雨", "\"交通事故\"", "停电 -演唱会", "source:demo-news", "学校", "医院 招聘", "外卖", "物价"}

func searchLoop(ctx context.Context, o options, w int, st *kindStats) {
	for i := w; ctx.Err() == nil; i++ {
		q := queries[i%len(queries)]
		sort := []string{"relevance", "time"}[i%2]
		u := fmt.Sprintf("%s/api/v1/search/posts?q=%s&sort=%s&page=%d", o.server, urlQuery(q), sort, 1+i%3)
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+o.analyst)
		t0 := time.Now()
		resp, err := client.Do(req)
		if ctx.Err() != nil {
			return
		}
		code := 0
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		st.note(time.Since(t0), code, err, 0)
	}
}

func urlQuery(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// streamLoop holds an alert-board stream open, reconnecting when it drops,
// and counts its events.
func streamLoop(ctx context.Context, o options, connected, events *atomic.Int64) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", o.server+"/api/v1/alerts/stream", nil)
		req.Header.Set("Authorization", "Bearer "+o.duty)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		ok := resp.StatusCode == 200
		if ok {
			connected.Add(1)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data:") {
					events.Add(1)
				}
			}
		}
		resp.Body.Close()
		if !ok {
			select { // refused: do not hammer the server with reconnects
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func sampleMemory(ctx context.Context, o options, peak *atomic.Int64) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var b int64
		if o.pid > 0 {
			b = int64(statusKB(o.pid, "VmRSS")) << 10
		} else if resp, err := client.Get(o.server + "/metrics"); err == nil {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
					f, _ := strconv.ParseFloat(v, 64)
					b = int64(f)
				}
			}
			resp.Body.Close()
		}
		if b > peak.Load() {
			peak.Store(b)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func statusKB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
