// Package reports builds the periodic performance report that unit leaders
// read: venue coverage and delivery timeliness, record validity, silent
// venues, feed collection, alert handling and personal-data searches, for a
// week or a month, per unit or for the whole district, compared with the
// previous period and with units ranked. Every figure is computed by
// ClickHouse and shown with its formula; this package lays the results out
// as HTML with charts, CSV and a printable Chinese PDF.
package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Config holds the parameters that the formulas state.
type Config struct {
	// SilentAfter is the gap between two deliveries of a venue that makes
	// a silent-venue incident.
	SilentAfter time.Duration
	// AckSLA is the acknowledgement deadline by alert severity, the same
	// map the alert lifecycle escalates by; DefaultAckSLA for the rest.
	AckSLA        map[string]time.Duration
	DefaultAckSLA time.Duration
}

// DefaultConfig is what the report uses when a field is zero.
func DefaultConfig() Config {
	return Config{SilentAfter: 2 * time.Hour, DefaultAckSLA: 15 * time.Minute}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SilentAfter <= 0 {
		c.SilentAfter = d.SilentAfter
	}
	if c.DefaultAckSLA <= 0 {
		c.DefaultAckSLA = d.DefaultAckSLA
	}
	return c
}

// Users lists the user accounts; *access.Registry is one. The audit log
// names its actor ("user:NAME") but not the actor's unit, so the report
// takes each user's unit from the registry to give a unit its own count of
// personal-data searches.
type Users interface {
	Users(ctx context.Context) ([]access.User, error)
}

// Builder computes reports.
type Builder struct {
	db    *store.DB
	users Users
	cfg   Config
	log   *slog.Logger
}

// NewBuilder returns a builder reading db. users may be nil; the audit
// figures are then for the whole district only.
func NewBuilder(db *store.DB, users Users, cfg Config, log *slog.Logger) *Builder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Builder{db: db, users: users, cfg: cfg.withDefaults(), log: log}
}

// Value formats.
const (
	FormatPercent  = "percent"
	FormatCount    = "count"
	FormatDuration = "duration" // seconds
)

// Figure is one headline number with its previous-period value.
type Figure struct {
	Key    string `json:"key"`
	Group  string `json:"group"`
	Format string `json:"format"`
	// Value and Previous are nil when the figure has no meaning for the
	// period (a share of nothing) or its source is unavailable.
	Value    *float64 `json:"value"`
	Previous *float64 `json:"previous"`
	// Num and Den are the counts a share was computed from.
	Num     *float64 `json:"num,omitempty"`
	Den     *float64 `json:"den,omitempty"`
	PrevNum *float64 `json:"prev_num,omitempty"`
	PrevDen *float64 `json:"prev_den,omitempty"`
	// Unavailable says why the figure could not be computed.
	Unavailable string `json:"unavailable,omitempty"`
	// District marks figures that have no per-unit breakdown (feeds).
	District bool `json:"district_only,omitempty"`
}

// Delta is Value - Previous, when both exist.
func (f Figure) Delta() *float64 {
	if f.Value == nil || f.Previous == nil {
		return nil
	}
	d := *f.Value - *f.Previous
	return &d
}

// Reason is a count of rejected rows.
type Reason struct {
	Field    string  `json:"field"`
	Reason   string  `json:"why"`
	Count    float64 `json:"n"`
	Previous float64 `json:"previous"`
}

// Incident is one silent-venue interval inside the period.
type Incident struct {
	Venue   string    `json:"venue"`
	From    time.Time `json:"silent_from"`
	To      time.Time `json:"silent_to"`
	Seconds float64   `json:"seconds"`
	Open    int       `json:"open"` // 1: still silent at the end of the period
}

// CaseSearches counts personal-data searches made for one case reference.
type CaseSearches struct {
	CaseRef  string  `json:"case_ref"`
	Searches float64 `json:"searches"`
	Reveals  float64 `json:"reveals"`
	Refused  float64 `json:"refused"`
	Officers float64 `json:"officers"`
	Rows     float64 `json:"rows_returned"`
}

