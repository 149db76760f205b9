// Package trends runs the burst detector (alerts/burst) over every tracked
// term once per closed bucket, groups terms that burst together and
// co-occur in the same posts into one topic, raises one alert per topic,
// and serves the trends pages.
//
// Each topic alert says how big the topic is and where it is going
// (Impact, Outlook, and both in one Chinese Summary): distinct posts,
// near-duplicate clusters, sources, sites and authors since it opened, the
// largest source's share, the last hour against the hour before, the lead
// term's peak against its usual level, and the lead term's three-hour
// forecast from its own burst detector with an 80% interval, stated as
// 上升, 高位持平 or 回落. The card is updated in place every few buckets
// while the topic is hot and once more when it ends.
//
// Exactly-once alerting across restarts: detector states, the tracked set
// and the active topics are saved to the data folder after every bucket
// that raised something (and at the end of each pass). A topic alert's id
// is derived from its bucket and terms, so if the process dies after
// raising but before saving, the re-run of that bucket derives the same id
// and the lifecycle treats it as already raised.
package trends

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Raiser receives topic alerts; *lifecycle.Manager is the production one.
// Update grows a raised topic's card in place (impact and outlook) while
// the topic lasts.
type Raiser interface {
	Raise(ctx context.Context, s lifecycle.Signal) (lifecycle.Alert, bool, error)
	Update(ctx context.Context, id, title string, payload any, at time.Time) (lifecycle.Alert, error)
}

// Options configure an Engine.
type Options struct {
	DB     *store.DB
	Raiser Raiser
	// Dir holds the saved detector state.
	Dir string
	// Bucket must equal the term counter's bucket.
	Bucket time.Duration
	// Grace is how long after a bucket ends it is evaluated, for posts
	// still on their way; 5 s if zero.
	Grace time.Duration
	// TimeScale multiplies bucket times before they reach the detector,
	// whose seasonal memory assumes real time. Production leaves it 1;
	// tests with short buckets set it to 5min/Bucket so each bucket counts
	// as five minutes.
	TimeScale float64
	// MinSupport is the distinct clusters a term needs in one bucket before
	// it is tracked; 3 if zero.
	MinSupport int
	// MaxTracked bounds the tracked terms; the least recently seen go
	// first. 500,000 if zero.
	MaxTracked int
	// AssumeHistory, for the demo, gives terms a made-up past so that the
	// detector can alert without a day of history: terms present in the
	// first counted bucket are assumed always to have looked like that,
	// terms that appear later to have been silent.
	AssumeHistory bool
	Unit          string // owner unit of topic alerts
	// SourceTitles gives sources' display names for the impact summary
	// (optional; read when a summary is written).
	SourceTitles func(context.Context) (map[string]string, error)
	Severity     string // severity of topic alerts; warning if empty
	Log          *slog.Logger
	Reg          prometheus.Registerer
	Now          func() time.Time
}

// Engine is the per-bucket pass.
type Engine struct {
	o Options

	mu    sync.Mutex // guards st for readers (the HTTP pages)
	st    *state
	dirty bool

	passSeconds prometheus.Histogram
	tracked     prometheus.Gauge
	topicsTotal prometheus.Counter
	lagSeconds  prometheus.Gauge
}

// New loads saved state from o.Dir.
func New(o Options) (*Engine, error) {
	if o.DB == nil || o.Raiser == nil || o.Dir == "" {
		return nil, errors.New("trends: DB, Raiser and Dir are required")
	}
	if o.Bucket <= 0 {
		o.Bucket = 5 * time.Minute
	}
	if o.Bucket%time.Second != 0 {
		return nil, fmt.Errorf("trends: bucket %v is not whole seconds", o.Bucket)
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.MinSupport <= 0 {
		o.MinSupport = 3
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = 500_000
	}
	if o.Severity == "" {
		o.Severity = lifecycle.SeverityWarning
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Engine{o: o,
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "netpulse_trends_bucket_pass_seconds",
			Help: "Time to evaluate one bucket over all tracked terms.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		tracked:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "netpulse_trends_tracked_terms", Help: "Terms the burst detector tracks."}),
		topicsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_trends_topics_total", Help: "Topic alerts raised."}),
		lagSeconds:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "netpulse_trends_lag_seconds", Help: "How far the evaluated buckets trail the clock."}),
	}
	if o.Reg != nil {
		for _, c := range []prometheus.Collector{e.passSeconds, e.tracked, e.topicsTotal, e.lagSeconds} {
			if err := o.Reg.Register(c); err != nil {
				return nil, fmt.Errorf("trends: register metrics: %w", err)
			}
		}
	}
	st, err := loadState(o.Dir, int64(o.Bucket/time.Second))
	if err != nil {
		return nil, err
	}
	e.st = st
	e.tracked.Set(float64(len(st.terms)))
	return e, nil
}

