package main

import (
	"github.com/netpulse/netpulse/privacy/caseref"

	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is every setting of netpulse, in one place. Each field is filled, in
// rising precedence, from its default, the YAML file given by --config, the
// environment variable NETPULSE_<NAME> (upper case, dashes as underscores),
// and the command-line flag --<name>. `netpulse config` prints this table.
type Config struct {
	ConfigFile    string   `name:"config" help:"optional YAML file with any of these settings, keyed by name"`
	Data          string   `name:"data" default:"./netpulse-data" help:"folder for all local state: journal, chDB store, indexes, registry"`
	Listen        string   `name:"listen" default:"127.0.0.1:8080" help:"HTTP listen address of the API and dashboard"`
	MetricsListen string   `name:"metrics-listen" help:"separate listen address for /metrics and the Go profiler /debug/pprof/ only (a scrape and admin address, never public); when set, the main address no longer serves /metrics"`
	Demo          bool     `name:"demo" help:"seed demo venues, users, feeds and streams"`
	Roles         []string `name:"roles" default:"intake,crawl,process,api" help:"parts this node runs: intake, crawl, process, api (scale-out runs subsets on several nodes)"`
	LogLevel      string   `name:"log-level" default:"info" help:"debug, info, warn or error"`
	TLSCert       string   `name:"tls-cert" help:"PEM certificate; with tls-key, serve HTTPS"`
	TLSKey        string   `name:"tls-key" help:"PEM private key for tls-cert"`

	Kafka             []string      `name:"kafka" help:"Kafka bootstrap brokers host:port,...; empty uses the embedded journal"`
	KafkaPartitions   int           `name:"kafka-partitions" help:"partitions of raw.access, raw.posts and netpulse.crawl when netpulse creates them; 0 takes deploy/kafka/topics.yaml (12)"`
	KafkaReplication  int           `name:"kafka-replication" help:"replication factor of the topics netpulse creates; 0 takes deploy/kafka/topics.yaml (3); 1 for a single development broker"`
	KafkaAllowWeak    bool          `name:"kafka-allow-weak-topics" help:"start even when existing topics are less durable than deploy/kafka/topics.yaml (fewer replicas, lower min.insync.replicas, shorter retention); the differences are logged either way"`
	PublishTimeout    time.Duration `name:"publish-timeout" default:"5s" help:"longest a publish to the bus may take; past it intake answers 503 with Retry-After"`
	ClickHouse        []string      `name:"clickhouse" help:"ClickHouse server native addresses host:port,...; empty uses embedded chDB"`
	ClickHouseCluster string        `name:"clickhouse-cluster" help:"ClickHouse cluster name; with it the schema is created as Replicated tables ON CLUSTER behind Distributed ones"`
	ClusterToken      string        `name:"cluster-token" secret:"true" help:"shared secret nodes present to each other's internal endpoints (cluster search); required with --kafka on process and api nodes"`
	Advertise         string        `name:"advertise" help:"base URL other nodes reach this node's HTTP server at (cluster search); default http://LISTEN"`
	ClickHouseUser    string        `name:"clickhouse-user" default:"default" help:"ClickHouse user"`
	ClickHousePass    string        `name:"clickhouse-password" secret:"true" help:"ClickHouse password"`
	JournalPartitions int           `name:"journal-partitions" default:"4" help:"partitions per topic in the embedded journal"`
	JournalFsync      string        `name:"journal-fsync" default:"always" help:"always (acknowledged means on disk) or interval"`
	JournalRetention  time.Duration `name:"journal-retention" default:"168h" help:"drop journal messages older than this once every group has committed them"`

	BatchRows  int           `name:"batch-rows" default:"5000" help:"pipeline store/index batch size in rows"`
	BatchDelay time.Duration `name:"batch-delay" default:"200ms" help:"longest a pipeline batch waits to fill"`
	// The post index pays per batch and per day shard a batch touches
	// (a segment to build, persist and merge): posts spread over many days
	// need large batches. 5,000 rows cost 2.5x the CPU of 20,000 on real
	// Weibo posts spanning three years (docs/performance.md, issue 18).
	PostsBatchRows  int           `name:"posts-batch-rows" default:"20000" help:"posts stage (raw.posts into ClickHouse, the search index and the term counts) batch size in posts; the index pays per batch and per day a batch touches"`
	PostsBatchDelay time.Duration `name:"posts-batch-delay" default:"1s" help:"longest a posts batch waits to fill: how much later than its arrival a post may become searchable on a quiet node"`

	IDHashKey            string        `name:"id-hash-key" secret:"true" help:"hex key (32 bytes) for the keyed hash of identity numbers; generated into DATA/keys on first start when empty"`
	IDEncKey             string        `name:"id-enc-key" secret:"true" help:"hex key (32 bytes) for AES-GCM encryption of identity numbers; generated into DATA/keys on first start when empty"`
	SessionTTL           time.Duration `name:"session-ttl" default:"12h" help:"browser session lifetime"`
	LoginChecks          int           `name:"login-checks" default:"2" help:"password checks (argon2id, 64 MiB each) that may run at once; more logins wait up to 2s, then get 503"`
	CaseRefPattern       string        `name:"case-ref-pattern" help:"optional regular expression a case reference must match in full (e.g. ^[A-Z]{2,6}-[0-9]{4}-[0-9]{1,6}$); any reference is always printable NFC text without control, format, bidi or zero-width characters"`
	CaseRefMax           int           `name:"case-ref-max" default:"64" help:"longest case reference, in visible characters"`
	LookupLimit          int           `name:"lookup-limit" default:"30" help:"distinct identity numbers or names one user, and one case reference, may look up exactly per lookup-window; more get 429"`
	LookupWindow         time.Duration `name:"lookup-window" default:"1h" help:"window of lookup-limit and lookup-alert"`
	LookupAlert          int           `name:"lookup-alert" default:"20" help:"distinct identity numbers or names looked up by one user or case in lookup-window that raise an alert for the auditors (at most lookup-limit)"`
	AccessRetention      time.Duration `name:"retention-access" default:"1440h" help:"access-record retention (at least 60 days = 1440h)"`
	HotelRetention       time.Duration `name:"retention-access-hotel" help:"hotel access-record retention when it differs from retention-access (at least 1440h)"`
	PostRetention        time.Duration `name:"retention-posts" default:"2160h" help:"post and post-index retention"`
	AlertsConfig         string        `name:"alerts-config" help:"optional YAML file for trends and alerts: bucket, min_support, rules_dir, unit, ack_sla, webhooks, smtp, digest_hour (see cmd/netpulse/wire_alerts.go)"`
	ComplianceMaxOpen    time.Duration `name:"compliance-max-open" default:"12h" help:"a session without an end counts as open this long after its start (overlap checks, venue page)"`
	ComplianceGrace      time.Duration `name:"compliance-grace" default:"3m" help:"a conflict resting on a session still open waits this long for a closing update already on its way before it counts"`
	ComplianceWindow     time.Duration `name:"compliance-window" default:"1h" help:"violations of one rule at one venue within this window (of session start, China time) form one alert that grows"`
	ComplianceGapRows    int           `name:"compliance-gap-min-rows" default:"20" help:"registration gaps: a venue's day is judged once it sent this many rows (accepted + refused)"`
	ComplianceGapRefused float64       `name:"compliance-gap-refused-share" default:"0.2" help:"registration gaps: share of a venue's rows of the day refused at intake that raises an alert"`
	ComplianceGapMissing float64       `name:"compliance-gap-missing-share" default:"0.05" help:"registration gaps: share of a venue's rows of the day refused for a missing identity (id_number or id_type) that raises an alert"`
	UserAgent            string        `name:"user-agent" default:"netpulse-crawler/1.0 (+public-opinion monitoring)" help:"User-Agent sent by the feed crawler"`
	CrawlAllow           []string      `name:"crawl-allow" help:"addresses or CIDR prefixes the feed crawler may reach although they are loopback, private, link-local, multicast or unspecified (e.g. 127.0.0.1/32 for the demo sites); everything else of that kind is refused"`
	SeenRetention        time.Duration `name:"feeds-seen-retention" default:"2160h" help:"how long the crawler remembers a published URL; older ones are forgotten hourly, and pages dated older are not published"`

	// The Go runtime. A higher collector target was worth ~15% of a
	// search's CPU before the searcher stopped allocating per match; now
	// it is worth ~3% (docs/performance.md), so the default is Go's.
	GCPercent      int `name:"gc-percent" help:"Go garbage collector target; 0 leaves it to GOGC (100 when unset); -1 turns the collector off until memory-limit-mib"`
	MemoryLimitMiB int `name:"memory-limit-mib" help:"soft limit of the Go heap in MiB (as GOMEMLIMIT); near it the collector runs harder instead of the heap growing; 0 means none. Set about 70% of the node's memory"`
}

// fieldSpec describes one Config field for the loader.
type fieldSpec struct {
	name, env, help, def string
	secret               bool
	v                    reflect.Value
}

func (c *Config) fields() []fieldSpec {
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	var out []fieldSpec
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name := f.Tag.Get("name")
		out = append(out, fieldSpec{
			name:   name,
			env:    "NETPULSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
			help:   f.Tag.Get("help"),
			def:    f.Tag.Get("default"),
			secret: f.Tag.Get("secret") == "true",
			v:      rv.Field(i),
		})
	}
	return out
}

