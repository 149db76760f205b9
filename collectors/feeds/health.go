package feeds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/prometheus/client_golang/prometheus"
)

// SourceHealth is what operators see about one source.
type SourceHealth struct {
	Source        string    `json:"source"`
	LastRunAt     time.Time `json:"last_run_at,omitzero"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	// ConsecutiveFailures counts failed runs since the last success;
	// Failing is set once it reaches the configured limit, until a run
	// succeeds. The alerts subsystem can watch the failing gauge.
	ConsecutiveFailures int   `json:"consecutive_failures"`
	Failing             bool  `json:"failing"`
	LastRun             Run   `json:"last_run"`
	PostsTotal          int64 `json:"posts_total"`
	RobotsSkippedTotal  int64 `json:"robots_skipped_total"`
}

// Run is the outcome of one crawl of one source.
type Run struct {
	Pages       int `json:"pages"`        // fetched with a body
	NotModified int `json:"not_modified"` // answered 304
	Seen        int `json:"seen"`         // links skipped as already published
	Robots      int `json:"robots"`       // pages skipped by robots.txt
	Failed      int `json:"failed"`       // pages given up after retries
	Old         int `json:"old"`          // dated before the seen retention, not published
	Posts       int `json:"posts"`        // published
}

// Health tracks SourceHealth in memory, in the store (so that it survives
// restarts) and as Prometheus metrics. With a RunLog (ShareRuns) every run
// is also written to netpulse.crawl_runs, and the health API reads from
// there: the memory and bbolt copies are then this node's cache.
type Health struct {
	store     *Store
	failAfter int
	runLog    RunLog
	node      string

	mu        sync.Mutex
	m         map[string]SourceHealth
	onFailing func(ctx context.Context, sh SourceHealth) error

	runs        *prometheus.CounterVec
	posts       *prometheus.CounterVec
	pages       *prometheus.CounterVec
	robots      *prometheus.CounterVec
	postsPerRun *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	failures    *prometheus.GaugeVec
	failing     *prometheus.GaugeVec
}

// NewHealth loads stored health and registers the metrics on reg. A source
// is flagged failing after failAfter consecutive failed runs.
func NewHealth(store *Store, reg prometheus.Registerer, failAfter int) (*Health, error) {
	if failAfter < 1 {
		failAfter = 1
	}
	m, err := store.healths()
	if err != nil {
		return nil, err
	}
	h := &Health{
		store: store, failAfter: failAfter, m: m,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "runs_total", Help: "Crawl runs per source and result (ok, error)."}, []string{"source", "result"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "posts_total", Help: "Posts published to raw.posts per source."}, []string{"source"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "pages_total", Help: "Pages requested per source and outcome (fetched, not_modified, failed)."}, []string{"source", "outcome"}),
		robots: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "robots_skipped_total", Help: "Pages not fetched because robots.txt disallows them."}, []string{"source"}),
		postsPerRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "last_run_posts", Help: "Posts published by the last run of a source."}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "last_success_timestamp_seconds", Help: "Unix time of the last successful run."}, []string{"source"}),
		failures: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "consecutive_failures", Help: "Failed runs since the last success."}, []string{"source"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "netpulse", Subsystem: "feeds",
			Name: "source_failing", Help: "1 when a source has failed too many runs in a row."}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{h.runs, h.posts, h.pages, h.robots, h.postsPerRun, h.lastSuccess, h.failures, h.failing} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register feeds metrics: %w", err)
		}
	}
	for name, sh := range m {
		if !sh.LastSuccessAt.IsZero() {
			h.lastSuccess.WithLabelValues(name).Set(float64(sh.LastSuccessAt.Unix()))
		}
		h.failures.WithLabelValues(name).Set(float64(sh.ConsecutiveFailures))
		h.failing.WithLabelValues(name).Set(b2f(sh.Failing))
	}
	return h, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// OnFailing sets the function told once each time a source becomes
// failing (serve passes one that raises an alert through the alerts
// subsystem). Set it before the scheduler runs. Its error is returned by
// Record; the health record is stored regardless.
func (h *Health) OnFailing(f func(ctx context.Context, sh SourceHealth) error) {
	h.mu.Lock()
	h.onFailing = f
	h.mu.Unlock()
}

// ShareRuns makes Record write every run to runs as node, and the health
// API and Sync read from it. Set it before the scheduler runs.
func (h *Health) ShareRuns(runs RunLog, node string) {
	h.mu.Lock()
	h.runLog, h.node = runs, node
	h.mu.Unlock()
}

// Sync takes the shared state of every registered source whose latest run
// in the run log is newer than this node's: serve calls it each time the node's share
// of the sources may have changed, so that a source taken over from
// another node continues its failure streak and totals. Without a run log
// it does nothing.
func (h *Health) Sync(ctx context.Context) error {
	h.mu.Lock()
	runs := h.runLog
	h.mu.Unlock()
	if runs == nil {
		return nil
	}
	shared, err := sharedHealth(ctx, runs, h.failAfter)
	if err != nil {
		return err
	}
	srcs, err := h.store.Sources()
	if err != nil {
		return err
	}
	// Only registered sources: the runs of a deleted one stay in the table
	// and must not bring its health back.
	registered := map[string]bool{}
	for _, s := range srcs {
		registered[s.Name] = true
	}
	var changed []SourceHealth
	h.mu.Lock()
	for name, sh := range shared {
		if local, ok := h.m[name]; !registered[name] || (ok && !sh.LastRunAt.After(local.LastRunAt)) {
			continue
		}
		h.m[name] = sh
		changed = append(changed, sh)
	}
	h.mu.Unlock()
	var errs []error
	for _, sh := range changed {
		h.setGauges(sh)
		errs = append(errs, h.store.putHealth(sh))
	}
	return errors.Join(errs...)
}

func (h *Health) setGauges(sh SourceHealth) {
	if !sh.LastSuccessAt.IsZero() {
		h.lastSuccess.WithLabelValues(sh.Source).Set(float64(sh.LastSuccessAt.Unix()))
	}
	h.postsPerRun.WithLabelValues(sh.Source).Set(float64(sh.LastRun.Posts))
	h.failures.WithLabelValues(sh.Source).Set(float64(sh.ConsecutiveFailures))
	h.failing.WithLabelValues(sh.Source).Set(b2f(sh.Failing))
}

// Record stores the outcome of one run that started at and took took: err
// nil means success.
func (h *Health) Record(ctx context.Context, source string, at time.Time, took time.Duration, r Run, runErr error) error {
	h.mu.Lock()
	wasFailing := h.m[source].Failing
	sh := h.m[source]
	sh.Source = source
	sh.LastRunAt = at
	sh.LastRun = r
	sh.PostsTotal += int64(r.Posts)
	sh.RobotsSkippedTotal += int64(r.Robots)
	if runErr == nil {
		sh.LastSuccessAt = at
		sh.ConsecutiveFailures = 0
		sh.Failing = false
	} else {
		sh.LastErrorAt = at
		sh.LastError = runErr.Error()
		sh.ConsecutiveFailures++
		sh.Failing = sh.ConsecutiveFailures >= h.failAfter
	}
	h.m[source] = sh
	notify := h.onFailing
	runs, node := h.runLog, h.node
	h.mu.Unlock()

	result := "ok"
	if runErr != nil {
		result = "error"
	}
	h.runs.WithLabelValues(source, result).Inc()
	h.posts.WithLabelValues(source).Add(float64(r.Posts))
	h.pages.WithLabelValues(source, "fetched").Add(float64(r.Pages))
	h.pages.WithLabelValues(source, "not_modified").Add(float64(r.NotModified))
	h.pages.WithLabelValues(source, "failed").Add(float64(r.Failed))
	h.robots.WithLabelValues(source).Add(float64(r.Robots))
	h.setGauges(sh)
	err := h.store.putHealth(sh)
	if runs != nil {
		row := runRow{Source: source, StartedAt: at.UTC(), Posts: r.Posts, Node: node, DurationMs: took.Milliseconds(),
			Pages: r.Pages, NotModified: r.NotModified, Seen: r.Seen, Robots: r.Robots, Failed: r.Failed,
			Old: r.Old, ConsecutiveFailures: sh.ConsecutiveFailures}
		if runErr == nil {
			row.OK = 1
		} else {
			row.Error = runErr.Error()
		}
		if ierr := runs.Insert(ctx, TableCrawlRuns, []runRow{row}); ierr != nil {
			err = errors.Join(err, fmt.Errorf("log run of %s: %w", source, ierr))
		}
	}
	if sh.Failing && !wasFailing && notify != nil {
		if nerr := notify(ctx, sh); nerr != nil {
			err = errors.Join(err, fmt.Errorf("report failing source %s: %w", source, nerr))
		}
	}
	return err
}

// Get returns the health of one source.
func (h *Health) Get(source string) (SourceHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh, ok := h.m[source]
	return sh, ok
}

// All returns every source's health, by name.
func (h *Health) All() []SourceHealth {
	h.mu.Lock()
	out := make([]SourceHealth, 0, len(h.m))
	for _, sh := range h.m {
		out = append(out, sh)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// Shared returns every source's health as the run log has it, for the
// sources this node knows (registered here, or run here and not deleted),
// so that a deleted source's old runs do not bring it back. Without a run
// log it is All.
func (h *Health) Shared(ctx context.Context) ([]SourceHealth, error) {
	h.mu.Lock()
	runs := h.runLog
	h.mu.Unlock()
	if runs == nil {
		return h.All(), nil
	}
	shared, err := sharedHealth(ctx, runs, h.failAfter)
	if err != nil {
		return nil, err
	}
	srcs, err := h.store.Sources()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, s := range srcs {
		known[s.Name] = true
	}
	out := []SourceHealth{}
	for _, sh := range h.All() {
		known[sh.Source] = true
		// Run here and its row not written (the log was unreachable) or
		// not yet readable: this node's view is the newer one.
		if s, ok := shared[sh.Source]; !ok || sh.LastRunAt.After(s.LastRunAt) {
			shared[sh.Source] = sh
		}
	}
	for name, sh := range shared {
		if known[name] {
			out = append(out, sh)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, nil
}

// serveHTTP answers the shared health; when the run log cannot be read it
// answers this node's own view, marked "shared": false, because operators
// need the table most when something is broken.
func (h *Health) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	shared := h.runLog != nil
	h.mu.Unlock()
	srcs, err := h.Shared(r.Context())
	body := map[string]any{"sources": srcs, "shared": shared}
	if err != nil {
		body = map[string]any{"sources": h.All(), "shared": false, "error": err.Error()}
	}
	jsonapi.Write(w, http.StatusOK, body)
}

// forget drops a deleted source's health and metrics.
func (h *Health) forget(source string) {
	h.mu.Lock()
	delete(h.m, source)
	h.mu.Unlock()
	for _, g := range []*prometheus.GaugeVec{h.postsPerRun, h.lastSuccess, h.failures, h.failing} {
		g.DeleteLabelValues(source)
	}
}