// Run evaluates buckets as they close until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	tick := e.o.Bucket / 10
	tick = max(200*time.Millisecond, min(tick, 5*time.Second))
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := e.Step(ctx); err != nil && ctx.Err() == nil {
			e.o.Log.Warn("trends: pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step evaluates every bucket that has closed by now and returns how many.
func (e *Engine) Step(ctx context.Context) (int, error) {
	now := e.o.Now().UTC()
	if e.st.next.IsZero() {
		first, ok, err := e.firstBucket(ctx)
		if err != nil || !ok {
			return 0, err
		}
		e.mu.Lock()
		e.st.next, e.st.since = first, first
		e.mu.Unlock()
	}
	n := 0
	for !e.st.next.Add(e.o.Bucket + e.o.Grace).After(now) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		raised, err := e.evalBucket(ctx, e.st.next)
		if err != nil {
			return n, fmt.Errorf("trends: bucket %s: %w", e.st.next.Format(time.RFC3339), err)
		}
		n++
		if raised {
			if err := e.save(); err != nil {
				return n, err
			}
		}
	}
	e.lagSeconds.Set(now.Sub(e.st.next).Seconds())
	if e.dirty {
		return n, e.save()
	}
	return n, nil
}

func (e *Engine) save() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.st.save(e.o.Dir); err != nil {
		return err
	}
	e.dirty = false
	return nil
}

func (e *Engine) secs() uint32 { return uint32(e.o.Bucket / time.Second) }

func (e *Engine) firstBucket(ctx context.Context) (time.Time, bool, error) {
	var rows []struct {
		N     uint64    `json:"n"`
		First time.Time `json:"first"`
	}
	if err := e.o.DB.Select(ctx, &rows, `SELECT count() AS n, min(bucket) AS first FROM netpulse.term_counts WHERE bucket_seconds = ?`, e.secs()); err != nil {
		return time.Time{}, false, fmt.Errorf("trends: first bucket: %w", err)
	}
	if len(rows) == 0 || rows[0].N == 0 {
		return time.Time{}, false, nil
	}
	return rows[0].First.UTC(), true, nil
}

type countRow struct {
	Term   string    `json:"term"`
	Bucket time.Time `json:"bucket"`
	N      uint64    `json:"n"`
}

func (e *Engine) counts(ctx context.Context, b time.Time) (map[string]uint64, error) {
	var rows []countRow
	if err := e.o.DB.Select(ctx, &rows, `SELECT term, uniqExactMerge(clusters) AS n FROM netpulse.term_counts
		WHERE bucket_seconds = ? AND bucket = ? GROUP BY term`, e.secs(), b); err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	m := make(map[string]uint64, len(rows))
	for _, r := range rows {
		m[r.Term] = r.N
	}
	return m, nil
}

// detectorTime is what the detector sees as the bucket's time.
func (e *Engine) detectorTime(b time.Time) int64 {
	return int64(float64(b.Unix()) * e.o.TimeScale)
}

// backfillSpan is how much history a newly tracked term is given: two
// days of detector time, enough for its warm-up.
func (e *Engine) backfillSpan() time.Duration {
	return time.Duration(float64(48*time.Hour) / e.o.TimeScale).Truncate(e.o.Bucket)
}

