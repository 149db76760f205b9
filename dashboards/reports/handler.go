package reports

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/dashboards/i18n"
	"github.com/netpulse/netpulse/pipeline/store"
)

//go:embed assets
var assetFS embed.FS

// Framer draws a page body inside the web UI's layout (nav bar, session,
// security headers); *web.Shell is one.
type Framer interface {
	Frame(w http.ResponseWriter, r *http.Request, title string, body template.HTML)
}

// Options configure the report handler.
type Options struct {
	DB     *store.DB
	Users  Users // maps audit actors to units; nil: audit figures for the district only
	Config Config
	Log    *slog.Logger
	Reg    prometheus.Registerer // may be nil
	Now    func() time.Time
	// Frame, when set, draws the HTML page inside the UI layout; without
	// it the page is a standalone document.
	Frame Framer
	// Roles may read reports; leader when empty. The handler checks the
	// principal that the mounting middleware put in the context, so that a
	// mount without authentication serves nothing.
	Roles []access.Role
}

type handler struct {
	b     *Builder
	cache *reportCache
	o     Options
	cats  map[string]i18n.Catalogue
	tmpl  *template.Template
	mux   *http.ServeMux
	build *prometheus.HistogramVec
}

// NewHandler serves the reports:
//
//	GET /reports/                   HTML page with charts (?period=2026-W48|2026-11&unit=…)
//	GET /reports/{period}.csv       CSV (?unit=…)
//	GET /reports/{period}.pdf       printable Chinese PDF (?unit=…)
//	GET /reports/assets/…           the page's script and style
//	GET /api/v1/reports             JSON (?period=…&unit=…)
//
// Mount it at "/reports/" and "GET /api/v1/reports" behind the leader role.
func NewHandler(o Options) (http.Handler, error) {
	if o.DB == nil {
		return nil, errors.New("reports: no store")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Roles) == 0 {
		o.Roles = []access.Role{access.RoleLeader}
	}
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"pct": pct, "count": count, "local": localTime,
	}).ParseFS(assetFS, "assets/report.html")
	if err != nil {
		return nil, fmt.Errorf("reports: parse template: %w", err)
	}
	h := &handler{b: NewBuilder(o.DB, o.Users, o.Config, o.Log), cache: newReportCache(30*time.Second, 32), o: o, cats: cats, tmpl: tmpl, mux: http.NewServeMux(),
		build: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "netpulse_report_build_seconds",
			Help:    "Time to compute and render a performance report, by output format.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"format"})}
	if o.Reg != nil {
		if err := o.Reg.Register(h.build); err != nil {
			return nil, fmt.Errorf("reports: register metrics: %w", err)
		}
	}
	h.mux.HandleFunc("GET /reports/{$}", h.page)
	h.mux.HandleFunc("GET /reports/assets/{name}", h.asset)
	h.mux.HandleFunc("GET /reports/{file}", h.download)
	h.mux.HandleFunc("GET /api/v1/reports", h.api)
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := access.FromContext(r.Context())
	if !ok || !slices.Contains(h.o.Roles, p.Role) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Current is the period of kind that contains now: the default page shows
// the week so far, which is what a leader opening it on Friday wants.
func Current(kind string, now time.Time) Period {
	now = now.In(cst)
	if kind == "month" {
		return Month(now.Year(), now.Month())
	}
	y, w := now.ISOWeek()
	return Week(y, w)
}

// request reads period and unit and builds the report.
func (h *handler) request(w http.ResponseWriter, r *http.Request, periodText, format string) (*Report, *view, bool) {
	start := time.Now()
	defer func() { h.build.WithLabelValues(format).Observe(time.Since(start).Seconds()) }()
	var p Period
	if periodText == "" {
		kind := r.URL.Query().Get("kind")
		if kind != "month" {
			kind = "week"
		}
		p = Current(kind, h.o.Now())
	} else {
		var err error
		if p, err = ParsePeriod(periodText); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, nil, false
		}
	}
	unit := r.URL.Query().Get("unit")
	// A leader of one unit reads that unit's report only (README, "Who
	// sees which unit"); district-wide roles choose.
	if p, ok := access.FromContext(r.Context()); ok {
		if own, scoped := p.UnitScope(); scoped {
			if own == "" || (unit != "" && unit != own) {
				jsonapi.Error(w, http.StatusForbidden, "your role reads your own unit's report only")
				return nil, nil, false
			}
			unit = own
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	rep, err := h.cache.get(p.String()+"\x00"+unit, h.o.Now(), func() (*Report, error) {
		return h.b.Build(ctx, p, unit, h.o.Now())
	})
	if errors.Is(err, ErrUnknownUnit) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, nil, false
	}
	if err != nil {
		h.o.Log.Error("build report", "period", p.String(), "unit", unit, "err", err)
		http.Error(w, "report unavailable", http.StatusServiceUnavailable)
		return nil, nil, false
	}
	lang := i18n.Of(r)
	return rep, newView(rep, lang, h.cats[lang]), true
}

func (h *handler) api(w http.ResponseWriter, r *http.Request) {
	rep, _, ok := h.request(w, r, r.URL.Query().Get("period"), "json")
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		h.o.Log.Warn("write report json", "err", err)
	}
}