// UnitScore is one line of the unit ranking.
type UnitScore struct {
	Rank         int     `json:"rank"`
	PreviousRank int     `json:"previous_rank,omitempty"` // 0: not ranked then
	Unit         string  `json:"unit"`
	Registered   float64 `json:"registered"`
	Delivering   float64 `json:"delivering"`
	Records      float64 `json:"records"`
	Within5m     float64 `json:"within_5m"`
	Rejected     float64 `json:"rejected"`
	Coverage     float64 `json:"coverage"`
	Share5m      float64 `json:"share_5m"`
	ValidShare   float64 `json:"valid_share"`
	Score        float64 `json:"score"`
	PrevScore    float64 `json:"previous_score"`
}

// ComplianceLine is one venue's violations of one kind, beside the
// previous period's.
type ComplianceLine struct {
	Venue                  string   `json:"venue"`
	Rule                   string   `json:"rule"`
	Violations             float64  `json:"violations"`
	Previous               float64  `json:"previous"`
	ResolveSeconds         *float64 `json:"resolve_seconds"`
	PreviousResolveSeconds *float64 `json:"previous_resolve_seconds"`
}

// Day is one point of the daily charts.
type Day struct {
	Day     string   `json:"day"`
	Records float64  `json:"records"`
	Share5m *float64 `json:"share_5m"`
	Alerts  float64  `json:"alerts"`
}

// Report is one period's report for one unit or the district.
type Report struct {
	Period    string         `json:"period"`
	Kind      string         `json:"kind"`
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Previous  string         `json:"previous_period"`
	Unit      string         `json:"unit"` // "" for the whole district
	Generated time.Time      `json:"generated"`
	Config    ConfigView     `json:"parameters"`
	Figures   []Figure       `json:"figures"`
	Reasons   []Reason       `json:"rejections_by_reason"`
	Incidents []Incident     `json:"silent_incidents"`
	Cases     []CaseSearches `json:"searches_by_case"`
	// Compliance is venue compliance by venue and kind (alerts/compliance).
	Compliance []ComplianceLine `json:"compliance"`
	Ranking    []UnitScore      `json:"unit_ranking"`
	Daily      []Day            `json:"daily"`
	Units      []string         `json:"units"`
	Problems   []string         `json:"problems,omitempty"`
}

// ConfigView is the formula parameters as numbers.
type ConfigView struct {
	SilentAfterSeconds float64            `json:"silent_after_seconds"`
	AckSLASeconds      map[string]float64 `json:"ack_sla_seconds"`
	DefaultAckSLA      float64            `json:"default_ack_sla_seconds"`
}

// Figure looks a figure up by key.
func (r *Report) Figure(key string) (Figure, bool) {
	for _, f := range r.Figures {
		if f.Key == key {
			return f, true
		}
	}
	return Figure{}, false
}

// figSpec maps columns of a query to a figure.
type figSpec struct {
	key, format, value, num, den string
	district                     bool
}

// section is one query producing one or more figures.
type section struct {
	group string
	query string
	table string
	figs  []figSpec
}