// track starts detectors for terms, replaying their counted history (zero
// where they were not mentioned) so that a term tracked today is measured
// against its past, not against nothing.
func (e *Engine) track(ctx context.Context, b time.Time, newTerms []string, assumed map[string]uint64) error {
	from := b.Add(-e.backfillSpan())
	covered := from
	if covered.Before(e.st.since) {
		covered = e.st.since
	}
	hist := map[string]map[int64]uint64{}
	for start := 0; start < len(newTerms) && covered.Before(b); start += 2000 {
		chunk := newTerms[start:min(start+2000, len(newTerms))]
		var rows []countRow
		if err := e.o.DB.Select(ctx, &rows, `SELECT term, bucket, uniqExactMerge(clusters) AS n FROM netpulse.term_counts
			WHERE bucket_seconds = ? AND bucket >= ? AND bucket < ? AND has(?, term) GROUP BY term, bucket`,
			e.secs(), covered, b, chunk); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		for _, r := range rows {
			if hist[r.Term] == nil {
				hist[r.Term] = map[int64]uint64{}
			}
			hist[r.Term][r.Bucket.Unix()] = r.N
		}
	}
	for _, term := range newTerms {
		ts := &termState{}
		start := covered
		if e.o.AssumeHistory && from.Before(covered) {
			start = from
		}
		for t := start; t.Before(b); t = t.Add(e.o.Bucket) {
			var v uint64
			if t.Before(e.st.since) {
				v = assumed[term]
			} else {
				v = hist[term][t.Unix()]
			}
			ts.st.Update(e.detectorTime(t), float64(v))
		}
		ts.lastSeen = b.Unix()
		e.st.terms[term] = ts
	}
	return nil
}

type scoreRow struct {
	BucketSeconds uint32    `json:"bucket_seconds"`
	Bucket        time.Time `json:"bucket"`
	Term          string    `json:"term"`
	Count         uint32    `json:"count"`
	Score         float32   `json:"score"`
	Alert         uint8     `json:"alert"`
}

// hot is a term scoring at or above the alert threshold in a bucket.
type hot struct {
	term  string
	count uint64
	score float64
	alert bool
}

// evalBucket runs the detector over bucket b and raises topic alerts. It
// reports whether it raised or changed any.
func (e *Engine) evalBucket(ctx context.Context, b time.Time) (bool, error) {
	start := time.Now()
	counts, err := e.counts(ctx, b)
	if err != nil {
		return false, err
	}
	var newTerms []string
	for t, n := range counts {
		if n >= uint64(e.o.MinSupport) {
			if _, ok := e.st.terms[t]; !ok {
				newTerms = append(newTerms, t)
			}
		}
	}
	sort.Strings(newTerms)
	// Under AssumeHistory, terms already present when counting began get
	// that first bucket as their past; terms that appear later get silence.
	var assumed map[string]uint64
	if b.Equal(e.st.since) {
		assumed = counts
	}
	e.mu.Lock()
	err = e.track(ctx, b, newTerms, assumed)
	e.mu.Unlock()
	if err != nil {
		return false, err
	}

	dt := e.detectorTime(b)
	bu := b.Unix()
	var hots []hot
	var scores []scoreRow
	e.mu.Lock()
	for term, ts := range e.st.terms {
		n := counts[term]
		if n > 0 {
			ts.lastSeen = bu
		}
		r := ts.st.Update(dt, float64(n))
		if r.Score >= 0.2 {
			var a uint8
			if r.Alert {
				a = 1
			}
			scores = append(scores, scoreRow{e.secs(), b, term, uint32(n), float32(r.Score), a})
		}
		if r.Score >= 0.5 || r.Alert {
			hots = append(hots, hot{term, n, r.Score, r.Alert})
		}
	}
	e.evict(bu)
	e.tracked.Set(float64(len(e.st.terms)))
	e.mu.Unlock()
	if err := e.o.DB.Insert(ctx, "netpulse.term_scores", scores); err != nil {
		return false, fmt.Errorf("store scores: %w", err)
	}

	raised, err := e.group(ctx, b, hots)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	e.st.next = b.Add(e.o.Bucket)
	e.dirty = true
	e.mu.Unlock()
	e.passSeconds.Observe(time.Since(start).Seconds())
	return raised, nil
}

// evict drops terms unseen for a week of detector time, then the least
// recently seen beyond MaxTracked. Callers hold e.mu.
func (e *Engine) evict(now int64) {
	horizon := now - int64(7*24*3600/e.o.TimeScale)
	for t, ts := range e.st.terms {
		if ts.lastSeen < horizon {
			delete(e.st.terms, t)
		}
	}
	if over := len(e.st.terms) - e.o.MaxTracked; over > 0 {
		type ls struct {
			t string
			s int64
		}
		all := make([]ls, 0, len(e.st.terms))
		for t, ts := range e.st.terms {
			all = append(all, ls{t, ts.lastSeen})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].s < all[j].s || (all[i].s == all[j].s && all[i].t < all[j].t) })
		for _, x := range all[:over] {
			delete(e.st.terms, x.t)
		}
	}
}

