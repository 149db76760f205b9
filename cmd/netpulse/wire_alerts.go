package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"go.yaml.in/yaml/v3"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/alerts/compliance"
	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/notify"
	"github.com/netpulse/netpulse/alerts/rules"
	"github.com/netpulse/netpulse/alerts/terms"
	"github.com/netpulse/netpulse/alerts/trends"
	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/bus"
)

// alertsConfig is the file named by --alerts-config. Every field is
// optional:
//
//	bucket: 5m                 # term-count bucket (whole seconds)
//	min_support: 3             # clusters in one bucket before a term is tracked
//	rules_dir: /etc/netpulse/rules   # default DATA/rules
//	unit: 网安大队               # owner unit of topic alerts
//	ack_sla: {critical: 5m, warning: 15m, info: 1h}
//	webhooks:
//	  - {url: https://hooks.example/np, secret: "…", events: [opened, escalated], min_severity: warning}
//	smtp: {addr: "mail:25", from: netpulse@example, to: [duty@example], username: "", password: "", starttls: true}
//	digest_hour: 0             # UTC hour of the daily digest mail; -1 turns it off
type alertsConfig struct {
	Bucket     time.Duration            `yaml:"bucket"`
	MinSupport int                      `yaml:"min_support"`
	RulesDir   string                   `yaml:"rules_dir"`
	Unit       string                   `yaml:"unit"`
	AckSLA     map[string]time.Duration `yaml:"ack_sla"`
	Webhooks   []struct {
		URL         string   `yaml:"url"`
		Secret      string   `yaml:"secret"`
		Events      []string `yaml:"events"`
		MinSeverity string   `yaml:"min_severity"`
	} `yaml:"webhooks"`
	SMTP struct {
		Addr     string   `yaml:"addr"`
		From     string   `yaml:"from"`
		To       []string `yaml:"to"`
		Username string   `yaml:"username"`
		Password string   `yaml:"password"`
		StartTLS bool     `yaml:"starttls"`
	} `yaml:"smtp"`
	DigestHour *int `yaml:"digest_hour"`
}

// ownerUnit is the unit that owns the district's monitoring alerts: the
// alerts-config unit, in the demo its fictional unit.
func (a *app) ownerUnit(cfg alertsConfig) string {
	if cfg.Unit == "" && a.cfg.Demo {
		return demoUnit
	}
	return cfg.Unit
}

func loadAlertsConfig(path string) (alertsConfig, error) {
	var c alertsConfig
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("alerts config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("alerts config %s: %w", path, err)
	}
	return c, nil
}

// Demo settings: 2-minute buckets that the detector sees as five minutes
// each, and tracking from 2 clusters, so that the feed demo's burst (about
// fourteen distinct stories and their reposts over six minutes, from
// minute four) raises a topic a few minutes in. The detector wants about
// five clusters in a bucket before it calls a rise from nothing a burst.
const (
	demoBucket     = 2 * time.Minute
	demoTimeScale  = float64(5*time.Minute) / float64(demoBucket)
	demoMinSupport = 2
)

