package compliance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Raiser is what the checks need from the alert lifecycle.
type Raiser interface {
	Raise(ctx context.Context, s lifecycle.Signal) (lifecycle.Alert, bool, error)
	Get(id string) (lifecycle.Alert, bool)
}

// Store is what the checks read from ClickHouse: sessions to rebuild the
// memory from and to check late records against, and the day's intake
// counts. *store.DB satisfies it.
type Store interface {
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// DefaultMaxOpen is how long a session without an end counts as open.
const DefaultMaxOpen = 12 * time.Hour

// Options configure a Checker. Zero durations take the defaults named.
type Options struct {
	Raiser Raiser
	// Venue looks up a venue's name, kind and owner unit.
	Venue func(ctx context.Context, code string) (Venue, error)
	// DB, when set, serves Load, late records and registration gaps.
	DB Store
	// Unit owns alerts of venues without a unit.
	Unit string

	MaxOpen     time.Duration // a session without an end counts as open this long after its start; 12 h
	Horizon     time.Duration // ended sessions stay in memory this long; 2 h
	Grace       time.Duration // a conflict resting on an open session waits this long; 3 min
	Slack       time.Duration // overlaps up to this long are clock skew, not violations; 1 min
	Window      time.Duration // violations of one rule at one venue in one window form one alert; 1 h
	LongSession time.Duration // 24 h
	LateAfter   time.Duration // a record arriving this long after its event is late; 15 min

	// Registration gaps, per venue and China day.
	GapMinRows      int     // rows (accepted + refused) before a share means anything; 20
	GapRejectShare  float64 // 0.2
	GapMissingShare float64 // refused for a missing identity; 0.05

	Log *slog.Logger
	Reg prometheus.Registerer
	Now func() time.Time
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.MaxOpen, DefaultMaxOpen)
	set(&o.Horizon, 2*time.Hour)
	set(&o.Grace, 3*time.Minute)
	set(&o.Slack, time.Minute)
	set(&o.Window, time.Hour)
	set(&o.LongSession, 24*time.Hour)
	set(&o.LateAfter, 15*time.Minute)
	if o.GapMinRows <= 0 {
		o.GapMinRows = 20
	}
	if o.GapRejectShare <= 0 {
		o.GapRejectShare = 0.2
	}
	if o.GapMissingShare <= 0 {
		o.GapMissingShare = 0.05
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Venue == nil {
		o.Venue = func(_ context.Context, code string) (Venue, error) { return Venue{Code: code}, nil }
	}
}

// session is one café session in memory.
type session struct {
	rec      string
	venue    string
	place    string
	idHash   string
	idMasked string
	start    time.Time
	end      time.Time // zero while open
	received time.Time
	seen     time.Time // when this checker last learnt something about it
	late     bool      // some version of it arrived late
}

// pending is a conflict that rests on an open session.
type pending struct {
	rule string
	a, b string // record ids
	due  time.Time
}

// Checker runs the checks. Process and Sweep may be called concurrently.
type Checker struct {
	o Options

	mu      sync.Mutex
	byRec   map[string]*session
	byID    map[string][]*session // identity hash → its sessions in memory
	byPlace map[string][]*session // venue \x00 terminal → its sessions in memory
	pending map[string]pending    // violation id → conflict awaiting Grace

	// raiseMu serialises raising: folding a violation reads the alert's
	// payload and writes it back grown, and two folds at once (the writer's
	// hook and the sweep) would each count one and lose the other.
	raiseMu sync.Mutex

	records    prometheus.Counter
	violations *prometheus.CounterVec
	active     prometheus.GaugeFunc
	waiting    prometheus.GaugeFunc
}

// New builds a Checker with empty memory; call Load to fill it.
func New(o Options) (*Checker, error) {
	if o.Raiser == nil {
		return nil, errors.New("compliance: Raiser is required")
	}
	o.defaults()
	c := &Checker{o: o, byRec: map[string]*session{}, byID: map[string][]*session{}, byPlace: map[string][]*session{},
		pending: map[string]pending{},
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_compliance_records_total",
			Help: "Access records checked (replays included)."}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_compliance_violations_total",
			Help: "Violations found, by rule (replays of known ones not counted)."}, []string{"rule"}),
	}
	c.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "netpulse_compliance_sessions",
		Help: "Café sessions the overlap checks hold in memory."}, func() float64 { return float64(c.Sessions()) })
	c.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "netpulse_compliance_pending",
		Help: "Conflicts waiting for a session's closing update."}, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(len(c.pending))
	})
	if o.Reg != nil {
		for _, m := range []prometheus.Collector{c.records, c.violations, c.active, c.waiting} {
			if err := o.Reg.Register(m); err != nil {
				return nil, fmt.Errorf("compliance: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Sessions is how many café sessions the checker holds.
func (c *Checker) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byRec)
}

var (
	hotelKind  = []byte(`"kind":"hotel"`)
	birthField = []byte(`"birth_date":`)
)

// Store checks one stored batch of raw.access messages; it has the shape
// of the records writer's after-store hook. Messages that are not records
// are skipped.
func (c *Checker) Store(ctx context.Context, msgs []bus.Message) error {
	rs := make([]Record, 0, len(msgs))
	for _, m := range msgs {
		// A hotel record matters only with a minor's birth date; skipping
		// the rest undecoded spares the decode, most of the hook's cost.
		if bytes.Contains(m.Value, hotelKind) && !bytes.Contains(m.Value, birthField) {
			c.records.Inc()
			continue
		}
		if r, ok := Decode(m.Value); ok {
			rs = append(rs, r)
		}
	}
	return c.Process(ctx, rs)
}

// Process checks records in order and raises what they show. An error
// means some violation may not be raised yet; processing the same records
// again is safe.
func (c *Checker) Process(ctx context.Context, rs []Record) error {
	var errs []error
	for i := range rs {
		c.records.Inc()
		vs, err := c.check(ctx, &rs[i])
		if err != nil {
			errs = append(errs, err)
		}
		for _, v := range vs {
			if err := c.raise(ctx, v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// check runs every check on r and returns the violations found now.
func (c *Checker) check(ctx context.Context, r *Record) ([]Violation, error) {
	now := c.o.Now().UTC()
	late := r.ReceivedAt.Sub(r.eventTime()) > c.o.LateAfter
	var out []Violation
	single := func(rule string, age int) {
		out = append(out, c.violation(rule, r, nil, age, late))
	}
	minor, age := false, 0
	if b, err := time.Parse("2006-01-02", r.BirthDate); err == nil && r.IDType == identity.TypeResident {
		age = identity.AgeAt(b, r.StartedAt)
		minor = age < identity.AdultAge
	}
	switch r.Kind {
	case "cafe":
		if minor {
			single(RuleMinorCafe, age)
		}
		// Longer than LongSession: a closed session, or one still open
		// when it arrives that long after its start (a session the venue
		// never closed is as implausible as one it closed a day later;
		// its closing update, if it comes, is the same violation).
		if (!r.open() && r.EndedAt.Sub(r.StartedAt) > c.o.LongSession) ||
			(r.open() && r.ReceivedAt.Sub(r.StartedAt) > c.o.LongSession) {
			single(RuleLongSession, 0)
		}
		vs, err := c.overlaps(ctx, r, now, late)
		return append(out, vs...), err
	case "hotel":
		if minor && (r.GuardianContact == "" || r.GuardianRelation == "") {
			single(RuleMinorHotel, age)
		}
	}
	return out, nil
}

// end is when s counts as over: its end, or MaxOpen after its start.
func (c *Checker) end(start, end time.Time) time.Time {
	if end.IsZero() {
		return start.Add(c.o.MaxOpen)
	}
	return end
}

// overlap is how long two sessions overlap. With final false an open
// session is taken to end at its start (what is certain now); with final
// true it runs until MaxOpen after its start.
func (c *Checker) overlap(aStart, aEnd, bStart, bEnd time.Time, final bool) time.Duration {
	if final {
		aEnd, bEnd = c.end(aStart, aEnd), c.end(bStart, bEnd)
	} else {
		if aEnd.IsZero() {
			aEnd = aStart
		}
		if bEnd.IsZero() {
			bEnd = bStart
		}
	}
	return earlier(aEnd, bEnd).Sub(later(aStart, bStart))
}

// conflictRule names the rule two sessions of the same terminal or the
// same identity break, or "" when they are unrelated.
func conflictRule(a, b *session) string {
	switch {
	case a.venue == b.venue && a.place == b.place:
		return RuleTerminalOverlap
	case a.idHash != "" && a.idHash == b.idHash:
		return RuleSharedID
	}
	return ""
}

// overlaps updates the memory with r and checks it against the sessions of
// its identity and its terminal: in memory when r is recent, in the store
// when it is older than the horizon.
func (c *Checker) overlaps(ctx context.Context, r *Record, now time.Time, late bool) ([]Violation, error) {
	s := &session{rec: r.RecordID, venue: r.Venue, place: r.Place, idHash: r.IDHash, idMasked: r.IDMasked,
		start: r.StartedAt, end: r.EndedAt, received: r.ReceivedAt, seen: now, late: late}
	horizon := now.Add(-c.o.Horizon)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.end(s.start, s.end).Before(horizon) {
		c.put(s)
	} else {
		c.drop(s.rec)
	}
	if s.start.Before(horizon) && c.o.DB != nil {
		found, err := c.storedNeighbours(ctx, s)
		if err != nil {
			// The batch fails and is replayed: the other checks of the
			// record are idempotent.
			return nil, err
		}
		for i, o := range found {
			// Sessions still within the horizon are in memory, with what
			// the store may not have yet told (when they were seen).
			if m := c.byRec[o.rec]; m != nil {
				found[i] = m
			}
		}
		return c.compare(s, found, nil, horizon), nil
	}
	return c.compare(s, c.byID[s.idHash], c.byPlace[s.venue+"\x00"+s.place], horizon), nil
}

// compare checks s against the sessions of its identity and of its
// terminal: conflicts certain now are returned, those resting on an open
// session wait for the grace. A session in both lists (same person, same
// terminal) is taken once. Callers hold c.mu.
func (c *Checker) compare(s *session, sameID, samePlace []*session, horizon time.Time) []Violation {
	var out []Violation
	for i, o := range slices.Concat(sameID, samePlace) {
		if o.rec == s.rec || i >= len(sameID) && s.idHash != "" && o.idHash == s.idHash {
			continue
		}
		rule := conflictRule(s, o)
		if rule == "" {
			continue
		}
		vid := pairID(rule, s.rec, o.rec)
		switch {
		case c.overlap(s.start, s.end, o.start, o.end, false) > c.o.Slack:
			delete(c.pending, vid)
			out = append(out, c.pairViolation(rule, s, o, s.late || o.late))
		case c.overlap(s.start, s.end, o.start, o.end, true) > c.o.Slack:
			if c.end(s.start, s.end).Before(horizon) || c.end(o.start, o.end).Before(horizon) {
				// A session past the horizon gets no closing update any
				// more: what it shows now is final.
				out = append(out, c.pairViolation(rule, s, o, s.late || o.late))
				continue
			}
			c.pending[vid] = pending{rule: rule, a: s.rec, b: o.rec, due: later(s.seen, o.seen).Add(c.o.Grace)}
		default:
			delete(c.pending, vid)
		}
	}
	return out
}

func (c *Checker) put(s *session) {
	if old := c.byRec[s.rec]; old != nil {
		// A closing update or a replay: same record id. An end once
		// known stays (a late resend of the open record cannot reopen
		// it, as in the store).
		if !s.end.IsZero() {
			old.end = s.end
		}
		old.received, old.seen, old.late = later(old.received, s.received), s.seen, old.late || s.late
		*s = *old
		return
	}
	c.byRec[s.rec] = s
	if s.idHash != "" {
		c.byID[s.idHash] = append(c.byID[s.idHash], s)
	}
	k := s.venue + "\x00" + s.place
	c.byPlace[k] = append(c.byPlace[k], s)
}

func (c *Checker) drop(rec string) {
	s := c.byRec[rec]
	if s == nil {
		return
	}
	delete(c.byRec, rec)
	c.byID[s.idHash] = without(c.byID[s.idHash], s)
	if len(c.byID[s.idHash]) == 0 {
		delete(c.byID, s.idHash)
	}
	k := s.venue + "\x00" + s.place
	c.byPlace[k] = without(c.byPlace[k], s)
	if len(c.byPlace[k]) == 0 {
		delete(c.byPlace, k)
	}
}

func without(ss []*session, s *session) []*session {
	for i, x := range ss {
		if x == s {
			ss[i] = ss[len(ss)-1]
			ss[len(ss)-1] = nil
			return ss[:len(ss)-1]
		}
	}
	return ss
}

// Sweep confirms the conflicts whose grace has passed and that still
// hold, and forgets sessions that ended before the horizon.
func (c *Checker) Sweep(ctx context.Context) error {
	now := c.o.Now().UTC()
	var out []Violation
	c.mu.Lock()
	for vid, p := range c.pending {
		if now.Before(p.due) {
			continue
		}
		delete(c.pending, vid)
		a, b := c.byRec[p.a], c.byRec[p.b]
		if a == nil || b == nil || conflictRule(a, b) != p.rule {
			continue
		}
		if c.overlap(a.start, a.end, b.start, b.end, true) > c.o.Slack {
			out = append(out, c.pairViolation(p.rule, a, b, a.late || b.late))
		}
	}
	horizon := now.Add(-c.o.Horizon)
	for rec, s := range c.byRec {
		if c.end(s.start, s.end).Before(horizon) {
			c.drop(rec)
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, v := range out {
		errs = append(errs, c.raise(ctx, v))
	}
	return errors.Join(errs...)
}

// Run sweeps every interval, and evaluates registration gaps every
// gapEvery, until ctx ends.
func (c *Checker) Run(ctx context.Context, interval, gapEvery time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastGaps time.Time
	for {
		if err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("compliance: sweep", "err", err)
		}
		if c.o.DB != nil && gapEvery > 0 && time.Since(lastGaps) >= gapEvery {
			lastGaps = time.Now()
			if err := c.Gaps(ctx); err != nil && ctx.Err() == nil {
				c.o.Log.Warn("compliance: registration gaps", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