func topicID(b time.Time, terms []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d", b.Unix())
	for _, t := range terms {
		h.Write([]byte{0})
		h.Write([]byte(t))
	}
	return "trend-" + hex.EncodeToString(h.Sum(nil)[:10])
}

// cooccur returns, for the hot terms of bucket b, the clusters mentioning
// each pair, keyed "a\x00b" with a < b, and each term's clusters.
func (e *Engine) cooccur(ctx context.Context, b time.Time, terms []string) (map[string]int, error) {
	var rows []struct {
		Terms []string `json:"terms"`
	}
	if err := e.o.DB.Select(ctx, &rows, `SELECT groupUniqArray(term) AS terms FROM netpulse.term_mentions
		WHERE bucket_seconds = ? AND bucket = ? AND has(?, term) GROUP BY cluster HAVING length(terms) > 1 LIMIT 20000`,
		e.secs(), b, terms); err != nil {
		return nil, fmt.Errorf("co-occurrence: %w", err)
	}
	pairs := map[string]int{}
	for _, r := range rows {
		sort.Strings(r.Terms)
		for i := range r.Terms {
			for j := i + 1; j < len(r.Terms); j++ {
				pairs[r.Terms[i]+"\x00"+r.Terms[j]]++
			}
		}
	}
	return pairs, nil
}

func pairKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "\x00" + b
}

// linked says whether two terms co-occur enough to be one topic: in at
// least two clusters and in a third of the rarer term's clusters.
func linked(pairs map[string]int, a, b hot) bool {
	c := pairs[pairKey(a.term, b.term)]
	return c >= 2 && float64(c) >= float64(min(a.count, b.count))/3
}

// maxTopicTerms bounds the terms kept on one topic.
const maxTopicTerms = 30

// group attaches newly bursting terms to active topics they co-occur with,
// forms new topics from the rest, raises them, and retires topics whose
// terms have all cooled down.
func (e *Engine) group(ctx context.Context, b time.Time, hots []hot) (bool, error) {
	bu := b.Unix()
	changed := false
	e.mu.Lock()
	hotByTerm := map[string]hot{}
	for _, h := range hots {
		hotByTerm[h.term] = h
	}
	var live, retired []*topic
	for _, tp := range e.st.topics {
		for _, t := range tp.Terms {
			if _, ok := hotByTerm[t]; ok {
				tp.LastHot = bu
				break
			}
		}
		if time.Duration(bu-tp.LastHot)*time.Second <= e.cooling() {
			live = append(live, tp)
		} else {
			retired = append(retired, tp)
			changed = true
		}
	}
	e.st.topics = live
	e.mu.Unlock()
	// A retired topic's card gets its final figures once.
	for _, tp := range retired {
		if err := e.refresh(ctx, b, tp, hotByTerm, "ended"); err != nil {
			return true, err
		}
	}

	var fresh []hot
	for _, h := range hots {
		if h.alert {
			fresh = append(fresh, h)
		}
	}
	if len(fresh) == 0 {
		r, err := e.refreshLive(ctx, b, hotByTerm, nil)
		return changed || r, err
	}
	terms := make([]string, 0, len(hots))
	for _, h := range hots {
		terms = append(terms, h.term)
	}
	sort.Strings(terms)
	pairs, err := e.cooccur(ctx, b, terms)
	if err != nil {
		return false, err
	}
	sort.Slice(fresh, func(i, j int) bool {
		return fresh[i].count > fresh[j].count || (fresh[i].count == fresh[j].count && fresh[i].term < fresh[j].term)
	})

	// Attach to active topics first: a term of an ongoing event that
	// crosses the threshold a bucket late is not a new event.
	var rest []hot
	updated := map[*topic]bool{}
	e.mu.Lock()
	for _, h := range fresh {
		var best *topic
		for _, tp := range e.st.topics {
			for _, t := range tp.Terms {
				if o, ok := hotByTerm[t]; ok && linked(pairs, h, o) {
					best = tp
					break
				}
			}
			if best != nil {
				break
			}
		}
		if best == nil {
			rest = append(rest, h)
			continue
		}
		if len(best.Terms) < maxTopicTerms {
			best.Terms = append(best.Terms, h.term)
		}
		updated[best] = true
	}
	e.mu.Unlock()

	// Union-find over the remaining fresh terms.
	parent := make([]int, len(rest))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range rest {
		for j := i + 1; j < len(rest); j++ {
			if linked(pairs, rest[i], rest[j]) {
				parent[find(j)] = find(i)
			}
		}
	}
	groups := map[int][]hot{}
	var roots []int
	for i := range rest {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], rest[i])
	}
	for _, r := range roots {
		g := groups[r]
		ts := make([]string, 0, len(g))
		for _, h := range g {
			if len(ts) < maxTopicTerms {
				ts = append(ts, h.term)
			}
		}
		tp := &topic{ID: topicID(b, ts), Opened: bu, LastHot: bu, Terms: ts}
		tp.AlertID = tp.ID
		e.mu.Lock()
		e.st.topics = append(e.st.topics, tp)
		e.mu.Unlock()
		updated[tp] = true
	}
	for _, tp := range e.st.topics {
		if !updated[tp] {
			continue
		}
		if err := e.raise(ctx, b, tp, hotByTerm); err != nil {
			return true, err
		}
	}
	_, err = e.refreshLive(ctx, b, hotByTerm, updated)
	return true, err
}