// wireAlerts connects term counting (raw.posts → term tables, cut by the
// process's jieba segmenter, or taken from the cut a post carries; seg nil
// falls back to character bigrams), the trends
// engine, the watch rules, the alert lifecycle, the notifiers and the
// alerts, rules and trends APIs.
//
// The lifecycle keeps the alert board in memory on every node and follows
// the store for changes other nodes make; the detector, the rules and the
// escalation timer run on the leader only (cluster.go).
func (a *app) wireAlerts(ctx context.Context, seg *jieba.Segmenter) error {
	cfg, err := loadAlertsConfig(a.cfg.AlertsConfig)
	if err != nil {
		return err
	}
	log := a.log.With("part", "alerts")
	bucket, scale, support := cfg.Bucket, 1.0, cfg.MinSupport
	if bucket == 0 {
		bucket = terms.DefaultBucket
		if a.cfg.Demo {
			bucket, scale = demoBucket, demoTimeScale
		}
	}
	unit := a.ownerUnit(cfg)
	if a.cfg.Demo && support == 0 {
		support = demoMinSupport
	}
	rulesDir := cfg.RulesDir
	if rulesDir == "" {
		rulesDir = filepath.Join(a.cfg.Data, "rules")
	}
	if err := os.MkdirAll(rulesDir, 0o750); err != nil {
		return fmt.Errorf("alerts: rules folder: %w", err)
	}
	if a.cfg.Demo {
		if err := writeDemoRules(rulesDir); err != nil {
			return err
		}
	}

	mgr, err := lifecycle.Open(ctx, lifecycle.Options{DB: a.db, AckSLA: cfg.AckSLA, Log: log, Reg: a.reg, Subject: compliance.Subject})
	if err != nil {
		return err
	}
	a.alerts, a.monitorUnit = mgr, unit
	run := func(name string, fn func(context.Context) error) {
		rctx, cancel := context.WithCancel(ctx)
		a.group.Add(func() error {
			if err := fn(rctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}, func(error) { cancel() })
	}
	// Every node follows the store so its board shows what the leader
	// raised and what officers on other nodes did; the leader alone
	// escalates, so an alert escalates once.
	run("alert follow", func(ctx context.Context) error { return mgr.Follow(ctx, 2*time.Second) })

	var tok terms.Tokenizer = terms.Bigrams{}
	var cuts terms.Cuts
	if seg != nil {
		tok, cuts = seg, seg
	}
	// The counter's inserts (posts, mentions and their views) are as
	// costly per batch as the posts stage's; it takes batches as large.
	counter, err := terms.New(terms.Options{Bus: a.bus, DB: a.db, Tokenizer: tok, Cuts: cuts, Bucket: bucket,
		BatchMax: a.cfg.PostsBatchRows, Log: log.With("stage", "terms"), Reg: a.reg})
	if err != nil {
		return err
	}
	eng, err := trends.New(trends.Options{DB: a.db, Raiser: mgr, Dir: filepath.Join(a.cfg.Data, "trends"), Bucket: bucket,
		TimeScale: scale, MinSupport: support, AssumeHistory: a.cfg.Demo, Unit: unit,
		// Read when a summary is written: the feeds subsystem may be wired later.
		SourceTitles: func(ctx context.Context) (map[string]string, error) {
			if a.sourceTitles == nil {
				return nil, nil
			}
			return a.sourceTitles(ctx)
		},
		Log: log.With("stage", "trends"), Reg: a.reg})
	if err != nil {
		return err
	}
	ruleEng, err := rules.New(ctx, rules.Options{DB: a.db, Raiser: mgr, Dir: rulesDir, Log: log.With("stage", "rules"), Reg: a.reg})
	if ruleEng == nil {
		return err
	}
	if err != nil {
		// A broken rule file must not take the whole service down; it is
		// refused, with its line numbers, and the other rules run.
		log.Error("rule files refused", "err", err)
	}
	if a.cfg.hasRole("process") {
		run("term counter", counter.Run)
		a.watchLag(counter.Group(), bus.TopicPosts)
		// One node at a time detects and evaluates rules (cluster.go).
		a.runLed("trends", eng.Run)
		a.runLed("rules", ruleEng.Run)
		a.runLed("alert escalation", mgr.Run)
	}

	var mailer *notify.Mailer
	if cfg.SMTP.Addr != "" {
		mailer = &notify.Mailer{Addr: cfg.SMTP.Addr, From: cfg.SMTP.From, To: cfg.SMTP.To, Username: cfg.SMTP.Username,
			Password: cfg.SMTP.Password, StartTLS: cfg.SMTP.StartTLS}
	}
	var hooks []notify.Webhook
	for _, h := range cfg.Webhooks {
		hooks = append(hooks, notify.Webhook{URL: h.URL, Secret: h.Secret, Events: h.Events, MinSeverity: h.MinSeverity})
	}
	notifier, err := notify.New(notify.Options{Source: mgr, DB: a.db, Webhooks: hooks, Mail: mailer, Log: log.With("stage", "notify"), Reg: a.reg})
	if err != nil {
		return err
	}
	run("notify", notifier.Run)
	if mailer != nil && (cfg.DigestHour == nil || *cfg.DigestHour >= 0) {
		hour := 0
		if cfg.DigestHour != nil {
			hour = *cfg.DigestHour % 24
		}
		run("digest", func(ctx context.Context) error { return notify.RunDigest(ctx, mgr, mailer, hour, log) })
	}

	if a.cfg.hasRole("api") {
		duty := access.Require(a.access, access.RoleDuty, access.RoleAdmin)
		board := access.Require(a.access, access.RoleDuty, access.RoleAdmin, access.RoleLeader)
		readers := access.Require(a.access, access.RoleAnalyst, access.RoleDuty, access.RoleAdmin, access.RoleLeader)
		mgr.Mount(a.mux, board, duty)
		a.mux.Handle("GET /api/v1/alerts/stream", board(notify.Stream(mgr)))
		a.mux.Handle("GET /api/v1/alerts/dead-letters", duty(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dl, err := notify.DeadLetters(r.Context(), a.db, 200)
			if err != nil {
				jsonapi.Fail(w, a.log, err, "dead letters query failed")
				return
			}
			if p, ok := access.FromContext(r.Context()); !ok {
				dl = nil
			} else if unit, scoped := p.UnitScope(); scoped {
				dl = notify.ForUnit(dl, unit, func(id string) (string, bool) {
					al, ok := mgr.Get(id)
					return al.Unit, ok
				})
			}
			jsonapi.Write(w, http.StatusOK, map[string]any{"dead_letters": dl})
		})))
		ruleEng.Mount(a.mux, readers, duty)
		eng.Mount(a.mux, readers)
	}

	if a.cfg.Demo && a.cfg.hasRole("process") {
		run("flatline demo", func(ctx context.Context) error { return a.demoSilentVenue(ctx, log) })
	}
	return nil
}

