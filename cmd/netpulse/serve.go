package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/alerts/compliance"
	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/dirlock"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
	"github.com/netpulse/netpulse/pipeline/store/clickhouse"
)

// app holds what serve owns: every long-lived part, opened once, closed once.
// Subsystems are wired in wire*(): each adds its routes to mux and its loops
// to the run group, so that one place starts and stops every goroutine.
type app struct {
	cfg *Config
	log *slog.Logger
	reg *prometheus.Registry
	bus bus.Bus
	db  *store.DB
	// sourceTitles gives feed sources' display names to the web UI; set
	// by wireFeeds, nil on nodes without the feeds store.
	sourceTitles func(context.Context) (map[string]string, error)
	access       *access.Registry
	// alerts is set by wireAlerts; later wires raise alerts through it
	// (feeds: a source failing several runs in a row).
	alerts *lifecycle.Manager
	// monitorUnit owns the district's monitoring alerts (the alerts-config
	// unit): topic alerts and failing-source alerts carry it, so that its
	// duty officers see them (README, "Who sees which unit").
	monitorUnit string
	// compliance is set by wireCompliance on process nodes; the records
	// writer hands it every stored batch.
	compliance *compliance.Checker
	mux        *http.ServeMux
	group      run.Group

	cl *clusterState // cluster coordination (cluster.go); made on first use

	// shared are the tables this node keeps of the state topic (state.go),
	// in Kafka mode.
	shared []*sharedTable

	// phase is starting, ready or stopping, for /-/ready and for the
	// routes that must not answer before the wiring is done.
	phase atomic.Int32
	// dead is where consumers move messages they cannot use.
	dead *deadLetters

	lagMu    sync.Mutex
	lagWatch [][2]string // (group, topic) pairs whose lag is exported
	lag      *prometheus.GaugeVec
	httpReqs *prometheus.CounterVec
	httpDur  *prometheus.HistogramVec
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// tuneRuntime applies the collector settings. They are the process's, so
// only the commands that run netpulse's stages (serve, bench) call it.
func tuneRuntime(cfg *Config) {
	if cfg.GCPercent != 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
	}
}

func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
	if len(cfg.Kafka) > 0 && cfg.ClusterToken == "" && (cfg.hasRole("process") || cfg.hasRole("api")) {
		// Checked before anything opens: the same error from wire left
		// serve hanging in its shutdown, with no message.
		return errors.New("cluster-token: required with --kafka on process and api nodes (cluster search)")
	}
	log := newLogger(cfg, stderr)
	tuneRuntime(cfg)
	// One process per data folder: two would interleave writes to the
	// journal, the store and the indexes. The kernel drops the lock when
	// the process ends, however it ends.
	lock, err := dirlock.Acquire(cfg.Data)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	defer lock.Release()
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	// The HTTP server starts before the wiring, which can take a while
	// (joining groups, catching up with the state topic): /-/healthy
	// answers at once, so that a liveness probe does not restart a node
	// that is only starting, and /-/ready says 503 until wiring is done.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 2 * time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	served := make(chan error, 1)
	go func() {
		var err error
		if cfg.TLSCert != "" {
			err = srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		served <- err
	}()
	shutdown := func() {
		a.phase.Store(phaseStopping)
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}

	if err := a.wire(ctx); err != nil {
		shutdown()
		// Parts wired before the failure may hold subscriptions, indexes
		// and the segmenter, which their actors release when they stop:
		// run the group with an actor that fails at once, so that each of
		// them stops the way it would at shutdown.
		a.group.Add(func() error { return err }, func(error) {})
		a.group.Run()
		return err
	}

	a.group.Add(func() error {
		err := <-served
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server: %w", err)
	}, func(error) { shutdown() })

	if cfg.MetricsListen != "" {
		if err := a.serveMetrics(cfg); err != nil {
			srv.Close()
			return err
		}
	}

	lagCtx, lagCancel := context.WithCancel(ctx)
	a.group.Add(func() error { a.exportLag(lagCtx); return nil }, func(error) { lagCancel() })

	// The signal context ends the group on SIGINT/SIGTERM.
	sigCtx, sigCancel := context.WithCancel(ctx)
	a.group.Add(func() error {
		<-sigCtx.Done()
		return nil
	}, func(error) { sigCancel() })

	url := fmt.Sprintf("%s://%s/", scheme, ln.Addr())
	log.Info("netpulse serving", "url", url, "data", cfg.Data, "demo", cfg.Demo,
		"bus", busKind(cfg), "store", storeKind(cfg))
	fmt.Fprintf(stdout, "netpulse: dashboard at %s\n", url)
	a.phase.Store(phaseReady)
	err = a.group.Run()
	log.Info("netpulse stopped", "err", err)
	return err
}