func setField(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case reflect.Int64: // time.Duration
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

type flagValue struct {
	f   fieldSpec
	set bool
}

func (fv *flagValue) String() string {
	// A zero value prints as nothing, so that --help shows no "(default
	// 0s)" for a setting that has no default.
	if fv == nil || !fv.f.v.IsValid() || fv.f.v.IsZero() {
		return ""
	}
	// Lists print as they are written on the command line (a,b), not as
	// Go's [a b], so that --help shows a value one can paste back.
	if l, ok := fv.f.v.Interface().([]string); ok {
		return strings.Join(l, ",")
	}
	return fmt.Sprint(fv.f.v.Interface())
}
func (fv *flagValue) Set(s string) error { fv.set = true; return setField(fv.f.v, s) }
func (fv *flagValue) IsBoolFlag() bool   { return fv.f.v.Kind() == reflect.Bool }

// loadConfig fills a Config from defaults, file, environment and args, in
// that order of precedence.
func loadConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fields := c.fields()
	for _, f := range fields {
		if f.def != "" {
			if err := setField(f.v, f.def); err != nil {
				return nil, fmt.Errorf("default of %s: %w", f.name, err)
			}
		}
	}
	// Parse the flags into a scratch config first, only to learn --config.
	// The scratch starts from the defaults because the flag package takes
	// each flag's "(default …)" in --help from its value at registration.
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	scratch := &Config{}
	for _, f := range scratch.fields() {
		if f.def != "" {
			if err := setField(f.v, f.def); err != nil {
				return nil, fmt.Errorf("default of %s: %w", f.name, err)
			}
		}
		fs.Var(&flagValue{f: f}, f.name, f.help)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %v", cmd, fs.Args())
	}
	file := scratch.ConfigFile
	if file == "" {
		file = getenv("NETPULSE_CONFIG")
	}
	if file != "" {
		if err := c.loadFile(file); err != nil {
			return nil, err
		}
	}
	for _, f := range fields {
		if s := getenv(f.env); s != "" {
			if err := setField(f.v, s); err != nil {
				return nil, fmt.Errorf("%s=%q: %w", f.env, s, err)
			}
		}
	}
	fs2 := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	for _, f := range fields {
		fs2.Var(&flagValue{f: f}, f.name, f.help)
	}
	if err := fs2.Parse(args); err != nil {
		return nil, err
	}
	return c, c.validate()
}