func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	ext := path.Ext(file)
	if ext != ".csv" && ext != ".pdf" {
		http.NotFound(w, r)
		return
	}
	period := strings.TrimSuffix(file, ext)
	_, v, ok := h.request(w, r, period, ext[1:])
	if !ok {
		return
	}
	var buf bytes.Buffer
	var err error
	if ext == ".csv" {
		err = writeCSV(&buf, v)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		err = writePDF(&buf, v)
		w.Header().Set("Content-Type", "application/pdf")
	}
	if err != nil {
		h.o.Log.Error("render report", "format", ext, "err", err)
		http.Error(w, "report rendering failed", http.StatusInternalServerError)
		return
	}
	name := "netpulse-report-" + period
	if v.R.Unit != "" {
		name += "-" + v.R.Unit
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="netpulse-report-%s%s"; filename*=UTF-8''%s`,
		period, ext, url.PathEscape(name+ext)))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name != "report.js" && name != "report.css" {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, assetFS, "assets/"+name)
}

// pageData is what the template sees.
type pageData struct {
	*view
	From, To, Generated     string
	CSVURL, PDFURL, JSONURL string
	PrevURL, NextURL        string
	WeekURL, MonthURL       string
	SilentFormula           string
	Chart                   chartData
}

type chartData struct {
	Daily   []Day          `json:"daily"`
	Reasons []Reason       `json:"reasons"`
	Ranking []UnitScore    `json:"ranking"`
	Labels  map[string]any `json:"labels"`
}

func (pd pageData) T(key string, args ...any) string { return pd.view.t(key, args...) }
func (pd pageData) Duration(sec float64) string      { return pd.view.duration(sec) }
func (pd pageData) CaseRef(s string) string          { return pd.view.caseRef(s) }

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	rep, v, ok := h.request(w, r, r.URL.Query().Get("period"), "html")
	if !ok {
		return
	}
	q := url.Values{}
	if rep.Unit != "" {
		q.Set("unit", rep.Unit)
	}
	suffix := ""
	if len(q) > 0 {
		suffix = "?" + q.Encode()
	}
	q.Set("period", rep.Period)
	pd := pageData{view: v, From: localTime(rep.From), To: localTime(rep.To), Generated: localTime(rep.Generated),
		CSVURL: "/reports/" + rep.Period + ".csv" + suffix, PDFURL: "/reports/" + rep.Period + ".pdf" + suffix,
		JSONURL: "/api/v1/reports?" + q.Encode(), SilentFormula: v.formula("silent_incidents"),
		PrevURL: pageURL(rep.Previous, rep.Unit), WeekURL: pageURL(Current("week", h.o.Now()).String(), rep.Unit),
		MonthURL: pageURL(Current("month", h.o.Now()).String(), rep.Unit),
		Chart: chartData{Daily: rep.Daily, Reasons: rep.Reasons, Ranking: rep.Ranking, Labels: map[string]any{
			"records": v.t("col.records"), "share5m": v.t("col.share_5m"), "score": v.t("col.score"),
			"prevScore": v.t("col.prev_score"), "alerts": v.t("col.alerts"), "noData": v.t("no_data")}}}
	if cur, err := ParsePeriod(rep.Period); err == nil {
		next := Current(cur.Kind, cur.End)
		if !next.Start.After(h.o.Now()) {
			pd.NextURL = pageURL(next.String(), rep.Unit)
		}
	}
	if pd.Chart.Reasons == nil {
		pd.Chart.Reasons = []Reason{}
	}
	if pd.Chart.Ranking == nil {
		pd.Chart.Ranking = []UnitScore{}
	}
	var buf bytes.Buffer
	name := "standalone"
	if h.o.Frame != nil {
		name = "body"
	}
	if err := h.tmpl.ExecuteTemplate(&buf, name, pd); err != nil {
		h.o.Log.Error("render report page", "err", err)
		http.Error(w, "report rendering failed", http.StatusInternalServerError)
		return
	}
	if h.o.Frame != nil {
		h.o.Frame.Frame(w, r, v.Title, template.HTML(buf.String()))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// reportCache keeps reports for a short while: a leader views the page and
// then downloads its PDF and CSV, and the three should neither cost three
// computations nor show different numbers.
type reportCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	r       *Report
	expires time.Time
}

func newReportCache(ttl time.Duration, max int) *reportCache {
	return &reportCache{ttl: ttl, max: max, entries: map[string]cacheEntry{}}
}

func (c *reportCache) get(key string, now time.Time, build func() (*Report, error)) (*Report, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e.r, nil
	}
	c.mu.Unlock()
	r, err := build()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if !now.Before(e.expires) || len(c.entries) >= c.max {
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry{r: r, expires: now.Add(c.ttl)}
	return r, nil
}

func pageURL(period, unit string) string {
	q := url.Values{"period": {period}}
	if unit != "" {
		q.Set("unit", unit)
	}
	return "/reports/?" + q.Encode()
}