func busKind(cfg *Config) string {
	if len(cfg.Kafka) > 0 {
		return "kafka"
	}
	return "journal"
}

func storeKind(cfg *Config) string {
	if len(cfg.ClickHouse) > 0 {
		return "clickhouse"
	}
	return "chdb"
}

// openApp opens the bus, the store and the registry and applies the schema.
func openApp(ctx context.Context, cfg *Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	// Besides the usual memstats, the heap still live after the last
	// collection (go_gc_heap_live_bytes): the in-use heap also counts
	// garbage not yet collected, up to GOGC% more, so it is the live heap
	// that --memory-limit-mib and the design bounds are judged against.
	a.reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "netpulse_bus_lag_messages",
		Help: "Messages on a topic not yet committed by a consumer group."}, []string{"group", "topic"})
	a.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_http_requests_total",
		Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	a.httpDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "netpulse_http_request_seconds",
		Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}, []string{"route"})
	a.reg.MustRegister(a.lag, a.httpReqs, a.httpDur)

	var err error
	if a.access, err = access.Open(cfg.Data, cfg.SessionTTL); err != nil {
		return nil, err
	}
	a.access.LimitLoginChecks(cfg.LoginChecks)
	if a.bus, err = openBus(ctx, cfg, log); err != nil {
		return nil, err
	}
	if len(cfg.Kafka) > 0 {
		l, err := a.share(ctx, access.StateTable, a.access.StateTable())
		if err != nil {
			a.close()
			return nil, err
		}
		a.access.Share(l)
	}
	backend, err := openBackend(cfg)
	if err != nil {
		a.bus.Close()
		return nil, err
	}
	a.db = store.New(backend, a.reg)
	a.dead = newDeadLetters(a.bus, log.With("part", "dead-letters"), a.reg)
	migrate := func() error { return a.db.Migrate(ctx, deploy.Schema()) }
	if cfg.ClickHouseCluster != "" {
		migrate = func() error { return a.db.MigrateCluster(ctx, deploy.Schema(), cfg.ClickHouseCluster) }
	}
	if err := migrate(); err != nil {
		a.close()
		return nil, fmt.Errorf("apply schema: %w", err)
	}
	return a, nil
}

func openBus(ctx context.Context, cfg *Config, log *slog.Logger) (bus.Bus, error) {
	if len(cfg.Kafka) > 0 {
		return openKafkaBus(ctx, cfg, log)
	}
	return journal.Open(journal.Options{
		Dir:        filepath.Join(cfg.Data, "journal"),
		Partitions: cfg.JournalPartitions,
		Fsync:      journal.FsyncPolicy(cfg.JournalFsync),
		Retention:  cfg.JournalRetention,
		Logger:     log.With("part", "journal"),
	})
}

func openBackend(cfg *Config) (store.Backend, error) {
	if len(cfg.ClickHouse) > 0 {
		return clickhouse.Open(clickhouse.Options{Addrs: cfg.ClickHouse, Username: cfg.ClickHouseUser, Password: cfg.ClickHousePass})
	}
	return chdb.Open(filepath.Join(cfg.Data, "chdb"))
}

// closeTimeout bounds the release of the bus and the store at exit: a
// broker that does not answer a consumer group's leave request must not keep
// the process from exiting, which releases everything anyway.
const closeTimeout = 30 * time.Second

