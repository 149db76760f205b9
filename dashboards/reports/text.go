package reports

import (
	"embed"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/netpulse/netpulse/dashboards/i18n"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

func loadCatalogues() (map[string]i18n.Catalogue, error) {
	cats, err := i18n.Load(catalogueFS, "i18n")
	if err != nil {
		return nil, fmt.Errorf("report catalogues: %w", err)
	}
	return cats, nil
}

// figureRow is one figure as every output shows it.
type figureRow struct {
	Key, Group, GroupLabel, Label         string
	Value, Previous, Change, Basis        string
	Formula                               string
	Unavailable                           bool
	RawValue, RawPrevious, RawNum, RawDen *float64
	Format                                string
}

// view is a report in one language: the text that HTML, CSV and PDF show.
type view struct {
	R       *Report
	Lang    string
	c       i18n.Catalogue
	Title   string
	Scope   string
	Figures []figureRow
	// Problems are the report's problems in this language.
	Problems []string
}

func newView(r *Report, lang string, c i18n.Catalogue) *view {
	v := &view{R: r, Lang: lang, c: c}
	v.Scope = r.Unit
	if v.Scope == "" {
		v.Scope = c.Text("district")
	}
	v.Title = fmt.Sprintf("%s · %s · %s %s", c.Text("title"), v.Scope, c.Text("kind."+r.Kind), r.Period)
	for _, p := range r.Problems {
		if t, ok := strings.CutPrefix(p, "missing table "); ok {
			p = c.Text("missing_table", t)
		}
		v.Problems = append(v.Problems, p)
	}
	for _, f := range r.Figures {
		row := figureRow{Key: f.Key, Group: f.Group, GroupLabel: c.Text("group." + f.Group), Label: c.Text("fig." + f.Key),
			Formula: v.formula(f.Key), Unavailable: f.Unavailable != "", Format: f.Format,
			RawValue: f.Value, RawPrevious: f.Previous, RawNum: f.Num, RawDen: f.Den}
		if f.District && r.Unit != "" {
			row.Label += c.Text("district_only")
		}
		if row.Unavailable {
			row.Value, row.Previous, row.Change = c.Text("unavailable"), "", ""
		} else {
			row.Value, row.Previous = v.format(f.Format, f.Value), v.format(f.Format, f.Previous)
			row.Change = v.change(f.Format, f.Delta())
			if f.Num != nil && f.Den != nil {
				row.Basis = fmt.Sprintf("%s / %s", count(*f.Num), count(*f.Den))
			}
		}
		v.Figures = append(v.Figures, row)
	}
	return v
}

func (v *view) t(key string, args ...any) string { return v.c.Text(key, args...) }

func (v *view) formula(key string) string {
	switch key {
	case "silent_incidents":
		return v.t("formula."+key, v.duration(v.R.Config.SilentAfterSeconds))
	case "alerts_acked_in_sla":
		var parts []string
		sevs := make([]string, 0, len(v.R.Config.AckSLASeconds))
		for s := range v.R.Config.AckSLASeconds {
			sevs = append(sevs, s)
		}
		sort.Strings(sevs)
		for _, s := range sevs {
			parts = append(parts, s+" "+v.duration(v.R.Config.AckSLASeconds[s]))
		}
		parts = append(parts, v.t("sla.default", v.duration(v.R.Config.DefaultAckSLA)))
		return v.t("formula."+key, strings.Join(parts, ", "))
	}
	return v.t("formula." + key)
}

func count(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

func (v *view) duration(sec float64) string {
	switch a := math.Abs(sec); {
	case a >= 2*86400:
		return v.t("unit.days", sec/86400)
	case a >= 3600:
		return v.t("unit.hours", sec/3600)
	case a >= 60:
		return v.t("unit.minutes", sec/60)
	default:
		return v.t("unit.seconds", sec)
	}
}

func (v *view) format(format string, p *float64) string {
	if p == nil {
		return "—"
	}
	switch format {
	case FormatPercent:
		return fmt.Sprintf("%.1f%%", 100**p)
	case FormatDuration:
		return v.duration(*p)
	}
	return count(*p)
}

func (v *view) change(format string, d *float64) string {
	if d == nil {
		return "—"
	}
	switch format {
	case FormatPercent:
		return v.t("unit.pp", 100**d)
	case FormatDuration:
		s := v.duration(*d)
		if *d >= 0 {
			s = "+" + s
		}
		return s
	}
	if *d >= 0 {
		return "+" + count(*d)
	}
	return count(*d)
}

// localTime shows a time on the officers' clock.
func localTime(t time.Time) string { return t.In(cst).Format("2006-01-02 15:04") }

func (v *view) caseRef(s string) string {
	if s == "" {
		return v.t("no_case")
	}
	return s
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// optDuration is a mean duration, or a dash when nothing was resolved.
func (v *view) optDuration(sec *float64) string {
	if sec == nil {
		return "—"
	}
	return v.duration(*sec)
}
