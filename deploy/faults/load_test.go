package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loadReport mirrors deploy/dev/load's JSON report.
type loadReport struct {
	DurationS float64 `json:"duration_s"`
	Kinds     map[string]struct {
		Requests   int     `json:"requests"`
		OK         int     `json:"ok"`
		Shed       int     `json:"shed_429_503"`
		Errors     int     `json:"errors"`
		ErrorRate  float64 `json:"error_rate"`
		PerSecond  float64 `json:"ok_per_second"`
		RecordsSec float64 `json:"records_per_second"`
		P99ms      float64 `json:"p99_ms"`
		LastError  string  `json:"last_error"`
	} `json:"kinds"`
	SSEEvents    int64   `json:"sse_events"`
	SSEConnected int64   `json:"sse_connected"`
	PeakRSSMiB   float64 `json:"server_peak_rss_mib"`
}

// TestLoad drives intake, post search and the alert board's stream
// together from a second process (deploy/dev/load) against serve --demo,
// and reports throughput, error rate, p99 latency and peak memory. It
// fails on errors (not on shed load) and on a stream that never connects.
func TestLoad(t *testing.T) {
	data := t.TempDir()
	venues := registerVenues(t, data, "LD-", 8)
	analyst := addUser(t, data, "ld-analyst", "analyst")
	duty := addUser(t, data, "ld-duty", "duty")
	s := startServer(t, data, "--demo")
	loadBin := filepath.Join(binDir, "load")
	build := exec.Command("go", "build", "-o", loadBin, "./deploy/dev/load")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build load: %v\n%s", err, out)
	}
	keys := make([]string, len(venues))
	for i, v := range venues {
		keys[i] = v.key
	}
	dur := "15s"
	if long() {
		dur = "120s"
	}
	out := filepath.Join(t.TempDir(), "load.json")
	cmd := exec.Command(loadBin, "--server", s.base, "--venue-keys", strings.Join(keys, ","), "--analyst", analyst, "--duty", duty,
		"--duration", dur, "--intake-workers", "8", "--search-workers", "4", "--streams", "4",
		"--pid", fmt.Sprint(s.cmd.Process.Pid), "--json", out)
	cmd.Dir = moduleRoot()
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("load: %v\n%s", err, text)
	}
	t.Logf("\n%s", text)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"intake", "search"} {
		s := rep.Kinds[k]
		if s.OK == 0 {
			t.Errorf("%s: nothing succeeded (%+v)", k, s)
		}
		if s.ErrorRate > 0.01 {
			t.Errorf("%s: error rate %.2f%% (last: %s)", k, 100*s.ErrorRate, s.LastError)
		}
	}
	if rep.SSEConnected < 4 {
		t.Errorf("alert board streams connected %d times, want at least 4", rep.SSEConnected)
	}
	if !s.alive() {
		t.Fatalf("serve died under load:\n%s", tail(s.logText(), 2000))
	}
}
