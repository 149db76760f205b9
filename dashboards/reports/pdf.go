package reports

import (
	"fmt"
	"io"
	"strconv"

	"github.com/go-pdf/fpdf"

	"github.com/netpulse/netpulse/deploy/fonts"
)

// The PDF is drawn with go-pdf/fpdf and the TrueType CJK font shipped in
// deploy/fonts, which fpdf embeds as a subset of the glyphs used. Drawing it
// in Go, rather than printing the HTML page in headless Chromium, keeps a
// browser off the server: a leader's download costs a few milliseconds and
// no 200 MB process, and serve runs where no Chromium is installed.

const (
	pdfFont   = "cjk"
	pageW     = 210.0
	marginL   = 15.0
	contentW  = pageW - 2*marginL
	lineH     = 6.0
	smallLine = 4.5
)

func writePDF(w io.Writer, v *view) error {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetMargins(marginL, 15, marginL)
	p.SetAutoPageBreak(true, 15)
	p.AddUTF8FontFromBytes(pdfFont, "", fonts.ReportTTF())
	if err := p.Error(); err != nil {
		return fmt.Errorf("report pdf font: %w", err)
	}
	p.SetTitle(v.Title, true)
	p.SetCreator("netpulse", true)
	p.SetFooterFunc(func() {
		p.SetY(-12)
		p.SetFont(pdfFont, "", 8)
		p.SetTextColor(120, 120, 120)
		p.CellFormat(0, 5, v.t("page", p.PageNo())+"  ·  "+v.Title, "", 0, "C", false, 0, "")
	})
	p.AddPage()

	p.SetFont(pdfFont, "", 16)
	p.SetTextColor(0, 0, 0)
	p.MultiCell(contentW, 8, v.Title, "", "L", false)
	p.SetFont(pdfFont, "", 9)
	p.SetTextColor(80, 80, 80)
	p.MultiCell(contentW, smallLine, fmt.Sprintf("%s %s – %s（%s %s）   %s %s",
		v.t("period"), localTime(v.R.From), localTime(v.R.To), v.t("previous"), v.R.Previous,
		v.t("generated"), localTime(v.R.Generated)), "", "L", false)
	p.Ln(3)

	// Headline figures, grouped, each followed by its formula.
	cols := []float64{62, 30, 30, 58}
	group := ""
	for _, f := range v.Figures {
		if f.Group != group {
			group = f.Group
			p.Ln(1)
			p.SetFont(pdfFont, "", 11)
			p.SetFillColor(230, 236, 245)
			p.SetTextColor(0, 0, 0)
			p.CellFormat(contentW, 7, f.GroupLabel, "", 1, "L", true, 0, "")
			p.SetFont(pdfFont, "", 8)
			p.SetTextColor(100, 100, 100)
			for i, h := range []string{v.t("col.figure"), v.t("col.value"), v.t("col.previous"), v.t("col.change")} {
				p.CellFormat(cols[i], 5, h, "B", 0, "L", false, 0, "")
			}
			p.Ln(-1)
		}
		p.SetFont(pdfFont, "", 10)
		p.SetTextColor(0, 0, 0)
		for i, c := range []string{f.Label, f.Value, f.Previous, f.Change} {
			p.CellFormat(cols[i], lineH, c, "", 0, "L", false, 0, "")
		}
		p.Ln(-1)
		p.SetFont(pdfFont, "", 7.5)
		p.SetTextColor(110, 110, 110)
		formula := f.Formula
		if f.Basis != "" {
			formula += "  = " + f.Basis
		}
		p.SetX(marginL + 4)
		p.MultiCell(contentW-4, 3.8, formula, "", "L", false)
	}

	drawDailyChart(p, v)

	table(p, v.t("section.ranking"), v.t("ranking.formula"),
		[]string{v.t("col.rank"), v.t("unit"), v.t("col.score"), v.t("col.coverage"), v.t("col.share_5m"), v.t("col.valid"), v.t("col.prev_rank")},
		[]float64{14, 52, 20, 24, 24, 24, 22}, len(v.R.Ranking), func(i int) []string {
			u := v.R.Ranking[i]
			prev := "—"
			if u.PreviousRank > 0 {
				prev = strconv.Itoa(u.PreviousRank)
			}
			return []string{strconv.Itoa(u.Rank), u.Unit, fmt.Sprintf("%.1f", u.Score), pct(u.Coverage), pct(u.Share5m), pct(u.ValidShare), prev}
		}, v.t("none"))
	table(p, v.t("section.reasons"), "", []string{v.t("col.field"), v.t("col.reason"), v.t("col.count"), v.t("col.previous")},
		[]float64{28, 108, 22, 22}, len(v.R.Reasons), func(i int) []string {
			r := v.R.Reasons[i]
			return []string{r.Field, r.Reason, count(r.Count), count(r.Previous)}
		}, v.t("none"))
	table(p, v.t("section.incidents"), v.formula("silent_incidents"), []string{v.t("col.venue"), v.t("col.from"), v.t("col.to"), v.t("col.duration"), v.t("col.open")},
		[]float64{30, 40, 40, 40, 30}, len(v.R.Incidents), func(i int) []string {
			in := v.R.Incidents[i]
			open := ""
			if in.Open == 1 {
				open = v.t("yes")
			}
			return []string{in.Venue, localTime(in.From), localTime(in.To), v.duration(in.Seconds), open}
		}, v.t("none"))
	table(p, v.t("section.compliance"), v.t("compliance.note"), []string{v.t("col.venue"), v.t("col.kind"), v.t("col.violations"),
		v.t("col.prev_violations"), v.t("col.resolve"), v.t("col.prev_resolve")},
		[]float64{26, 54, 22, 22, 28, 28}, len(v.R.Compliance), func(i int) []string {
			c := v.R.Compliance[i]
			return []string{c.Venue, v.t("check." + c.Rule), count(c.Violations), count(c.Previous), v.optDuration(c.ResolveSeconds),
				v.optDuration(c.PreviousResolveSeconds)}
		}, v.t("none"))
	table(p, v.t("section.cases"), "", []string{v.t("col.case"), v.t("col.searches"), v.t("col.reveals"), v.t("col.refused"), v.t("col.officers"), v.t("col.rows")},
		[]float64{60, 24, 24, 24, 24, 24}, len(v.R.Cases), func(i int) []string {
			c := v.R.Cases[i]
			return []string{v.caseRef(c.CaseRef), count(c.Searches), count(c.Reveals), count(c.Refused), count(c.Officers), count(c.Rows)}
		}, v.t("none"))

	if len(v.Problems) > 0 {
		p.Ln(4)
		p.SetFont(pdfFont, "", 8)
		p.SetTextColor(160, 60, 60)
		for _, pr := range v.Problems {
			p.MultiCell(contentW, 4, v.t("problems")+": "+pr, "", "L", false)
		}
	}
	if err := p.Output(w); err != nil {
		return fmt.Errorf("write report pdf: %w", err)
	}
	return nil
}