// refreshEvery is how often, in buckets, a hot topic's card is updated
// with fresh impact and outlook: often enough to follow an event, rarely
// enough that its history stays readable.
const refreshEvery = 3

// refreshLive updates the cards of topics hot in bucket b that were not
// just raised, at most every refreshEvery buckets.
func (e *Engine) refreshLive(ctx context.Context, b time.Time, hotByTerm map[string]hot, skip map[*topic]bool) (bool, error) {
	bu := b.Unix()
	every := int64(refreshEvery) * int64(e.o.Bucket/time.Second)
	var due []*topic
	e.mu.Lock()
	for _, tp := range e.st.topics {
		if tp.LastHot == bu && !skip[tp] && bu-tp.Refreshed >= every {
			due = append(due, tp)
		}
	}
	e.mu.Unlock()
	for _, tp := range due {
		if err := e.refresh(ctx, b, tp, hotByTerm, ""); err != nil {
			return true, err
		}
	}
	return len(due) > 0, nil
}

// refresh recomputes a topic's payload and updates its card.
func (e *Engine) refresh(ctx context.Context, b time.Time, tp *topic, hotByTerm map[string]hot, status string) error {
	p, err := e.payload(ctx, b, tp, hotByTerm)
	if err != nil {
		return err
	}
	if status != "" {
		p.Status = status
	}
	if _, err := e.o.Raiser.Update(ctx, tp.AlertID, "", p, b.Add(e.o.Bucket)); err != nil {
		// A card an officer resolved stays resolved; the topic still
		// runs its course on the trends page.
		if errors.Is(err, lifecycle.ErrInvalid) || errors.Is(err, lifecycle.ErrNotFound) {
			e.mu.Lock()
			tp.Refreshed = b.Unix()
			e.mu.Unlock()
			return nil
		}
		return fmt.Errorf("update topic %s: %w", tp.ID, err)
	}
	e.mu.Lock()
	tp.Refreshed = b.Unix()
	e.mu.Unlock()
	return nil
}

// cooling is how long a topic stays on the board after its last hot bucket.
func (e *Engine) cooling() time.Duration { return 12 * e.o.Bucket }

func (e *Engine) raise(ctx context.Context, b time.Time, tp *topic, hotByTerm map[string]hot) error {
	p, err := e.payload(ctx, b, tp, hotByTerm)
	if err != nil {
		return err
	}
	top := p.Terms
	if len(top) > 3 {
		top = top[:3]
	}
	names := make([]string, len(top))
	for i, t := range top {
		names[i] = t.Term
	}
	a, created, err := e.o.Raiser.Raise(ctx, lifecycle.Signal{ID: tp.AlertID, Rule: "trends", Kind: "topic", Key: "topic:" + tp.ID,
		Severity: e.o.Severity, Unit: e.o.Unit, Title: "突发话题：" + strings.Join(names, " "), Terms: tp.Terms,
		Payload: p, At: b.Add(e.o.Bucket)})
	if err != nil {
		return fmt.Errorf("raise topic %s: %w", tp.ID, err)
	}
	e.mu.Lock()
	tp.Refreshed = b.Unix()
	e.mu.Unlock()
	if created {
		e.topicsTotal.Inc()
		e.o.Log.Info("trends: topic alert", "alert", a.ID, "terms", tp.Terms, "bucket", b)
	}
	return nil
}
