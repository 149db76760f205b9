package reports

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

// languages the report speaks; the first is the default, as in the web UI.
func languages() []string { return []string{"zh-CN", "en"} }

// langCookie is the web UI's language cookie (dashboards/web).
const langCookie = "np_lang"

type catalogue map[string]string

func loadCatalogues() (map[string]catalogue, error) {
	out := map[string]catalogue{}
	for _, lang := range languages() {
		b, err := catalogueFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("read report catalogue %s: %w", lang, err)
		}
		var c catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("parse report catalogue %s: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// t looks key up; a missing key shows itself so that it is noticed.
func (c catalogue) t(key string, args ...any) string {
	s, ok := c[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// langOf reads ?lang= first, then the UI's cookie.
func langOf(r *http.Request) string {
	want := r.URL.Query().Get("lang")
	if want == "" {
		if c, err := r.Cookie(langCookie); err == nil {
			want = c.Value
		}
	}
	for _, l := range languages() {
		if strings.EqualFold(want, l) {
			return l
		}
	}
	return languages()[0]
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
	c       catalogue
	Title   string
	Scope   string
	Figures []figureRow
	// Problems are the report's problems in this language.
	Problems []string
}

func newView(r *Report, lang string, c catalogue) *view {
	v := &view{R: r, Lang: lang, c: c}
	v.Scope = r.Unit
	if v.Scope == "" {
		v.Scope = c.t("district")
	}
	v.Title = fmt.Sprintf("%s · %s · %s %s", c.t("title"), v.Scope, c.t("kind."+r.Kind), r.Period)
	for _, p := range r.Problems {
		if t, ok := strings.CutPrefix(p, "missing table "); ok {
			p = c.t("missing_table", t)
		}
		v.Problems = append(v.Problems, p)
	}
	for _, f := range r.Figures {
		row := figureRow{Key: f.Key, Group: f.Group, GroupLabel: c.t("group." + f.Group), Label: c.t("fig." + f.Key),
			Formula: v.formula(f.Key), Unavailable: f.Unavailable != "", Format: f.Format,
			RawValue: f.Value, RawPrevious: f.Previous, RawNum: f.Num, RawDen: f.Den}
		if f.District && r.Unit != "" {
			row.Label += c.t("district_only")
		}
		if row.Unavailable {
			row.Value, row.Previous, row.Change = c.t("unavailable"), "", ""
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

func (v *view) t(key string, args ...any) string { return v.c.t(key, args...) }

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