func table(p *fpdf.Fpdf, title, note string, head []string, widths []float64, n int, row func(int) []string, empty string) {
	p.Ln(4)
	if p.GetY() > 250 {
		p.AddPage()
	}
	p.SetFont(pdfFont, "", 11)
	p.SetTextColor(0, 0, 0)
	p.SetFillColor(230, 236, 245)
	p.CellFormat(contentW, 7, title, "", 1, "L", true, 0, "")
	if note != "" {
		p.SetFont(pdfFont, "", 7.5)
		p.SetTextColor(110, 110, 110)
		p.MultiCell(contentW, 3.8, note, "", "L", false)
	}
	p.SetFont(pdfFont, "", 8)
	p.SetTextColor(100, 100, 100)
	for i, h := range head {
		p.CellFormat(widths[i], 5, h, "B", 0, "L", false, 0, "")
	}
	p.Ln(-1)
	p.SetFont(pdfFont, "", 9)
	p.SetTextColor(0, 0, 0)
	if n == 0 {
		p.CellFormat(contentW, lineH, empty, "", 1, "L", false, 0, "")
	}
	for i := 0; i < n; i++ {
		for j, c := range row(i) {
			// Long text is cut to its column rather than overlapping the next.
			for c != "" && p.GetStringWidth(c) > widths[j]-1 {
				r := []rune(c)
				c = string(r[:len(r)-1])
			}
			p.CellFormat(widths[j], 5.5, c, "", 0, "L", false, 0, "")
		}
		p.Ln(-1)
	}
}

// drawDailyChart draws the daily record counts as bars, the printable
// counterpart of the page's chart.
func drawDailyChart(p *fpdf.Fpdf, v *view) {
	days := v.R.Daily
	if len(days) == 0 {
		return
	}
	const h = 40.0
	p.Ln(4)
	if p.GetY()+h+20 > 280 {
		p.AddPage()
	}
	p.SetFont(pdfFont, "", 11)
	p.SetTextColor(0, 0, 0)
	p.SetFillColor(230, 236, 245)
	p.CellFormat(contentW, 7, v.t("section.daily"), "", 1, "L", true, 0, "")
	top := p.GetY() + 4
	max := 0.0
	for _, d := range days {
		if d.Records > max {
			max = d.Records
		}
	}
	if max == 0 {
		max = 1
	}
	slot := contentW / float64(len(days))
	bar := slot * 0.6
	p.SetDrawColor(180, 180, 180)
	p.Line(marginL, top+h, marginL+contentW, top+h)
	p.SetFont(pdfFont, "", 6.5)
	for i, d := range days {
		x := marginL + float64(i)*slot + (slot-bar)/2
		bh := h * d.Records / max
		p.SetFillColor(84, 112, 198)
		if bh > 0 {
			p.Rect(x, top+h-bh, bar, bh, "F")
		}
		p.SetTextColor(60, 60, 60)
		p.SetXY(x-2, top+h-bh-4)
		p.CellFormat(bar+4, 3.5, count(d.Records), "", 0, "C", false, 0, "")
		if len(days) <= 16 || i%3 == 0 {
			p.SetXY(x-4, top+h+1)
			p.CellFormat(bar+8, 3.5, d.Day[5:], "", 0, "C", false, 0, "")
		}
	}
	p.SetXY(marginL, top+h+6)
}