func writeDemoRules(dir string) error {
	path := filepath.Join(dir, "demo.yaml")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	const demo = `# Written by netpulse serve --demo. Edit freely; the demo does not overwrite it.
rules:
  - name: demo-venue-silent
    title: 场所停报
    type: flatline
    of: venue
    factor: 3
    min_silence: 3m
    every: 15s
    severity: warning
    unit: 江岸分局网安大队
  - name: demo-fraud-words
    title: 涉诈关键词
    type: keyword
    query: "诈骗|刷单|冒充"
    window: 30m
    realert: 30m
    every: 15s
    severity: info
    unit: 江岸分局网安大队
  - name: demo-fraud-often
    title: 涉诈帖文频发
    type: frequency
    query: "诈骗"
    window: 5m
    threshold: 5
    every: 15s
    severity: critical
    unit: 江岸分局网安大队
  - name: demo-new-words
    title: 新词出现
    type: new_term
    min_count: 4
    window: 10m
    learn: 2m
    every: 20s
    severity: info
    unit: 江岸分局网安大队
`
	if err := os.WriteFile(path, []byte(demo), 0o640); err != nil {
		return fmt.Errorf("alerts demo rules: %w", err)
	}
	return nil
}

// demoVenue is the one venue the demo makes fall silent.
const demoVenue = "JA-X01"

type demoDelivery struct {
	RecordID    string    `json:"record_id"`
	Venue       string    `json:"venue"`
	Kind        string    `json:"kind"`
	Place       string    `json:"place"`
	Name        string    `json:"name"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
	ReceivedAt  time.Time `json:"received_at"`
	BatchID     string    `json:"batch_id"`
	Version     uint64    `json:"version"`
	RetainUntil time.Time `json:"retain_until"`
}

// demoSilentVenue gives the flatline rule something to find: a demo venue
// with three days of steady deliveries (one every two minutes) that stops
// delivering ten minutes before the demo starts, then resumes six minutes
// in, so the board shows the flatline fire and clear. Its delivery rows are
// written straight to the store and marked batch "demo-flatline": the
// intake service is wired elsewhere and has no hook for scripted gaps.
func (a *app) demoSilentVenue(ctx context.Context, log interface{ Info(string, ...any) }) error {
	if _, err := a.access.AddVenue(ctx, access.Venue{Code: demoVenue, Kind: "cafe", Name: "静默演示网吧(演示)",
		District: "江岸区", Unit: demoUnit}); err != nil && !errors.Is(err, access.ErrExists) {
		return fmt.Errorf("flatline demo venue: %w", err)
	}
	deliver := func(from, to time.Time) error {
		var rows []demoDelivery
		for at := from; !at.After(to); at = at.Add(2 * time.Minute) {
			rows = append(rows, demoDelivery{RecordID: fmt.Sprintf("demo-flatline-%d", at.Unix()), Venue: demoVenue, Kind: "cafe",
				Place: "A001", Name: "演示", StartedAt: at.Add(-time.Minute), EndedAt: at.Add(-30 * time.Second), ReceivedAt: at, BatchID: "demo-flatline",
				Version: uint64(at.UnixMilli()), RetainUntil: at.Add(61 * 24 * time.Hour)})
		}
		return a.db.Insert(ctx, "netpulse.access_records", rows)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	if err := deliver(now.Add(-72*time.Hour), now.Add(-10*time.Minute)); err != nil {
		return fmt.Errorf("flatline demo history: %w", err)
	}
	log.Info("demo: venue fell silent; the flatline rule will fire", "venue", demoVenue)
	t := time.NewTimer(6 * time.Minute)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
	}
	log.Info("demo: silent venue delivers again; its flatline alert will clear", "venue", demoVenue)
	tick := time.NewTicker(2 * time.Minute)
	defer tick.Stop()
	for {
		at := time.Now().UTC()
		if err := deliver(at, at); err != nil && ctx.Err() == nil {
			return fmt.Errorf("flatline demo delivery: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
