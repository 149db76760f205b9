package reports

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestComplianceSection: violations per venue and kind, beside the
// previous period, with the mean time to resolve; a unit sees its venues
// only. The alerts lie in September 2026 (weeks 36 and 37), outside the
// periods the other tests compute by hand.
func TestComplianceSection(t *testing.T) {
	ctx := context.Background()
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	type row struct {
		ID          string     `json:"id"`
		Rule        string     `json:"rule"`
		Kind        string     `json:"kind"`
		DedupKey    string     `json:"dedup_key"`
		Severity    string     `json:"severity"`
		Unit        string     `json:"unit"`
		State       string     `json:"state"`
		OpenedAt    time.Time  `json:"opened_at"`
		LastSeen    time.Time  `json:"last_seen"`
		ResolvedAt  *time.Time `json:"resolved_at"`
		Occurrences uint32     `json:"occurrences"`
		Version     uint64     `json:"version"`
	}
	res := func(s string) *time.Time { v := at(s); return &v }
	rows := []row{
		// W37 (7-13 Sep): V1 minors 3 + 2, one resolved after 30 min, one open; V1 shared card 1; V5 minors 4.
		{ID: "cpt-1", Rule: "compliance-minor-cafe", DedupKey: "venue:V1/20260908T1400", OpenedAt: at("2026-09-08 14:05"), State: "resolved", ResolvedAt: res("2026-09-08 14:35"), Occurrences: 3},
		{ID: "cpt-2", Rule: "compliance-minor-cafe", DedupKey: "venue:V1/20260909T2000", OpenedAt: at("2026-09-09 20:10"), State: "open", Occurrences: 2},
		{ID: "cpt-3", Rule: "compliance-shared-id", DedupKey: "venue:V1/20260910T1000", OpenedAt: at("2026-09-10 10:00"), State: "resolved", ResolvedAt: res("2026-09-10 12:00"), Occurrences: 1},
		{ID: "cpt-4", Rule: "compliance-minor-cafe", DedupKey: "venue:V5/20260911T1500", OpenedAt: at("2026-09-11 15:00"), State: "open", Occurrences: 4},
		// W36 (31 Aug-6 Sep): V1 minors 1, resolved after 2 h.
		{ID: "cpt-5", Rule: "compliance-minor-cafe", DedupKey: "venue:V1/20260902T0900", OpenedAt: at("2026-09-02 09:00"), State: "resolved", ResolvedAt: res("2026-09-02 11:00"), Occurrences: 1},
		// Not compliance: left out.
		{ID: "cpt-6", Rule: "demo-venue-silent", DedupKey: "venue:V1", OpenedAt: at("2026-09-08 09:00"), State: "open", Occurrences: 1},
	}
	for i := range rows {
		rows[i].Kind, rows[i].Severity, rows[i].Unit, rows[i].LastSeen, rows[i].Version = "compliance", "critical", "x", rows[i].OpenedAt, 1
		if rows[i].ID == "cpt-6" {
			rows[i].Kind = "flatline"
		}
	}
	if err := testDB.Insert(ctx, "netpulse.alerts", rows); err != nil {
		t.Fatal(err)
	}
	r, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(ctx, Week(2026, 37), "", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		venue, rule       string
		cur, prev         float64
		resolve, prevResl any
	}
	var got []line
	for _, c := range r.Compliance {
		got = append(got, line{c.Venue, c.Rule, c.Violations, c.Previous, fmtPtr(c.ResolveSeconds), fmtPtr(c.PreviousResolveSeconds)})
	}
	want := []line{
		{"V1", "compliance-minor-cafe", 5, 1, 1800.0, 7200.0},
		{"V5", "compliance-minor-cafe", 4, 0, nil, nil},
		{"V1", "compliance-shared-id", 1, 0, 7200.0, nil},
	}
	if len(got) != len(want) {
		t.Fatalf("compliance = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A unit sees only its venues (V5 belongs to another unit).
	u, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(ctx, Week(2026, 37), "城关派出所", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range u.Compliance {
		if c.Venue == "V5" {
			t.Errorf("unit report lists another unit's venue: %+v", c)
		}
	}
	// Every format shows the section.
	for _, lang := range []string{"zh-CN", "en"} {
		cats, err := loadCatalogues()
		if err != nil {
			t.Fatal(err)
		}
		v := newView(r, lang, cats[lang])
		var csv, pdf bytes.Buffer
		if err := writeCSV(&csv, v); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(csv.String(), cats[lang].Text("check.compliance-minor-cafe")) {
			t.Errorf("%s CSV lacks the compliance section", lang)
		}
		if err := writePDF(&pdf, v); err != nil {
			t.Fatalf("%s PDF: %v", lang, err)
		}
	}
}
