package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrendsEval runs the command as scripts do: same rows, in order, with
// score and alert appended, and exactly one alert for the one burst.
func TestTrendsEval(t *testing.T) {
	in := filepath.Join("..", "..", "alerts", "burst", "testdata", "spike.csv")
	out := filepath.Join(t.TempDir(), "alerts.csv")
	var stderr bytes.Buffer
	if err := runTrends(context.Background(), []string{"eval", "--in", in, "--out", out}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("trends eval: %v (%s)", err, stderr.String())
	}
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	inRows, err := csv.NewReader(bytes.NewReader(src)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	outRows, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(outRows) != len(inRows) {
		t.Fatalf("%d output rows for %d input rows", len(outRows), len(inRows))
	}
	if strings.Join(outRows[0], ",") != "timestamp,value,score,alert" {
		t.Fatalf("header %v", outRows[0])
	}
	alerts := 0
	for i := 1; i < len(outRows); i++ {
		if outRows[i][0] != inRows[i][0] || outRows[i][1] != inRows[i][1] {
			t.Fatalf("row %d: %v does not repeat input %v", i, outRows[i], inRows[i])
		}
		if outRows[i][3] == "1" {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d alerts, want 1", alerts)
	}
}

func TestTrendsEvalErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("timestamp,value\n2026-03-02 00:00:00,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "want subcommand eval"},
		{"missing flags", []string{"eval"}, "required"},
		{"missing input", []string{"eval", "--in", filepath.Join(dir, "none.csv"), "--out", filepath.Join(dir, "o.csv")}, "open input"},
		{"bad row", []string{"eval", "--in", bad, "--out", filepath.Join(dir, "o.csv")}, "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := runTrends(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
