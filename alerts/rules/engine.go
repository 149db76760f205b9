package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Raiser is what the rules need from the alert lifecycle.
type Raiser interface {
	Raise(ctx context.Context, s lifecycle.Signal) (lifecycle.Alert, bool, error)
	ResolveKey(ctx context.Context, rule, key, reason string) (lifecycle.Alert, bool, error)
	Active(rule, key string) bool
}

// Options configure an Engine.
type Options struct {
	DB     *store.DB
	Raiser Raiser
	// Dir holds rule files (*.yaml, *.yml); may be empty.
	Dir string
	// Settle is how far behind the clock keyword rules read, so that posts
	// still being stored are not skipped; 5 s if zero.
	Settle time.Duration
	Log    *slog.Logger
	Reg    prometheus.Registerer
	Now    func() time.Time
}

// Engine evaluates the rules on their schedules.
type Engine struct {
	o Options

	mu    sync.Mutex
	file  map[string]Rule
	api   map[string]Rule
	due   map[string]time.Time
	state map[string]string // rule+"\x00"+key → value, mirrored in alert_rule_state
	ver   uint64

	evals  *prometheus.CounterVec
	failed *prometheus.CounterVec
}

// New loads the API rules and rule state from the store and the files from
// o.Dir. A file that does not validate is refused: its error, with line
// numbers, is returned alongside a working engine without it.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.DB == nil || o.Raiser == nil {
		return nil, errors.New("rules: DB and Raiser are required")
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Engine{o: o, file: map[string]Rule{}, api: map[string]Rule{}, due: map[string]time.Time{}, state: map[string]string{},
		evals:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_rules_evaluations_total", Help: "Rule evaluations, by type."}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_rules_failures_total", Help: "Rule evaluations that failed, by type."}, []string{"type"}),
	}
	if o.Reg != nil {
		for _, c := range []prometheus.Collector{e.evals, e.failed} {
			if err := o.Reg.Register(c); err != nil {
				return nil, fmt.Errorf("rules: register metrics: %w", err)
			}
		}
	}
	var st []struct {
		Rule  string `json:"rule"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := o.DB.Select(ctx, &st, `SELECT rule, key, value FROM netpulse.alert_rule_state FINAL`); err != nil {
		return nil, fmt.Errorf("rules: load state: %w", err)
	}
	for _, s := range st {
		e.state[s.Rule+"\x00"+s.Key] = s.Value
	}
	var stored []struct {
		Name    string `json:"name"`
		YAML    string `json:"yaml"`
		Deleted uint8  `json:"deleted"`
	}
	if err := o.DB.Select(ctx, &stored, `SELECT name, yaml, deleted FROM netpulse.alert_rules FINAL`); err != nil {
		return nil, fmt.Errorf("rules: load API rules: %w", err)
	}
	for _, s := range stored {
		if s.Deleted != 0 {
			continue
		}
		rs, err := Parse([]byte("rules:\n"+indent(s.YAML)), "api")
		if err != nil || len(rs) != 1 {
			o.Log.Error("rules: stored API rule no longer validates", "rule", s.Name, "err", err)
			continue
		}
		e.vet(ctx, &rs[0])
		e.api[rs[0].Name] = rs[0]
	}
	return e, e.LoadDir(ctx)
}

// vet checks a threshold rule's SQL with the store's parser. A rule that
// fails stays listed but disabled, with the reason, so that a rule written
// before the check (or edited on disk) cannot run unchecked.
func (e *Engine) vet(ctx context.Context, r *Rule) {
	if r.Type != TypeThreshold {
		return
	}
	q, err := vetSQL(ctx, e.o.DB, r.SQL)
	if err != nil {
		r.Disabled = "sql: " + err.Error()
		r.run = ""
		e.o.Log.Error("rules: threshold rule disabled", "rule", r.Name, "source", r.Source, "reason", r.Disabled)
		return
	}
	r.Disabled, r.run = "", q
}

// Check validates a rule document as Put would, SQL included, without
// storing it.
func (e *Engine) Check(ctx context.Context, doc []byte) ([]Rule, error) {
	rs, err := Parse(doc, "api")
	if err != nil {
		return nil, err
	}
	var ferrs []FieldError
	for i := range rs {
		if rs[i].Type != TypeThreshold {
			continue
		}
		q, err := vetSQL(ctx, e.o.DB, rs[i].SQL)
		if err != nil {
			ferrs = append(ferrs, FieldError{Line: rs[i].Line, Rule: rs[i].Name, Field: "sql", Message: err.Error()})
			continue
		}
		rs[i].run = q
	}
	if len(ferrs) > 0 {
		return nil, &ValidationError{"api", ferrs}
	}
	return rs, nil
}

func indent(y string) string {
	lines := strings.Split(strings.TrimRight(y, "\n"), "\n")
	for i, l := range lines {
		if i == 0 {
			lines[i] = "  - " + l
		} else {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// LoadDir (re)reads the rule files. Files that fail validation are left
// out and reported together.
func (e *Engine) LoadDir(ctx context.Context) error {
	if e.o.Dir == "" {
		return nil
	}
	var paths []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(e.o.Dir, pat))
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	next := map[string]Rule{}
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: %w", err))
			continue
		}
		rs, err := Parse(b, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range rs {
			if prev, ok := next[r.Name]; ok {
				errs = append(errs, fmt.Errorf("rules %s line %d: rule %q already defined in %s line %d", p, r.Line, r.Name, prev.Source, prev.Line))
				continue
			}
			r.Source = "file:" + p
			e.vet(ctx, &r)
			next[r.Name] = r
		}
	}
	e.mu.Lock()
	e.file = next
	e.mu.Unlock()
	return errors.Join(errs...)
}

// Rules lists every active rule, file rules first.
func (e *Engine) Rules() []Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Rule
	for _, r := range e.file {
		out = append(out, r)
	}
	for _, r := range e.api {
		if _, shadowed := e.file[r.Name]; !shadowed {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type ruleRow struct {
	Name      string    `json:"name"`
	YAML      string    `json:"yaml"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	Deleted   uint8     `json:"deleted"`
	Version   uint64    `json:"version"`
}