// sections lists the report's statements. The figures of one group must
// stand together: the page and the PDF print a group's heading where the
// group changes, so a group split in two prints its heading twice.
func sections() []section {
	return []section{
		{"venues", qCoverage, tblRecords, []figSpec{
			{key: "coverage", format: FormatPercent, value: "coverage", num: "delivering", den: "registered"},
			{key: "venues_registered", format: FormatCount, value: "registered"},
			{key: "venues_delivering", format: FormatCount, value: "delivering"},
		}},
		{"venues", qSilentSummary, tblRecords, []figSpec{
			{key: "silent_incidents", format: FormatCount, value: "incidents"},
			{key: "silent_venues", format: FormatCount, value: "venues"},
			{key: "silent_duration", format: FormatDuration, value: "silent_seconds"},
			{key: "silent_longest", format: FormatDuration, value: "longest_seconds"},
		}},
		{"records", qDelivery, tblRecords, []figSpec{
			{key: "records", format: FormatCount, value: "records"},
			{key: "within_5m", format: FormatPercent, value: "share_5m", num: "within_5m", den: "records"},
			{key: "within_24h", format: FormatPercent, value: "share_24h", num: "within_24h", den: "records"},
		}},
		{"records", qValid, tblQuarantine, []figSpec{
			{key: "valid_share", format: FormatPercent, value: "valid_share", num: "accepted", den: "received_rows"},
			{key: "rejected_rows", format: FormatCount, value: "rejected"},
		}},
		{"feeds", qFeeds, tblPosts, []figSpec{
			{key: "sources_active", format: FormatCount, value: "sources_active", district: true},
			{key: "posts_collected", format: FormatCount, value: "posts", district: true},
		}},
		{"feeds", qCrawl, tblCrawlRuns, []figSpec{
			{key: "crawl_success", format: FormatPercent, value: "crawl_success", num: "runs_ok", den: "runs", district: true},
		}},
		{"alerts", qAlerts, tblAlerts, []figSpec{
			{key: "alerts_raised", format: FormatCount, value: "raised"},
			{key: "alerts_acked_in_sla", format: FormatPercent, value: "sla_share", num: "acked_in_sla", den: "raised"},
			{key: "alerts_mtta", format: FormatDuration, value: "mtta_seconds"},
			{key: "alerts_mttr", format: FormatDuration, value: "mttr_seconds"},
			{key: "alerts_precision", format: FormatPercent, value: "precision", num: "useful", den: "judged"},
		}},
		{"audit", qSearchSummary, tblAudit, []figSpec{
			{key: "pd_searches", format: FormatCount, value: "searches"},
			{key: "pd_cases", format: FormatCount, value: "cases"},
			{key: "pd_reveals", format: FormatCount, value: "reveals"},
		}},
	}
}

// FigureKeys lists every figure in report order.
func FigureKeys() []string {
	var out []string
	for _, s := range sections() {
		for _, f := range s.figs {
			out = append(out, f.key)
		}
	}
	return out
}

// binding holds the literals of one report run.
type binding struct {
	vals map[string]string
}

func lit(v any) string {
	s, err := store.Bind("?", v)
	if err != nil {
		panic(fmt.Sprintf("bind %T: %v", v, err)) // only times, numbers and strings are bound here
	}
	return s
}