func (c *Config) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	var m map[string]yaml.Node
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	byName := map[string]fieldSpec{}
	for _, f := range c.fields() {
		byName[f.name] = f
	}
	for k, node := range m {
		f, ok := byName[k]
		if !ok {
			return fmt.Errorf("config %s line %d: unknown setting %q", path, node.Line, k)
		}
		val := node.Value
		if node.Kind == yaml.SequenceNode {
			var items []string
			if err := node.Decode(&items); err != nil {
				return fmt.Errorf("config %s line %d: %s: %w", path, node.Line, k, err)
			}
			val = strings.Join(items, ",")
		} else if node.Kind != yaml.ScalarNode {
			return fmt.Errorf("config %s line %d: %s must be a value or a list", path, node.Line, k)
		}
		if err := setField(f.v, val); err != nil {
			return fmt.Errorf("config %s line %d: %s: %w", path, node.Line, k, err)
		}
	}
	return nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("data: must not be empty"))
	}
	if c.JournalFsync != "always" && c.JournalFsync != "interval" {
		errs = append(errs, fmt.Errorf("journal-fsync: %q is not always or interval", c.JournalFsync))
	}
	if c.AccessRetention < 60*24*time.Hour {
		errs = append(errs, fmt.Errorf("retention-access: %v is under the legal minimum of 60 days", c.AccessRetention))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.GCPercent < -1 || c.MemoryLimitMiB < 0 {
		errs = append(errs, errors.New("gc-percent must be -1 or more and memory-limit-mib 0 or more"))
	}
	if c.GCPercent == -1 && c.MemoryLimitMiB == 0 {
		errs = append(errs, errors.New("gc-percent -1 needs memory-limit-mib: the heap would grow without bound"))
	}
	if c.KafkaPartitions < 0 || c.KafkaReplication < 0 {
		errs = append(errs, errors.New("kafka-partitions and kafka-replication must be 0 (as topics.yaml) or more"))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, errors.New("publish-timeout must be positive"))
	}
	if _, err := caseref.New(1, c.CaseRefMax, c.CaseRefPattern); err != nil || c.CaseRefMax < 1 || c.CaseRefMax > 256 {
		errs = append(errs, fmt.Errorf("case-ref-pattern / case-ref-max (1 to 256): %v", err))
	}
	if c.LookupLimit < 1 || c.LookupAlert < 1 || c.LookupAlert > c.LookupLimit || c.LookupWindow <= 0 {
		errs = append(errs, errors.New("lookup-limit and lookup-alert must be positive, lookup-alert at most lookup-limit, lookup-window positive"))
	}
	if c.BatchRows <= 0 || c.BatchDelay <= 0 {
		errs = append(errs, errors.New("batch-rows and batch-delay must be positive"))
	}
	if c.PostsBatchRows <= 0 || c.PostsBatchDelay <= 0 {
		errs = append(errs, errors.New("posts-batch-rows and posts-batch-delay must be positive"))
	}
	if c.ComplianceGapRows < 1 || !(c.ComplianceGapRefused > 0 && c.ComplianceGapRefused <= 1) ||
		!(c.ComplianceGapMissing > 0 && c.ComplianceGapMissing <= 1) {
		errs = append(errs, errors.New("compliance-gap-min-rows must be positive and the compliance-gap shares between 0 (exclusive) and 1"))
	}
	for _, r := range c.Roles {
		switch r {
		case "intake", "crawl", "process", "api":
		default:
			errs = append(errs, fmt.Errorf("roles: unknown role %q (want intake, crawl, process, api)", r))
		}
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("roles: a node must run at least one role"))
	}
	if c.ClickHouseCluster != "" && len(c.ClickHouse) == 0 {
		errs = append(errs, errors.New("clickhouse-cluster needs --clickhouse"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// hasRole reports whether this node runs role.
func (c *Config) hasRole(role string) bool {
	return slices.Contains(c.Roles, role)
}

// writeConfigDoc prints the settings table (Markdown), the one place where
// configuration is documented.
func writeConfigDoc(w io.Writer) {
	c := &Config{}
	fmt.Fprintln(w, "| flag | environment | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, f := range c.fields() {
		def := f.def
		if def == "" {
			def = "—"
		}
		fmt.Fprintf(w, "| `--%s` | `%s` | `%s` | %s |\n", f.name, f.env, def, f.help)
	}
}