func (e *Engine) version() uint64 {
	v := uint64(e.o.Now().UnixNano())
	if v <= e.ver {
		v = e.ver + 1
	}
	e.ver = v
	return v
}

// Put validates a YAML document of rules and stores them as API rules.
// allowSQL gates threshold rules, which run SQL with the store's rights.
func (e *Engine) Put(ctx context.Context, doc []byte, who string, allowSQL bool) ([]Rule, error) {
	rs, err := Parse(doc, "api")
	if err != nil {
		return nil, err
	}
	if !allowSQL {
		// Refuse before the SQL reaches the parser at all.
		var ferrs []FieldError
		for _, r := range rs {
			if r.Type == TypeThreshold {
				ferrs = append(ferrs, FieldError{Line: r.Line, Rule: r.Name, Field: "type", Message: "threshold rules run SQL and need the admin role"})
			}
		}
		if len(ferrs) > 0 {
			return nil, &ValidationError{"api", ferrs}
		}
	}
	if rs, err = e.Check(ctx, doc); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var ferrs []FieldError
	for _, r := range rs {
		if _, ok := e.file[r.Name]; ok {
			ferrs = append(ferrs, FieldError{Line: r.Line, Rule: r.Name, Field: "name", Message: "defined in a rule file; change it there"})
		}
		if r.Type == TypeThreshold && !allowSQL {
			ferrs = append(ferrs, FieldError{Line: r.Line, Rule: r.Name, Field: "type", Message: "threshold rules run SQL and need the admin role"})
		}
	}
	if len(ferrs) > 0 {
		return nil, &ValidationError{"api", ferrs}
	}
	rows := make([]ruleRow, 0, len(rs))
	now := e.o.Now().UTC()
	for i := range rs {
		rs[i].Source = "api"
		rows = append(rows, ruleRow{Name: rs[i].Name, YAML: rs[i].YAML, CreatedBy: who, UpdatedAt: now, Version: e.version()})
	}
	if err := e.o.DB.Insert(ctx, "netpulse.alert_rules", rows); err != nil {
		return nil, fmt.Errorf("rules: store: %w", err)
	}
	for _, r := range rs {
		e.api[r.Name] = r
		delete(e.due, r.Name)
	}
	return rs, nil
}

