package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchTiny runs every bench stage at the tiny scale and checks that each
// figure is present and positive. It asserts no speed.
func TestBenchTiny(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout bytes.Buffer
	if err := runBench(context.Background(), []string{"--scale", "tiny", "--json", out, "--data", t.TempDir()}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
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
		if !bytes.Contains(stdout.Bytes(), []byte(st.name)) {
			t.Errorf("printed table lacks stage %s", st.name)
		}
	}
}