func (a *app) close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.closeParts()
	}()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		a.log.Error("closing the bus and the store took too long; exiting without them", "timeout", closeTimeout)
	}
}

func (a *app) closeParts() {
	for _, st := range a.shared {
		st.stop()
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Error("close store", "err", err)
		}
	}
	if a.bus != nil {
		if err := a.bus.Close(); err != nil {
			a.log.Error("close bus", "err", err)
		}
	}
}

// watchLag exports the lag of group on topic as a metric.
func (a *app) watchLag(group, topic string) {
	a.lagMu.Lock()
	a.lagWatch = append(a.lagWatch, [2]string{group, topic})
	a.lagMu.Unlock()
}

func (a *app) exportLag(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		a.lagMu.Lock()
		pairs := append([][2]string(nil), a.lagWatch...)
		a.lagMu.Unlock()
		for _, p := range pairs {
			if n, err := a.bus.Lag(ctx, p[0], p[1]); err == nil {
				a.lag.WithLabelValues(p[0], p[1]).Set(float64(n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Phases of the process, for /-/ready.
const (
	phaseStarting int32 = iota
	phaseReady
	phaseStopping
)

// probes answer even while the node starts or stops.
var probes = map[string]bool{"/-/healthy": true, "/-/ready": true, "/healthz": true, "/metrics": true}

func (a *app) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg})
}

// serveMetrics serves /metrics and the Go profiler (/debug/pprof/) on
// cfg.MetricsListen, an address a scraper or an operator reaches and users do
// not; nothing else is served there. The profiler is never on the main
// address: a profile shows query text and costs CPU on demand.
func (a *app) serveMetrics(cfg *Config) error {
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("listen %s (metrics): %w", cfg.MetricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metricsHandler())
	// Registered here, not through net/http/pprof's DefaultServeMux.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	// A CPU profile or trace runs for ?seconds= (30 by default), longer
	// than the scrape write timeout.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	a.group.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics server: %w", err)
		}
		return nil
	}, func(error) {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	a.log.Info("metrics serving", "addr", ln.Addr().String())
	return nil
}

// handler adds the always-present routes and request metrics around mux.
// Until the wiring is done, every other route answers 503 with
// Retry-After: the mux is still being filled.
func (a *app) handler() http.Handler {
	a.mux.HandleFunc("GET /-/healthy", a.healthy)
	a.mux.HandleFunc("GET /-/ready", a.ready)
	a.mux.HandleFunc("GET /healthz", a.ready)
	if a.cfg.MetricsListen == "" {
		a.mux.Handle("GET /metrics", a.metricsHandler())
	}
	// Every answer carries a request id that its error body and the log
	// lines about it quote (package jsonapi).
	return jsonapi.RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		if a.phase.Load() == phaseStarting && !probes[r.URL.Path] {
			sw.Header().Set("Retry-After", "5")
			http.Error(sw, "netpulse is starting", http.StatusServiceUnavailable)
		} else {
			a.mux.ServeHTTP(sw, r)
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		a.httpReqs.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		a.httpDur.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}))
}

// healthy answers 200 while the process runs: the liveness probe. It
// checks nothing outside the process, so that an outage of Kafka or
// ClickHouse does not restart the nodes that should be answering 503.
func (a *app) healthy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// ready answers 200 when this node can serve: wired, not stopping, bus
// and store reachable (the readiness probe; /healthz is the same, as the
// HTTP contract promises). Otherwise 503 with the reasons.
func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var problems []string
	switch a.phase.Load() {
	case phaseStarting:
		problems = append(problems, "starting")
	case phaseStopping:
		problems = append(problems, "stopping")
	}
	if err := a.bus.Ready(ctx); err != nil {
		problems = append(problems, "bus: "+err.Error())
	}
	if err := a.db.Ping(ctx); err != nil {
		problems = append(problems, "store: "+err.Error())
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ok")
}

// statusWriter records the status code for metrics. It forwards Flush so
// that server-sent events keep streaming.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