// Delete removes an API rule.
func (e *Engine) Delete(ctx context.Context, name, who string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.api[name]; !ok {
		if _, ok := e.file[name]; ok {
			return fmt.Errorf("%w: rule %s is defined in a file", lifecycle.ErrConflict, name)
		}
		return fmt.Errorf("%w: rule %s", lifecycle.ErrNotFound, name)
	}
	if err := e.o.DB.Insert(ctx, "netpulse.alert_rules", []ruleRow{{Name: name, CreatedBy: who, UpdatedAt: e.o.Now().UTC(), Deleted: 1, Version: e.version()}}); err != nil {
		return fmt.Errorf("rules: delete %s: %w", name, err)
	}
	delete(e.api, name)
	return nil
}

func (e *Engine) getState(rule, key string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state[rule+"\x00"+key]
}

func (e *Engine) setState(ctx context.Context, rule, key, value string) error {
	e.mu.Lock()
	v := e.version()
	e.mu.Unlock()
	if err := e.o.DB.Insert(ctx, "netpulse.alert_rule_state", []struct {
		Rule    string `json:"rule"`
		Key     string `json:"key"`
		Value   string `json:"value"`
		Version uint64 `json:"version"`
	}{{rule, key, value, v}}); err != nil {
		return fmt.Errorf("rules: save state of %s: %w", rule, err)
	}
	e.mu.Lock()
	e.state[rule+"\x00"+key] = value
	e.mu.Unlock()
	return nil
}

