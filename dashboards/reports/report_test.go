package reports

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// testConfig is the configuration the hand computations below assume.
func testConfig() Config {
	return Config{SilentAfter: 48 * time.Hour, DefaultAckSLA: 4 * time.Hour,
		AckSLA: map[string]time.Duration{"critical": 15 * time.Minute, "warning": time.Hour}}
}

// fixedNow is after the fixture weeks, so nothing depends on the clock.
var fixedNow = time.Date(2026, 11, 29, 9, 0, 0, 0, cst)

func buildFixture(t testing.TB, unit string) *Report {
	t.Helper()
	r, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(context.Background(), Week(2026, 47), unit, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func fmtPtr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Each expected value is worked out by hand from testdata/*.jsonl for
// 2026-W47 (16-23 Nov CST) against 2026-W46, with a 48 h silence threshold.
// The arithmetic is in the comments.
func TestFiguresDistrict(t *testing.T) {
	r := buildFixture(t, "")
	tests := []struct {
		key       string
		cur, prev float64
		why       string
	}{
		// V1..V5 and V7 registered (V6 revoked in its latest sync);
		// W47 V1 V2 V3 V4 sent something, W46 V1 V2 V4.
		{"coverage", 4.0 / 6, 3.0 / 6, "delivering / registered"},
		{"venues_registered", 6, 6, ""},
		{"venues_delivering", 4, 3, ""},
		// r1..r8 land in W47 (r8's closing version arrived 16 Nov 08:00 and
		// replaced its open one; r4 was sent twice); p1..p3 in W46.
		{"records", 8, 3, ""},
		// W47 delays from the event time: r1 2m, r2 10m, r3 1h after its
		// end, r4 1m, r5 1m, r6 4m, r7 5m (inclusive), r8 2m after its
		// end → 6 of 8. W46: p1 1m, p2 2h, p3 3m → 2 of 3.
		{"within_5m", 6.0 / 8, 2.0 / 3, ""},
		{"within_24h", 1, 1, ""},
		// quarantined rows b1 b2 b3 b4 b5 (b2 fixed, still one row) vs b0.
		{"valid_share", 8.0 / 13, 3.0 / 4, "accepted / (accepted + quarantined rows)"},
		{"rejected_rows", 5, 1, ""},
		// Gaps over 48 h clipped to each week: W47 V1 10h02m + 98h50m,
		// V2 12h01m + 155h29m (open), V3 80h56m (open), V4 8h + 156h05m.
		{"silent_incidents", 7, 4, ""},
		{"silent_venues", 4, 3, ""},
		{"silent_duration", 36120 + 355800 + 43260 + 559740 + 291360 + 28800 + 561900, 482340 + 216000 + 388800 + 309420, ""},
		{"silent_longest", 561900, 482340, ""},
		// posts c1 c2 (fetched twice, one row) c3 f1 f2 from two sources.
		{"sources_active", 2, 1, ""},
		{"posts_collected", 5, 2, ""},
		{"crawl_success", 4.0 / 5, 1.0 / 2, ""},
		// a1..a4 (a5 inhibited); a1 acked in 10m (critical, 15m SLA),
		// a2 in 20m (late), a3 in 30m (warning, 60m), a4 never.
		{"alerts_raised", 4, 1, ""},
		{"alerts_acked_in_sla", 2.0 / 4, 1, ""},
		{"alerts_mtta", (600 + 1200 + 1800) / 3.0, 300, ""},
		{"alerts_mttr", (3600 + 7200) / 2.0, 2100, ""},
		{"alerts_precision", 2.0 / 3, 1, "useful / (useful + noise)"},
		// audit seq 2 3 4 5 7 (6 is a login); cases 001 and +002 (7 has none).
		{"pd_searches", 5, 1, ""},
		{"pd_cases", 2, 1, ""},
		{"pd_reveals", 2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			f, ok := r.Figure(tt.key)
			if !ok {
				t.Fatalf("no figure %s", tt.key)
			}
			if f.Unavailable != "" {
				t.Fatalf("unavailable: %s", f.Unavailable)
			}
			if f.Value == nil || !near(*f.Value, tt.cur) {
				t.Errorf("value = %v, want %v", fmtPtr(f.Value), tt.cur)
			}
			if f.Previous == nil || !near(*f.Previous, tt.prev) {
				t.Errorf("previous = %v, want %v", fmtPtr(f.Previous), tt.prev)
			}
		})
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems: %v", r.Problems)
	}
}

func TestFiguresUnit(t *testing.T) {
	r := buildFixture(t, "城关派出所")
	tests := []struct {
		key       string
		cur, prev float64
	}{
		{"coverage", 1, 2.0 / 3},          // V1 V2 V3 / V1 V2 V3; W46 only V1 V2
		{"records", 6, 2},                 // r1..r6; p1 p2
		{"within_5m", 4.0 / 6, 1.0 / 2},   // r1 r4 r5 r6; p1
		{"valid_share", 6.0 / 9, 2.0 / 3}, // b1 b2 b3 quarantined; b0
		{"silent_incidents", 5, 3},        // V1 ×2, V2 ×2, V3; W46 V1, V2 ×2
		{"alerts_raised", 2, 0},           // a1 a2
		{"alerts_mtta", 900, math.NaN()},  // (600 + 1200) / 2; none acked in W46
		{"pd_searches", 4, 0},             // seq 2 3 5 by analyst1, 7 by analyst3; seq 1 was analyst2's
		{"pd_cases", 1, 0},                // 案-2026-001 (seq 7 gave none)
		{"pd_reveals", 2, 0},              // seq 3 and 7
	}
	for _, tt := range tests {
		f, _ := r.Figure(tt.key)
		if f.Value == nil || !near(*f.Value, tt.cur) {
			t.Errorf("%s value = %v, want %v", tt.key, fmtPtr(f.Value), tt.cur)
		}
		if math.IsNaN(tt.prev) {
			if f.Previous != nil {
				t.Errorf("%s previous = %v, want none", tt.key, *f.Previous)
			}
		} else if f.Previous == nil || !near(*f.Previous, tt.prev) {
			t.Errorf("%s previous = %v, want %v", tt.key, fmtPtr(f.Previous), tt.prev)
		}
	}
	if _, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(context.Background(), Week(2026, 47), "无此单位", fixedNow); !errors.Is(err, ErrUnknownUnit) {
		t.Errorf("unknown unit: err = %v, want ErrUnknownUnit", err)
	}
}

func TestBreakdowns(t *testing.T) {
	r := buildFixture(t, "")
	wantReasons := []Reason{
		{"id_number", "resident ID check digit mismatch", 2, 1},
		{"kind", `unknown kind "…" (want cafe or hotel)`, 2, 0},
		{"name", "required", 1, 0},
		{"started_at", "more than 5 minutes in the future", 1, 0},
	}
	if len(r.Reasons) != len(wantReasons) {
		t.Fatalf("reasons = %+v", r.Reasons)
	}
	for i, w := range wantReasons {
		if r.Reasons[i] != w {
			t.Errorf("reason %d = %+v, want %+v", i, r.Reasons[i], w)
		}
	}
	// Units ranked by 100 × (0.4 coverage + 0.3 within 5 min + 0.3 valid).
	wantRank := []struct {
		unit        string
		score, prev float64
		prevRank    int
	}{
		{"城关派出所", 80, 61.7, 2}, // 100(0.4·3/3 + 0.3·4/6 + 0.3·6/9); W46 100(0.4·2/3 + 0.3·1/2 + 0.3·2/3)
		{"东湖派出所", 65, 80, 1},   // 100(0.4·1/2 + 0.3·2/2 + 0.3·2/4); W46 100(0.4·1/2 + 0.3 + 0.3)
		{"=cmd|' /C calc'!A0", 0, 0, 3},
	}
	if len(r.Ranking) != len(wantRank) {
		t.Fatalf("ranking = %+v", r.Ranking)
	}
	for i, w := range wantRank {
		got := r.Ranking[i]
		if got.Unit != w.unit || !near(got.Score, w.score) || !near(got.PrevScore, w.prev) || got.PreviousRank != w.prevRank || got.Rank != i+1 {
			t.Errorf("rank %d = %+v, want %+v", i+1, got, w)
		}
	}
	if len(r.Incidents) != 7 || r.Incidents[0].Venue != "V4" || r.Incidents[0].Seconds != 561900 || r.Incidents[1].Open != 1 {
		t.Errorf("incidents = %+v", r.Incidents)
	}
	if len(r.Cases) != 3 || r.Cases[0].CaseRef != "案-2026-001" || r.Cases[0].Searches != 3 || r.Cases[0].Rows != 4 || r.Cases[1].Refused != 1 {
		t.Errorf("cases = %+v", r.Cases)
	}
	if len(r.Daily) != 7 || r.Daily[0].Records != 4 || r.Daily[1].Alerts != 1 || r.Daily[2].Share5m != nil {
		t.Errorf("daily = %+v", r.Daily)
	}
}

// TestPeriodInProgress: a venue still silent when the report is drawn is
// silent until now, not until the end of a period that has not happened.
func TestPeriodInProgress(t *testing.T) {
	now := time.Date(2026, 11, 22, 21, 0, 0, 0, cst) // after the last fixture record, before the week ends
	r, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(context.Background(), Week(2026, 47), "", now)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := r.Figure("silent_duration")
	// V2 and V3 are open: each ends 3 h (21:00 instead of midnight) sooner.
	if want := 1876980.0 - 2*3*3600; f.Value == nil || *f.Value != want {
		t.Errorf("silent duration = %v, want %v", fmtPtr(f.Value), want)
	}
	for _, in := range r.Incidents {
		if in.Open == 1 && !in.To.Equal(now) {
			t.Errorf("open incident %+v ends at %s, want now", in, in.To)
		}
	}
}

// TestMonth: November 2026 holds both fixture weeks and s1 (1 Nov);
// October holds nothing.
func TestMonth(t *testing.T) {
	r, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(context.Background(), Month(2026, 11), "", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key       string
		cur, prev float64
	}{
		{"records", 12, 0},          // s1 p1 p2 p3 r1..r8
		{"within_5m", 9.0 / 12, -1}, // all but p2 r2 r3; no records in October
		{"coverage", 4.0 / 6, 0},    // V1..V4 of six registered
		{"rejected_rows", 6, 0},     // b0..b5
		{"alerts_raised", 5, 0},     // b1 a1..a4
	}
	for _, tt := range tests {
		f, _ := r.Figure(tt.key)
		if f.Value == nil || !near(*f.Value, tt.cur) {
			t.Errorf("%s = %v, want %v", tt.key, fmtPtr(f.Value), tt.cur)
		}
		if tt.prev < 0 {
			if f.Previous != nil {
				t.Errorf("%s previous = %v, want none", tt.key, *f.Previous)
			}
		} else if f.Previous == nil || !near(*f.Previous, tt.prev) {
			t.Errorf("%s previous = %v, want %v", tt.key, fmtPtr(f.Previous), tt.prev)
		}
	}
	if len(r.Daily) != 30 {
		t.Errorf("%d daily points, want 30", len(r.Daily))
	}
}

// TestGroupsStandTogether: the HTML and the PDF print a group heading
// where the group changes, so each group's figures must be contiguous.
func TestGroupsStandTogether(t *testing.T) {
	done := map[string]bool{}
	last := ""
	for _, s := range sections() {
		if s.group != last {
			if done[s.group] {
				t.Errorf("group %s is split: its heading would appear twice", s.group)
			}
			done[last] = true
			last = s.group
		}
	}
}