// expand replaces the markers in one pass, so that a marker spelled inside
// a bound value (a unit named "{E}") is never replaced in turn.
func (b binding) expand(q string) string {
	pairs := make([]string, 0, 2*len(b.vals))
	for k, v := range b.vals {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(q)
}

func (bld *Builder) bind(ctx context.Context, p Period, unit string, now time.Time) (binding, error) {
	sla := lit(int64(bld.cfg.DefaultAckSLA / time.Second))
	if len(bld.cfg.AckSLA) > 0 {
		var sev []string
		var secs []int64
		for k, d := range bld.cfg.AckSLA {
			sev = append(sev, k)
			secs = append(secs, int64(d/time.Second))
		}
		sla = "transform(severity, " + lit(sev) + ", " + lit(secs) + ", " + sla + ")"
	}
	// ACTOR_UNIT maps an audit actor to the unit of that user; without a
	// user list every actor counts for whichever unit is asked (district).
	actorUnit := lit(unit)
	if bld.users != nil {
		us, err := bld.users.Users(ctx)
		if err != nil {
			return binding{}, fmt.Errorf("report: list users: %w", err)
		}
		actors, units := []string{""}, []string{""}
		for _, u := range us {
			actors, units = append(actors, "user:"+u.Name), append(units, u.Unit)
		}
		actorUnit = "transform(actor, " + lit(actors) + ", " + lit(units) + ", '')"
	}
	return binding{vals: map[string]string{
		"S": lit(p.Start), "E": lit(p.End), "PS": lit(p.Previous().Start), "U": lit(unit), "NOW": lit(now),
		"T":          lit(int64(bld.cfg.SilentAfter / time.Second)),
		"SLA":        sla,
		"ACTOR_UNIT": actorUnit,
	}}, nil
}

// Units lists the units that have registered venues.
func (bld *Builder) Units(ctx context.Context) ([]string, error) {
	var rows []struct {
		Unit string `json:"unit"`
	}
	if err := bld.db.Select(ctx, &rows, qUnits); err != nil {
		return nil, fmt.Errorf("report units: %w", err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Unit)
	}
	return out, nil
}

// ErrUnknownUnit means the unit has no registered venue.
var ErrUnknownUnit = errors.New("unknown unit")

// Build computes the report of period p for unit ("" = district). A figure
// whose source table is missing or whose query fails is marked unavailable
// rather than failing the whole report; the problem is logged.
func (bld *Builder) Build(ctx context.Context, p Period, unit string, now time.Time) (*Report, error) {
	missing, err := bld.missingTables(ctx)
	if err != nil {
		return nil, err
	}
	var units []string
	if !missing[tblVenues] {
		if units, err = bld.Units(ctx); err != nil {
			return nil, err
		}
	}
	if unit != "" && !contains(units, unit) {
		return nil, fmt.Errorf("%w %q", ErrUnknownUnit, unit)
	}
	b, err := bld.bind(ctx, p, unit, now)
	if err != nil {
		return nil, err
	}
	prev := p.Previous()
	r := &Report{Period: p.String(), Kind: p.Kind, From: p.Start, To: p.End, Previous: prev.String(),
		Unit: unit, Generated: now.In(cst), Units: units,
		Config: ConfigView{SilentAfterSeconds: bld.cfg.SilentAfter.Seconds(),
			DefaultAckSLA: bld.cfg.DefaultAckSLA.Seconds(), AckSLASeconds: map[string]float64{}}}
	for k, d := range bld.cfg.AckSLA {
		r.Config.AckSLASeconds[k] = d.Seconds()
	}
	problem := func(what string, err error) string {
		bld.log.Warn("report figure unavailable", "period", r.Period, "unit", unit, "what", what, "err", err)
		msg := fmt.Sprintf("%s: %v", what, err)
		r.Problems = append(r.Problems, msg)
		return msg
	}
	for _, s := range sections() {
		var rows []map[string]any
		var why string
		switch {
		case missing[s.table] || (s.table != tblPosts && s.table != tblCrawlRuns && missing[tblVenues]):
			why = "missing table " + s.table
			if missing[tblVenues] {
				why = "missing table " + tblVenues
			}
			r.Problems = append(r.Problems, why)
		default:
			if err := bld.db.Select(ctx, &rows, b.expand(s.query)); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				why = problem(s.group, err)
			}
		}
		cur, prv := pick(rows, "cur"), pick(rows, "prev")
		for _, fs := range s.figs {
			district := fs.district || (s.table == tblAudit && bld.users == nil)
			f := Figure{Key: fs.key, Group: s.group, Format: fs.format, District: district, Unavailable: why}
			if why == "" {
				f.Value, f.Previous = value(cur, fs), value(prv, fs)
				if fs.num != "" {
					f.Num, f.Den, f.PrevNum, f.PrevDen = num(cur, fs.num), num(cur, fs.den), num(prv, fs.num), num(prv, fs.den)
				}
			}
			r.Figures = append(r.Figures, f)
		}
	}
	if !missing[tblQuarantine] && !missing[tblVenues] {
		if err := bld.reasons(ctx, b, r); err != nil {
			problem("rejections by reason", err)
		}
	}
	if !missing[tblRecords] && !missing[tblVenues] {
		if err := bld.db.Select(ctx, &r.Incidents, b.expand(qSilentList)); err != nil {
			problem("silent incidents", err)
		}
	}
	if !missing[tblRecords] && !missing[tblVenues] && !missing[tblQuarantine] {
		if err := bld.ranking(ctx, b, p, r); err != nil {
			problem("unit ranking", err)
		}
	}
	if !missing[tblAudit] {
		if err := bld.db.Select(ctx, &r.Cases, b.expand(qSearchByCase)); err != nil {
			problem("searches by case", err)
		}
	}
	if !missing[tblAlerts] && !missing[tblVenues] {
		if err := bld.db.Select(ctx, &r.Compliance, b.expand(qCompliance)); err != nil {
			problem("compliance", err)
		}
	}
	if r.Compliance == nil {
		r.Compliance = []ComplianceLine{}
	}
	if err := bld.daily(ctx, b, p, r, missing); err != nil {
		problem("daily series", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return r, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// missingTables reports which upstream tables do not exist yet, so that a
// report still renders on an installation where a subsystem is absent.
func (bld *Builder) missingTables(ctx context.Context) (map[string]bool, error) {
	var rows []struct {
		Name string `json:"name"`
	}
	if err := bld.db.Select(ctx, &rows, `SELECT concat(database, '.', name) AS name FROM system.tables WHERE database = 'netpulse'`); err != nil {
		return nil, fmt.Errorf("report: list tables: %w", err)
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[r.Name] = true
	}
	missing := map[string]bool{}
	for _, t := range []string{tblVenues, tblRecords, tblQuarantine, tblAudit, tblPosts, tblCrawlRuns, tblAlerts} {
		if !have[t] {
			missing[t] = true
		}
	}
	return missing, nil
}

func pick(rows []map[string]any, p string) map[string]any {
	for _, r := range rows {
		if r["p"] == p {
			return r
		}
	}
	return nil
}

func num(row map[string]any, col string) *float64 {
	if row == nil {
		return nil
	}
	if f, ok := row[col].(float64); ok {
		return &f
	}
	return nil
}

// value reads a figure; a period with no rows has counts of zero and
// shares of nothing.
func value(row map[string]any, fs figSpec) *float64 {
	if v := num(row, fs.value); v != nil {
		return v
	}
	if fs.format == FormatCount {
		zero := 0.0
		return &zero
	}
	return nil
}

func (bld *Builder) reasons(ctx context.Context, b binding, r *Report) error {
	var rows []struct {
		P      string  `json:"p"`
		Field  string  `json:"field"`
		Reason string  `json:"why"`
		N      float64 `json:"n"`
	}
	if err := bld.db.Select(ctx, &rows, b.expand(qReasons)); err != nil {
		return err
	}
	idx := map[[2]string]int{}
	for _, x := range rows {
		k := [2]string{x.Field, x.Reason}
		i, ok := idx[k]
		if !ok {
			i = len(r.Reasons)
			idx[k] = i
			r.Reasons = append(r.Reasons, Reason{Field: x.Field, Reason: x.Reason})
		}
		if x.P == "cur" {
			r.Reasons[i].Count = x.N
		} else {
			r.Reasons[i].Previous = x.N
		}
	}
	sort.SliceStable(r.Reasons, func(i, j int) bool { return r.Reasons[i].Count > r.Reasons[j].Count })
	return nil
}

func (bld *Builder) ranking(ctx context.Context, b binding, p Period, r *Report) error {
	run := func(per Period) ([]UnitScore, error) {
		bb := binding{vals: map[string]string{}}
		for k, v := range b.vals {
			bb.vals[k] = v
		}
		bb.vals["S"], bb.vals["E"] = lit(per.Start), lit(per.End)
		var out []UnitScore
		err := bld.db.Select(ctx, &out, bb.expand(qRanking))
		return out, err
	}
	cur, err := run(p)
	if err != nil {
		return err
	}
	prev, err := run(p.Previous())
	if err != nil {
		return err
	}
	prevRank := map[string]UnitScore{}
	for i, u := range prev {
		u.Rank = i + 1
		prevRank[u.Unit] = u
	}
	for i := range cur {
		cur[i].Rank = i + 1
		if pu, ok := prevRank[cur[i].Unit]; ok {
			cur[i].PreviousRank, cur[i].PrevScore = pu.Rank, pu.Score
		}
	}
	r.Ranking = cur
	return nil
}

func (bld *Builder) daily(ctx context.Context, b binding, p Period, r *Report, missing map[string]bool) error {
	days := map[string]*Day{}
	for _, d := range p.Days() {
		r.Daily = append(r.Daily, Day{Day: d})
	}
	for i := range r.Daily {
		days[r.Daily[i].Day] = &r.Daily[i]
	}
	if !missing[tblRecords] && !missing[tblVenues] {
		var rows []Day
		if err := bld.db.Select(ctx, &rows, b.expand(qDailyRecords)); err != nil {
			return err
		}
		for _, x := range rows {
			if d := days[x.Day]; d != nil {
				d.Records, d.Share5m = x.Records, x.Share5m
			}
		}
	}
	if !missing[tblAlerts] {
		var rows []struct {
			Day    string  `json:"day"`
			Raised float64 `json:"raised"`
		}
		if err := bld.db.Select(ctx, &rows, b.expand(qDailyAlerts)); err != nil {
			return err
		}
		for _, x := range rows {
			if d := days[x.Day]; d != nil {
				d.Alerts = x.Raised
			}
		}
	}
	return nil
}
