package reports

import (
	"io"
	"strconv"

	"github.com/netpulse/netpulse/csvexport"
)

// safeCell defuses a text cell that a spreadsheet would run as a formula
// (CSV injection): unit names, case references and reasons come from
// people, and a leader opens the file in Excel or WPS (csvexport.Cell).
func safeCell(s string) string { return csvexport.Cell(s) }

func numCell(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

func numv(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// writeCSV writes the report as blocks of rows, each block headed by its
// title; numbers are raw (shares as fractions, durations in seconds) so
// that the file can be computed on. A UTF-8 byte-order mark comes first,
// which Excel needs to read Chinese text correctly.
func writeCSV(w io.Writer, v *view) error {
	cw, err := csvexport.NewWriter(w, true)
	if err != nil {
		return err
	}
	text := func(cells ...string) []string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = safeCell(c)
		}
		return out
	}
	rows := [][]string{
		text(v.Title),
		text(v.t("period"), v.R.Period, localTime(v.R.From), localTime(v.R.To)),
		text(v.t("previous"), v.R.Previous),
		text(v.t("unit"), v.Scope),
		text(v.t("generated"), localTime(v.R.Generated)),
		nil,
		text("key", v.t("col.figure"), v.t("col.value"), v.t("col.previous"), "num", "den", "format", v.t("col.formula")),
	}
	for _, f := range v.Figures {
		val := numCell(f.RawValue)
		if f.Unavailable {
			val = v.t("unavailable")
		}
		rows = append(rows, append([]string{f.Key}, text(f.Label, val, numCell(f.RawPrevious), numCell(f.RawNum), numCell(f.RawDen), f.Format, f.Formula)...))
	}
	rows = append(rows, nil, text(v.t("section.reasons")), text(v.t("col.field"), v.t("col.reason"), v.t("col.count"), v.t("col.previous")))
	for _, r := range v.R.Reasons {
		rows = append(rows, text(r.Field, r.Reason, numv(r.Count), numv(r.Previous)))
	}
	rows = append(rows, nil, text(v.t("section.incidents")), text(v.t("col.venue"), v.t("col.from"), v.t("col.to"), v.t("col.duration")+" (s)", v.t("col.open")))
	for _, in := range v.R.Incidents {
		rows = append(rows, text(in.Venue, localTime(in.From), localTime(in.To), numv(in.Seconds), strconv.Itoa(in.Open)))
	}
	rows = append(rows, nil, text(v.t("section.compliance")), text(v.t("col.venue"), v.t("col.kind"), v.t("col.violations"),
		v.t("col.prev_violations"), v.t("col.resolve")+" (s)", v.t("col.prev_resolve")+" (s)"))
	for _, c := range v.R.Compliance {
		rows = append(rows, text(c.Venue, v.t("check."+c.Rule), numv(c.Violations), numv(c.Previous), numCell(c.ResolveSeconds),
			numCell(c.PreviousResolveSeconds)))
	}
	rows = append(rows, nil, text(v.t("section.cases")), text(v.t("col.case"), v.t("col.searches"), v.t("col.reveals"), v.t("col.refused"), v.t("col.officers"), v.t("col.rows")))
	for _, c := range v.R.Cases {
		rows = append(rows, text(c.CaseRef, numv(c.Searches), numv(c.Reveals), numv(c.Refused), numv(c.Officers), numv(c.Rows)))
	}
	rows = append(rows, nil, text(v.t("section.ranking")), text(v.t("ranking.formula")),
		text(v.t("col.rank"), v.t("unit"), v.t("col.score"), v.t("col.coverage"), v.t("col.share_5m"), v.t("col.valid"),
			v.t("col.registered"), v.t("col.delivering"), v.t("col.records"), v.t("col.prev_rank"), v.t("col.prev_score")))
	for _, u := range v.R.Ranking {
		rows = append(rows, text(strconv.Itoa(u.Rank), u.Unit, numv(u.Score), numv(u.Coverage), numv(u.Share5m), numv(u.ValidShare),
			numv(u.Registered), numv(u.Delivering), numv(u.Records), strconv.Itoa(u.PreviousRank), numv(u.PrevScore)))
	}
	for _, r := range rows {
		// Text cells are defused above; numbers pass as numbers, and a
		// cell that is neither is defused by the writer all the same.
		if err := cw.WriteNumbers(r...); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// csvUnsafe reports whether a cell would start a formula; tests use it.
func csvUnsafe(cell string) bool { return csvexport.Unsafe(cell) }
