package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchTiny runs every bench stage at the tiny scale and checks that each
// figure is present and positive. It asserts no speed.
//
// The bench runs in a child process, as `netpulse bench` does: it opens the
// process's one chDB engine and registers the jieba analysers, which other
// tests of this package (serve) also do, and its peak-memory figures must
// not include theirs.
// testDefaults are serve's shipped batch settings (cmd/netpulse's config).
var testDefaults = Defaults{BatchRows: 5000, BatchDelay: 200 * time.Millisecond, Location: time.FixedZone("CST", 8*3600)}

func TestBenchTiny(t *testing.T) {
	if out := os.Getenv("NETPULSE_BENCH_TINY_OUT"); out != "" {
		var stdout bytes.Buffer
		if err := Run(context.Background(), []string{"--scale", "tiny", "--json", out + ".json", "--data", t.TempDir()}, &stdout, io.Discard, testDefaults); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out+".txt", stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	out := filepath.Join(t.TempDir(), "bench")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchTiny$", "-test.v")
	cmd.Env = append(os.Environ(), "NETPULSE_BENCH_TINY_OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench child: %v\n%s", err, b)
	}
	stdout, err := os.ReadFile(out + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rows []benchRow `json:"rows"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	stages := map[string]bool{}
	for _, r := range got.Rows {
		stages[r.Stage] = true
		if r.Value <= 0 || r.PeakRSSMiB <= 0 {
			t.Errorf("%s / %s: value %v, peak RSS %v: want both positive", r.Stage, r.Metric, r.Value, r.PeakRSSMiB)
		}
		if r.Ceiling != "" && (r.CeilingVal <= 0 || r.Ratio <= 0) {
			t.Errorf("%s / %s: ceiling %q has value %v ratio %v", r.Stage, r.Metric, r.Ceiling, r.CeilingVal, r.Ratio)
		}
	}
	for _, st := range benchStages() {
		if !stages[st.name] {
			t.Errorf("stage %s produced no row", st.name)
		}
		if !bytes.Contains(stdout, []byte(st.name)) {
			t.Errorf("printed table lacks stage %s", st.name)
		}
	}
	// Every documented figure of each stage, by its metric's start.
	for _, want := range []struct{ stage, metric string }{
		{"intake", "HTTP → stored"}, {"posts", "tokenise → store → index → term counts"},
		{"search", "term query p50"}, {"search", "phrase query p95"}, {"search", "filtered query p99"},
		{"search", "faceted query p50"}, {"search", "index build"}, {"search", "index size on disk"},
		{"alerts", "bucket pass"}, {"alerts", "burst first post → topic alert"},
	} {
		found := false
		for _, r := range got.Rows {
			if r.Stage == want.stage && bytes.HasPrefix([]byte(r.Metric), []byte(want.metric)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s row %q", want.stage, want.metric)
		}
	}
}
