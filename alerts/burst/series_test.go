package burst

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestReadSeries(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		n       int
		wantErr string
	}{
		{"nab form", "timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26 21:47:53,100\n", 2, ""},
		{"fraction and T", "timestamp,value\n2015-02-26T21:42:53.000000,1\n2015-02-26T21:47:53Z,2\n", 2, ""},
		{"unix seconds", "timestamp,value\n1700000000,1\n1700000300,0\n", 2, ""},
		{"columns swapped and extra", "value,note,timestamp\n5,x,2015-02-26 21:42:53\n", 1, ""},
		{"bom and blank line", "\ufefftimestamp,value\n2015-02-26 21:42:53,1\n\n2015-02-26 21:47:53,1\n", 2, ""},
		{"header only", "timestamp,value\n", 0, ""},
		{"empty", "", 0, "empty input"},
		{"no value column", "timestamp,count2\n2015-02-26 21:42:53,1\n", 0, "want columns"},
		{"bad time", "timestamp,value\nyesterday,1\n", 0, "line 2"},
		{"negative", "timestamp,value\n2015-02-26 21:42:53,-1\n", 0, "line 2"},
		{"nan", "timestamp,value\n2015-02-26 21:42:53,NaN\n", 0, "finite"},
		{"short row", "timestamp,value\n2015-02-26 21:42:53\n", 0, "line 2"},
		{"out of order", "timestamp,value\n2015-02-26 21:47:53,1\n2015-02-26 21:42:53,1\n", 0, "line 3"},
		{"duplicate", "timestamp,value\n2015-02-26 21:47:53,1\n2015-02-26 21:47:53,1\n", 0, "not after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := ReadSeries(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != tc.n {
				t.Fatalf("%d points, want %d", len(pts), tc.n)
			}
		})
	}
}

// TestEvalGolden pins the whole eval output for a small seasonal series
// with one burst: exactly one alert, at the burst.
func TestEvalGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "spike.csv"))
	if err != nil {
		t.Fatal(err)
	}
	pts, err := ReadSeries(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	res := Run(pts)
	var out bytes.Buffer
	if err := WriteAlerts(&out, pts, res); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "spike.golden.csv")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("eval output differs from %s (run with -update after an intended change)", golden)
	}
	var alerts []string
	for i, r := range res {
		if r.Alert {
			alerts = append(alerts, pts[i].Raw)
		}
	}
	if len(alerts) != 1 || alerts[0] != "2026-03-04 08:20:00" {
		t.Errorf("alerts at %v, want one at 2026-03-04 08:20:00", alerts)
	}
}

// FuzzReadSeries checks that the parser never panics and that whatever it
// accepts survives a write and re-read unchanged.
func FuzzReadSeries(f *testing.F) {
	f.Add([]byte("timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26 21:47:53,100\n"))
	f.Add([]byte("value,timestamp\n1,1700000000\n2,1700000300\n"))
	f.Add([]byte("timestamp,value\n\"2015-02-26 21:42:53\",1e3\n"))
	f.Add([]byte("timestamp,value\n2015-02-26T21:42:53+08:00,0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pts, err := ReadSeries(bytes.NewReader(in))
		if err != nil {
			return
		}
		res := Run(pts)
		var out bytes.Buffer
		if err := WriteAlerts(&out, pts, res); err != nil {
			t.Fatal(err)
		}
		again, err := ReadSeries(&out)
		if err != nil {
			t.Fatalf("re-read of our own output: %v", err)
		}
		if len(again) != len(pts) {
			t.Fatalf("re-read %d points, wrote %d", len(again), len(pts))
		}
		for i := range pts {
			if !again[i].Time.Equal(pts[i].Time) || again[i].Value != pts[i].Value {
				t.Fatalf("point %d changed: %+v -> %+v", i, pts[i], again[i])
			}
		}
	})
}
