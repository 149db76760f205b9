package reports

import (
	"strings"
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		in         string
		start, end string // CST dates
		prev       string
		err        string
	}{
		{"2026-W47", "2026-11-16", "2026-11-23", "2026-W46", ""},
		{"2026-W01", "2025-12-29", "2026-01-05", "2025-W52", ""},
		{"2026-W53", "2026-12-28", "2027-01-04", "2026-W52", ""}, // 2026 has 53 ISO weeks
		{"2027-W01", "2027-01-04", "2027-01-11", "2026-W53", ""},
		{"2026-11", "2026-11-01", "2026-12-01", "2026-10", ""},
		{"2026-01", "2026-01-01", "2026-02-01", "2025-12", ""},
		{"2026-W54", "", "", "", "week must be"},
		{"2025-W53", "", "", "", "week must be"},
		{"2026-13", "", "", "", "month must be"},
		{"2026-1", "", "", "", "month must be"},
		{"26-11", "", "", "", "want YYYY"},
		{"2026W47", "", "", "", "want YYYY"},
		{"2026-W+1", "", "", "", "want YYYY"},
		{"", "", "", "", "want YYYY"},
		{"1999-01", "", "", "", "year must be"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePeriod(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Start.Format("2006-01-02"); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if got := p.End.Format("2006-01-02"); got != tt.end {
				t.Errorf("end = %s, want %s", got, tt.end)
			}
			if got := p.Previous().String(); got != tt.prev {
				t.Errorf("previous = %s, want %s", got, tt.prev)
			}
			if p.String() != tt.in {
				t.Errorf("String = %s, want %s", p.String(), tt.in)
			}
		})
	}
}

func TestCurrentAndLastComplete(t *testing.T) {
	now := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC) // Monday 07:30 CST
	tests := []struct{ kind, current, last string }{
		{"week", "2026-W48", "2026-W47"},
		{"month", "2026-11", "2026-10"},
	}
	for _, tt := range tests {
		if got := Current(tt.kind, now).String(); got != tt.current {
			t.Errorf("Current(%s) = %s, want %s", tt.kind, got, tt.current)
		}
		if got := LastComplete(tt.kind, now).String(); got != tt.last {
			t.Errorf("LastComplete(%s) = %s, want %s", tt.kind, got, tt.last)
		}
	}
}

// FuzzParsePeriod: the period comes from the URL. A parsed period must be
// well formed and print back to what was parsed.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2026-W47", "2026-11", "2026-W", "-", "2026-W+1", "2026--1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeriod(s)
		if err != nil {
			return
		}
		if !p.End.After(p.Start) || p.String() != s {
			t.Fatalf("ParsePeriod(%q) = %+v (%s)", s, p, p.String())
		}
		if d := p.End.Sub(p.Start); d < 7*24*time.Hour || d > 31*24*time.Hour {
			t.Fatalf("ParsePeriod(%q) spans %s", s, d)
		}
	})
}