// Run evaluates due rules every second until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		e.Tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick evaluates every rule whose time has come and returns the errors.
func (e *Engine) Tick(ctx context.Context) error {
	now := e.o.Now()
	var due []Rule
	for _, r := range e.Rules() {
		if r.Disabled != "" {
			continue
		}
		e.mu.Lock()
		next, ok := e.due[r.Name]
		if !ok || !now.Before(next) {
			e.due[r.Name] = now.Add(r.Every)
			due = append(due, r)
		}
		e.mu.Unlock()
	}
	var errs []error
	for _, r := range due {
		if err := e.Eval(ctx, r); err != nil {
			e.failed.WithLabelValues(r.Type).Inc()
			e.o.Log.Warn("rules: evaluate", "rule", r.Name, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Eval evaluates one rule now.
func (e *Engine) Eval(ctx context.Context, r Rule) error {
	e.evals.WithLabelValues(r.Type).Inc()
	now := e.o.Now().UTC()
	switch r.Type {
	case TypeKeyword:
		return e.keyword(ctx, r, now)
	case TypeFrequency:
		return e.frequency(ctx, r, now)
	case TypeSpike:
		return e.spike(ctx, r, now)
	case TypeFlatline:
		return e.flatline(ctx, r, now)
	case TypeNewTerm:
		return e.newTerm(ctx, r, now)
	case TypeThreshold:
		return e.threshold(ctx, r, now)
	}
	return fmt.Errorf("rules: %s: unknown type %q", r.Name, r.Type)
}

func (e *Engine) signal(r Rule, key, title string, payload any, at time.Time) lifecycle.Signal {
	return lifecycle.Signal{Rule: r.Name, Kind: r.Type, Key: key, Severity: r.Severity, Unit: r.Unit, Title: title,
		Payload: payload, At: at, Realert: r.Realert}
}

const postText = "lowerUTF8(concat(title, ' ', body))"

type match struct {
	ID      string    `json:"id"`
	Source  string    `json:"source"`
	Title   string    `json:"title"`
	URL     string    `json:"url"`
	Cluster uint64    `json:"cluster"`
	SeenAt  time.Time `json:"seen_at"`
}

// keyword raises for new posts matching the query since the last run.
func (e *Engine) keyword(ctx context.Context, r Rule, now time.Time) error {
	upto := now.Add(-e.o.Settle)
	cur := e.getState(r.Name, "cursor")
	if cur == "" {
		// First run: start from now, not from the beginning of time.
		return e.setState(ctx, r.Name, "cursor", upto.Format(time.RFC3339Nano))
	}
	from, err := time.Parse(time.RFC3339Nano, cur)
	if err != nil {
		from = upto
	}
	if !upto.After(from) {
		return nil
	}
	cond, args := r.q.sql(postText)
	var ms []match
	if err := e.o.DB.Select(ctx, &ms, `SELECT id, source, title, url, cluster, seen_at FROM netpulse.alert_posts FINAL
		WHERE seen_at > ? AND seen_at <= ? AND `+cond+` ORDER BY seen_at LIMIT 1000`, append([]any{from, upto}, args...)...); err != nil {
		return fmt.Errorf("rules: %s: %w", r.Name, err)
	}
	groups := map[string][]match{}
	var keys []string
	for _, m := range ms {
		k := r.Name
		switch r.DedupKey {
		case "source":
			k = "source:" + m.Source
		case "cluster":
			k = fmt.Sprintf("cluster:%d", m.Cluster)
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], m)
	}
	for _, k := range keys {
		g := groups[k]
		// Matches within the rule's window grow the one open card: the
		// count is carried from the window's start, and the raise folds
		// into the card (title and payload updated in place).
		start, count := now, 0
		if w := e.getState(r.Name, "window:"+k); w != "" && e.o.Raiser.Active(r.Name, k) {
			var ws int64
			if _, err := fmt.Sscanf(w, "%d %d", &ws, &count); err == nil && now.Sub(time.Unix(ws, 0)) < r.Window {
				start = time.Unix(ws, 0)
			} else {
				count = 0
			}
		}
		count += len(g)
		if err := e.setState(ctx, r.Name, "window:"+k, fmt.Sprintf("%d %d", start.Unix(), count)); err != nil {
			return err
		}
		sample := g[max(0, len(g)-10):]
		title := fmt.Sprintf("%s：%s起 %d 条新帖文命中“%s”", display(r), start.In(chinaTime).Format("15:04"), count, r.Query)
		if _, _, err := e.o.Raiser.Raise(ctx, e.signal(r, k, title, map[string]any{"count": count, "since": start.UTC(), "posts": sample}, now)); err != nil {
			return err
		}
	}
	return e.setState(ctx, r.Name, "cursor", upto.Format(time.RFC3339Nano))
}

func (e *Engine) countMatches(ctx context.Context, r Rule, from, to time.Time) (uint64, error) {
	cond, args := r.q.sql(postText)
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := e.o.DB.Select(ctx, &n, `SELECT uniqExact(cluster) AS n FROM netpulse.alert_posts
		WHERE published_at > ? AND published_at <= ? AND `+cond, append([]any{from, to}, args...)...); err != nil {
		return 0, fmt.Errorf("rules: %s: %w", r.Name, err)
	}
	if len(n) == 0 {
		return 0, nil
	}
	return n[0].N, nil
}

// condition raises while fire holds and resolves once it stops. level is
// the measured value; the card's title states the highest level of the
// episode (it grows in place when the level climbs), and the resolve
// reason names that same peak beside the level that ended it, so the
// two never seem to disagree.
func (e *Engine) condition(ctx context.Context, r Rule, key string, fire bool, level float64, title func(peak float64) string,
	clear func(peak float64) string, payload any, now time.Time) error {
	var peak float64
	havePeak := false
	if v := e.getState(r.Name, "peak:"+key); v != "" {
		_, err := fmt.Sscan(v, &peak)
		havePeak = err == nil
	}
	if fire {
		active := e.o.Raiser.Active(r.Name, key)
		if active && havePeak && level <= peak {
			return nil // still firing: one alert per episode, not one per evaluation
		}
		if !active || !havePeak {
			peak = level
		} else {
			peak = math.Max(peak, level)
		}
		if err := e.setState(ctx, r.Name, "peak:"+key, strconv.FormatFloat(peak, 'g', -1, 64)); err != nil {
			return err
		}
		_, _, err := e.o.Raiser.Raise(ctx, e.signal(r, key, title(peak), payload, now))
		return err
	}
	if !havePeak {
		peak = level
	}
	_, _, err := e.o.Raiser.ResolveKey(ctx, r.Name, key, clear(peak))
	return err
}

func (e *Engine) frequency(ctx context.Context, r Rule, now time.Time) error {
	n, err := e.countMatches(ctx, r, now.Add(-r.Window), now)
	if err != nil {
		return err
	}
	return e.condition(ctx, r, r.Name, float64(n) >= r.Threshold, float64(n),
		func(peak float64) string {
			return fmt.Sprintf("%s：%s内最多 %g 条帖文命中“%s”（阈值 %g）", display(r), zhDuration(r.Window), peak, r.Query, r.Threshold)
		},
		func(peak float64) string {
			return fmt.Sprintf("自动解除：%s内最多 %g 条，现降至 %d 条，低于 %g", zhDuration(r.Window), peak, n, r.Threshold)
		},
		map[string]any{"count": n, "window": r.Window.String(), "threshold": r.Threshold}, now)
}

// spike compares the window with the same window a day and a week ago.
func (e *Engine) spike(ctx context.Context, r Rule, now time.Time) error {
	cur, err := e.countMatches(ctx, r, now.Add(-r.Window), now)
	if err != nil {
		return err
	}
	d, err := e.countMatches(ctx, r, now.Add(-24*time.Hour-r.Window), now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	w, err := e.countMatches(ctx, r, now.Add(-7*24*time.Hour-r.Window), now.Add(-7*24*time.Hour))
	if err != nil {
		return err
	}
	base := (float64(d) + float64(w)) / 2
	ratio := float64(cur) / math.Max(base, 1)
	fire := cur >= uint64(r.MinCount) && ratio >= r.Ratio
	return e.condition(ctx, r, r.Name, fire, ratio,
		func(peak float64) string {
			return fmt.Sprintf("%s：%s内帖文命中“%s”最多达前一日与前一周同期均值 %.1f 的 %.1f 倍", display(r), zhDuration(r.Window), r.Query, base, peak)
		},
		func(peak float64) string {
			return fmt.Sprintf("自动解除：最多 %.1f 倍，现回落至同期均值的 %.1f 倍", peak, ratio)
		},
		map[string]any{"count": cur, "day_ago": d, "week_ago": w, "baseline": base, "ratio": ratio}, now)
}

// Silence is one key's delivery pattern as the flatline rule sees it.
type Silence struct {
	Key      string    `json:"key"`
	Last     time.Time `json:"last"`
	AtHour   float64   `json:"at_hour"` // arrivals in this hour of day (±1 h), per day
	Days     float64   `json:"days"`
	Silent   float64   `json:"silent_s"`
	UsualGap float64   `json:"usual_gap_s"`
	Limit    float64   `json:"limit_s"`
}

// flatline fires for each venue or source silent for longer than factor
// times its usual gap at this hour of day, and resolves when it delivers.
func (e *Engine) flatline(ctx context.Context, r Rule, now time.Time) error {
	src := `SELECT venue AS key, received_at AS ts FROM netpulse.access_records WHERE received_at > ? - INTERVAL 7 DAY AND received_at <= ?`
	if r.Of == "source" {
		src = `SELECT source AS key, seen_at AS ts FROM netpulse.alert_posts WHERE seen_at > ? - INTERVAL 7 DAY AND seen_at <= ?`
	}
	var rows []Silence
	if err := e.o.DB.Select(ctx, &rows, `SELECT key, max(ts) AS last,
		countIf(abs(((toHour(ts) - toHour(?)) + 36) % 24 - 12) <= 1) / 3.0 AS at_hour,
		greatest(1.0, least(7.0, dateDiff('second', min(ts), ?) / 86400.0)) AS days
		FROM (`+src+`) GROUP BY key ORDER BY key`, now, now, now, now); err != nil {
		return fmt.Errorf("rules: %s: %w", r.Name, err)
	}
	var errs []error
	for _, s := range rows {
		s.Silent = now.Sub(s.Last).Seconds()
		rate := s.AtHour / s.Days // arrivals per hour at this time of day
		key := r.Of + ":" + s.Key
		if rate <= 0 {
			// Nothing usually arrives at this hour: silence says nothing,
			// but a delivery still clears an open alert.
			if s.Silent < r.MinSilence.Seconds() {
				_, _, err := e.o.Raiser.ResolveKey(ctx, r.Name, key, resumed)
				errs = append(errs, err)
			}
			continue
		}
		s.UsualGap = 3600 / rate
		s.Limit = math.Max(r.MinSilence.Seconds(), r.Factor*s.UsualGap)
		fire := s.Silent > s.Limit
		title := fmt.Sprintf("%s %s 已 %s 无新数据（此时段通常每 %s 一条）", ofName[r.Of], s.Key,
			zhDuration(time.Duration(s.Silent*float64(time.Second))), zhDuration(time.Duration(s.UsualGap*float64(time.Second))))
		// The silence grows every evaluation; the card states when it was
		// noticed, so the level passed is constant (no update per tick).
		errs = append(errs, e.condition(ctx, r, key, fire, 0, func(float64) string { return title },
			func(float64) string { return resumed }, s, now))
	}
	return errors.Join(errs...)
}

// newTerm raises once per term first counted within the window, after the
// rule has learnt the vocabulary for r.Learn. The first-seen dates live in
// ClickHouse and the alert ids derive from the term, so a restart neither
// forgets what was seen nor alerts twice.
func (e *Engine) newTerm(ctx context.Context, r Rule, now time.Time) error {
	armed := e.getState(r.Name, "armed")
	if armed == "" {
		return e.setState(ctx, r.Name, "armed", now.Format(time.RFC3339Nano))
	}
	at, err := time.Parse(time.RFC3339Nano, armed)
	if err != nil {
		return fmt.Errorf("rules: %s: armed state %q: %w", r.Name, armed, err)
	}
	if now.Before(at.Add(r.Learn)) {
		return nil
	}
	since := now.Add(-r.Window)
	if learnt := at.Add(r.Learn); since.Before(learnt) {
		since = learnt
	}
	var rows []struct {
		Term  string    `json:"term"`
		First time.Time `json:"first"`
		N     uint64    `json:"n"`
	}
	if err := e.o.DB.Select(ctx, &rows, `SELECT f.term AS term, f.first AS first, c.n AS n FROM
		(SELECT term, min(first_seen) AS first FROM netpulse.term_first_seen GROUP BY term HAVING first >= toDateTime(?)) AS f
		INNER JOIN (SELECT term, uniqExact(cluster) AS n FROM netpulse.term_mentions WHERE bucket >= toDateTime(?) GROUP BY term) AS c
		ON f.term = c.term WHERE c.n >= ? ORDER BY n DESC, term LIMIT 50`, since.Truncate(time.Second), since.Truncate(time.Second), r.MinCount); err != nil {
		return fmt.Errorf("rules: %s: %w", r.Name, err)
	}
	for _, t := range rows {
		h := sha256.Sum256([]byte(r.Name + "\x00" + t.Term))
		s := e.signal(r, "term:"+t.Term, fmt.Sprintf("新词“%s”：%s 起 %d 条帖文", t.Term, t.First.In(chinaTime).Format("2006-01-02 15:04"), t.N),
			map[string]any{"term": t.Term, "first_seen": t.First, "count": t.N}, now)
		s.ID, s.Term = "nt-"+hex.EncodeToString(h[:10]), t.Term
		if _, _, err := e.o.Raiser.Raise(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) threshold(ctx context.Context, r Rule, now time.Time) error {
	if r.run == "" {
		return fmt.Errorf("rules: %s: SQL not checked; not run", r.Name)
	}
	var rows []map[string]any
	if err := e.o.DB.SelectLimited(ctx, &rows, ruleLimits, r.run); err != nil {
		return fmt.Errorf("rules: %s: %w", r.Name, err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("rules: %s: query returned no row", r.Name)
	}
	raw, ok := rows[0]["value"]
	if !ok {
		for _, v := range rows[0] {
			raw = v
			break
		}
	}
	var v float64
	switch x := raw.(type) {
	case float64:
		v = x
	case json.Number:
		v, _ = x.Float64()
	case string:
		if _, err := fmt.Sscan(x, &v); err != nil {
			return fmt.Errorf("rules: %s: value %q is not a number", r.Name, x)
		}
	default:
		return fmt.Errorf("rules: %s: value %v is not a number", r.Name, raw)
	}
	var fire bool
	switch r.Op {
	case ">":
		fire = v > r.Value
	case ">=":
		fire = v >= r.Value
	case "<":
		fire = v < r.Value
	case "<=":
		fire = v <= r.Value
	case "==":
		fire = v == r.Value
	case "!=":
		fire = v != r.Value
	}
	// The title states the value that raised it; for a threshold the
	// "peak" is whichever value first crossed, since the direction of
	// the comparison decides what "worse" means.
	return e.condition(ctx, r, r.Name, fire, v,
		func(float64) string { return fmt.Sprintf("%s：当前值 %g %s %g", display(r), v, r.Op, r.Value) },
		func(float64) string {
			return fmt.Sprintf("自动解除：当前值 %g，不再 %s %g", v, r.Op, r.Value)
		}, map[string]any{"value": v}, now)
}
