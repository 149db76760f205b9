package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/store"
)

// Errors the API maps to status codes.
var (
	ErrNotFound = fmt.Errorf("no such alert: %w", jsonapi.ErrNotFound)
	ErrConflict = fmt.Errorf("not allowed in the alert's state: %w", jsonapi.ErrConflict)
	ErrInvalid  = fmt.Errorf("invalid request: %w", jsonapi.ErrInvalid)
)

// Options configure a Manager.
type Options struct {
	DB *store.DB
	// AckSLA is how long an alert of each severity may stay unacknowledged
	// before it escalates; missing severities use 15 minutes.
	AckSLA map[string]time.Duration
	// Keep is how long resolved alerts stay in memory for the board.
	Keep time.Duration
	Log  *slog.Logger
	Reg  prometheus.Registerer
	Now  func() time.Time
	// Subject says what a silence set from one alert (SilenceAlert)
	// covers. By default it is the alert's key. A raiser whose keys also
	// name an occurrence window (compliance: "venue:CODE/WINDOW") returns
	// the key's subject prefix ("venue:CODE/") and ok, so that silencing
	// one violation also silences the venue's later windows of that rule
	// rather than an hour that is already over.
	Subject func(rule, key string) (prefix string, ok bool)
}

// Manager owns the alerts. Every change is written to ClickHouse before it
// is applied in memory and announced, so what subscribers see is stored.
type Manager struct {
	o Options

	mu       sync.Mutex
	alerts   map[string]*Alert
	byKey    map[string]string // rule+"\x00"+key → latest alert id
	silences map[string]*Silence
	subs     map[int]chan Event
	nextSub  int
	version  uint64
	seq      uint64
	ver      map[string]uint64 // stored version of each alert in memory
	mark     uint64            // Follow has read changes up to this version

	opened    *prometheus.CounterVec
	escalated prometheus.Counter
	dropped   prometheus.Counter
}

// Open loads the alerts and silences still relevant from the store.
func Open(ctx context.Context, o Options) (*Manager, error) {
	if o.DB == nil {
		return nil, errors.New("lifecycle: DB is required")
	}
	if o.Keep <= 0 {
		o.Keep = 7 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{o: o, alerts: map[string]*Alert{}, byKey: map[string]string{}, silences: map[string]*Silence{}, subs: map[int]chan Event{},
		ver:       map[string]uint64{},
		opened:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_alerts_opened_total", Help: "Alerts opened, by rule."}, []string{"rule"}),
		escalated: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_alerts_escalated_total", Help: "Alerts escalated for missing their acknowledgement SLA."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_alerts_events_dropped_total", Help: "Alert events not delivered to a slow subscriber."}),
	}
	if o.Reg != nil {
		for _, c := range []prometheus.Collector{m.opened, m.escalated, m.dropped} {
			if err := o.Reg.Register(c); err != nil {
				return nil, fmt.Errorf("lifecycle: register metrics: %w", err)
			}
		}
	}
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

type alertRow struct {
	ID            string     `json:"id"`
	Rule          string     `json:"rule"`
	Kind          string     `json:"kind"`
	DedupKey      string     `json:"dedup_key"`
	Severity      string     `json:"severity"`
	Unit          string     `json:"unit"`
	Title         string     `json:"title"`
	State         string     `json:"state"`
	Assignee      string     `json:"assignee"`
	AckedBy       string     `json:"acked_by"`
	AckedAt       *time.Time `json:"acked_at"`
	ResolvedBy    string     `json:"resolved_by"`
	ResolvedAt    *time.Time `json:"resolved_at"`
	ResolveReason string     `json:"resolve_reason"`
	OpenedAt      time.Time  `json:"opened_at"`
	LastSeen      time.Time  `json:"last_seen"`
	Occurrences   uint32     `json:"occurrences"`
	Escalated     uint8      `json:"escalated"`
	SuppressedBy  string     `json:"suppressed_by"`
	Feedback      string     `json:"feedback"`
	Payload       string     `json:"payload"`
	Version       uint64     `json:"version"`
}

// payloadEnvelope stores the fields without a column of their own.
type payloadEnvelope struct {
	Terms      []string        `json:"terms,omitempty"`
	Term       string          `json:"term,omitempty"`
	SilencedBy string          `json:"silenced_by,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

func toRow(a *Alert, version uint64) alertRow {
	env, _ := json.Marshal(payloadEnvelope{Terms: a.Terms, Term: a.Term, SilencedBy: a.SilencedBy, Data: a.Payload})
	var esc uint8
	if a.Escalated {
		esc = 1
	}
	return alertRow{ID: a.ID, Rule: a.Rule, Kind: a.Kind, DedupKey: a.Key, Severity: a.Severity, Unit: a.Unit, Title: a.Title,
		State: a.State, Assignee: a.Assignee, AckedBy: a.AckedBy, AckedAt: a.AckedAt, ResolvedBy: a.ResolvedBy,
		ResolvedAt: a.ResolvedAt, ResolveReason: a.ResolveReason, OpenedAt: a.OpenedAt, LastSeen: a.LastSeen,
		Occurrences: uint32(a.Occurrences), Escalated: esc, SuppressedBy: a.SuppressedBy, Feedback: a.Feedback,
		Payload: string(env), Version: version}
}

func fromRow(r alertRow) *Alert {
	a := &Alert{ID: r.ID, Rule: r.Rule, Kind: r.Kind, Key: r.DedupKey, Severity: r.Severity, Unit: r.Unit, Title: r.Title,
		State: r.State, Assignee: r.Assignee, AckedBy: r.AckedBy, AckedAt: r.AckedAt, ResolvedBy: r.ResolvedBy,
		ResolvedAt: r.ResolvedAt, ResolveReason: r.ResolveReason, OpenedAt: r.OpenedAt, LastSeen: r.LastSeen,
		Occurrences: int(r.Occurrences), Escalated: r.Escalated != 0, SuppressedBy: r.SuppressedBy, Feedback: r.Feedback}
	var env payloadEnvelope
	if json.Unmarshal([]byte(r.Payload), &env) == nil {
		a.Terms, a.Term, a.SilencedBy, a.Payload = env.Terms, env.Term, env.SilencedBy, env.Data
	}
	return a
}

type eventRow struct {
	AlertID string    `json:"alert_id"`
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	Actor   string    `json:"actor"`
	Detail  string    `json:"detail"`
	Seq     uint64    `json:"seq"`
}

type silenceRow struct {
	ID        string    `json:"id"`
	Matchers  string    `json:"matchers"`
	Comment   string    `json:"comment"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Deleted   uint8     `json:"deleted"`
	Version   uint64    `json:"version"`
}

func (m *Manager) load(ctx context.Context) error {
	now := m.o.Now().UTC()
	var rows []alertRow
	if err := m.o.DB.Select(ctx, &rows, `SELECT * FROM netpulse.alerts FINAL
		WHERE state != 'resolved' OR resolved_at > ? OR opened_at > ? ORDER BY opened_at`,
		now.Add(-m.o.Keep), now.Add(-m.o.Keep)); err != nil {
		return fmt.Errorf("lifecycle: load alerts: %w", err)
	}
	for _, r := range rows {
		a := fromRow(r)
		m.alerts[a.ID] = a
		m.byKey[a.Rule+"\x00"+a.Key] = a.ID
		m.ver[a.ID] = r.Version
		m.version = max(m.version, r.Version)
	}
	m.mark = uint64(now.UnixNano())
	var notes []eventRow
	if err := m.o.DB.Select(ctx, &notes, `SELECT * FROM netpulse.alert_events WHERE action = 'note' AND at > ? ORDER BY at, seq`,
		now.Add(-2*m.o.Keep)); err != nil {
		return fmt.Errorf("lifecycle: load notes: %w", err)
	}
	for _, n := range notes {
		if a := m.alerts[n.AlertID]; a != nil {
			a.Notes = append(a.Notes, Note{At: n.At, By: n.Actor, Text: n.Detail})
		}
	}
	var sil []silenceRow
	if err := m.o.DB.Select(ctx, &sil, `SELECT * FROM netpulse.alert_silences FINAL WHERE deleted = 0 AND expires_at > ?`, now); err != nil {
		return fmt.Errorf("lifecycle: load silences: %w", err)
	}
	for _, r := range sil {
		s := &Silence{ID: r.ID, Comment: r.Comment, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
		_ = json.Unmarshal([]byte(r.Matchers), &s.Matchers)
		m.silences[s.ID] = s
		m.version = max(m.version, r.Version)
	}
	return nil
}

// nextVersion is strictly increasing across restarts because it starts
// from the clock and from the newest stored version.
func (m *Manager) nextVersion() uint64 {
	v := uint64(m.o.Now().UnixNano())
	if v <= m.version {
		v = m.version + 1
	}
	m.version = v
	return v
}

// commit stores a's new state and the event, then announces it. Callers
// hold m.mu and pass a copy they have already changed; only a stored change
// replaces the in-memory alert.
func (m *Manager) commit(ctx context.Context, next *Alert, action, actor, detail string) error {
	now := m.o.Now().UTC()
	v := m.nextVersion()
	if err := m.o.DB.Insert(ctx, "netpulse.alerts", []alertRow{toRow(next, v)}); err != nil {
		return fmt.Errorf("lifecycle: store alert %s: %w", next.ID, err)
	}
	m.ver[next.ID] = v
	m.seq++
	if err := m.o.DB.Insert(ctx, "netpulse.alert_events", []eventRow{{AlertID: next.ID, At: now, Action: action,
		Actor: actor, Detail: detail, Seq: m.seq}}); err != nil {
		return fmt.Errorf("lifecycle: store event %s of %s: %w", action, next.ID, err)
	}
	m.alerts[next.ID] = next
	m.byKey[next.Rule+"\x00"+next.Key] = next.ID
	m.publish(Event{Type: action, At: now, Actor: actor, Alert: m.out(next)})
	return nil
}

func (m *Manager) publish(e Event) {
	for _, ch := range m.subs {
		select {
		case ch <- e:
		default:
			m.dropped.Inc()
		}
	}
}

// Subscribe returns a channel of every change from now on, buffered by
// buf; a subscriber that falls further behind loses events (the board
// re-reads the list when it reconnects). cancel releases the channel.
func (m *Manager) Subscribe(buf int) (<-chan Event, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextSub
	m.nextSub++
	ch := make(chan Event, buf)
	m.subs[id] = ch
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.subs[id]; ok {
			delete(m.subs, id)
			close(ch)
		}
	}
}

// DefaultAckSLA is the time to acknowledge by severity when Options do not
// say otherwise.
var DefaultAckSLA = map[string]time.Duration{SeverityCritical: 5 * time.Minute, SeverityWarning: 15 * time.Minute, SeverityInfo: time.Hour}

func (m *Manager) sla(severity string) time.Duration {
	if d, ok := m.o.AckSLA[severity]; ok {
		return d
	}
	if d, ok := DefaultAckSLA[severity]; ok {
		return d
	}
	return 15 * time.Minute
}

// Active reports whether rule and key have an unresolved alert, so that a
// condition that keeps holding is not re-raised on every evaluation.
func (m *Manager) Active(rule, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.alerts[m.byKey[rule+"\x00"+key]]
	return a != nil && a.State != StateResolved
}

// out is an alert as callers see it: a copy, with its acknowledgement
// deadline while it is open.
func (m *Manager) out(a *Alert) Alert {
	c := a.clone()
	if c.Terms == nil {
		c.Terms = []string{}
	}
	if c.Notes == nil {
		c.Notes = []Note{}
	}
	if c.State == StateOpen {
		due := c.OpenedAt.Add(m.sla(c.Severity))
		c.SLADue = &due
	}
	return c
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Raise opens an alert for s, or folds s into the alert it repeats. It
// returns the alert and whether it is new.
func (m *Manager) Raise(ctx context.Context, s Signal) (Alert, bool, error) {
	if s.Rule == "" || s.Key == "" {
		return Alert{}, false, fmt.Errorf("%w: signal needs rule and key", ErrInvalid)
	}
	if s.Severity == "" {
		s.Severity = SeverityWarning
	}
	if s.At.IsZero() {
		s.At = m.o.Now()
	}
	s.At = s.At.UTC()
	var payload json.RawMessage
	if s.Payload != nil {
		b, err := json.Marshal(s.Payload)
		if err != nil {
			return Alert{}, false, fmt.Errorf("lifecycle: payload of %s/%s: %w", s.Rule, s.Key, err)
		}
		payload = b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.ID != "" {
		if a := m.alerts[s.ID]; a != nil {
			// A re-raise adds what is new (a topic's late terms, a
			// window's further violations); a repeat of what is known
			// changes nothing.
			if s.Occurrences > a.Occurrences {
				next := a.clone()
				next.Occurrences = s.Occurrences
				if s.At.After(next.LastSeen) {
					next.LastSeen = s.At
				}
				if payload != nil {
					next.Payload = payload
				}
				if s.Title != "" {
					next.Title = s.Title
				}
				if err := m.commit(ctx, &next, "updated", "system", ""); err != nil {
					return Alert{}, false, err
				}
				return m.out(&next), false, nil
			}
			if merged := mergeTerms(a.Terms, s.Terms); len(merged) > len(a.Terms) {
				next := a.clone()
				next.Terms, next.LastSeen = merged, s.At
				if payload != nil {
					next.Payload = payload
				}
				if err := m.commit(ctx, &next, "updated", "system", ""); err != nil {
					return Alert{}, false, err
				}
				return m.out(&next), false, nil
			}
			return m.out(a), false, nil
		}
		if ok, err := m.storedID(ctx, s.ID); err != nil || ok {
			return Alert{}, false, err
		}
	}
	if id, ok := m.byKey[s.Rule+"\x00"+s.Key]; ok {
		if a := m.alerts[id]; a != nil && (a.State != StateResolved || s.At.Sub(a.OpenedAt) < s.Realert) {
			next := a.clone()
			next.Occurrences++
			next.LastSeen = s.At
			if payload != nil {
				next.Payload = payload
			}
			if s.Title != "" {
				next.Title = s.Title
			}
			if len(s.Terms) > 0 {
				next.Terms = mergeTerms(next.Terms, s.Terms)
			}
			if err := m.commit(ctx, &next, "updated", "system", ""); err != nil {
				return Alert{}, false, err
			}
			return m.out(&next), false, nil
		}
	}
	id := s.ID
	if id == "" {
		id = newID("a-")
	}
	a := &Alert{ID: id, Rule: s.Rule, Kind: s.Kind, Key: s.Key, Severity: s.Severity, Unit: s.Unit, Title: s.Title,
		State: StateOpen, OpenedAt: s.At, LastSeen: s.At, Occurrences: max(1, s.Occurrences), Terms: append([]string(nil), s.Terms...),
		Term: s.Term, Payload: payload}
	m.applySilences(a, s.At)
	if a.Term != "" {
		for _, o := range m.alerts {
			if o.State != StateResolved && slices.Contains(o.Terms, a.Term) {
				a.SuppressedBy = o.ID
				break
			}
		}
	}
	if err := m.commit(ctx, a, "opened", "system", ""); err != nil {
		return Alert{}, false, err
	}
	m.opened.WithLabelValues(a.Rule).Inc()
	// A topic inhibits the open term alerts it covers.
	if len(a.Terms) > 0 {
		for _, o := range m.alerts {
			if o.ID != a.ID && o.State != StateResolved && o.Term != "" && o.SuppressedBy == "" && slices.Contains(a.Terms, o.Term) {
				next := o.clone()
				next.SuppressedBy = a.ID
				if err := m.commit(ctx, &next, "suppressed", "system", a.ID); err != nil {
					return m.out(a), true, err
				}
			}
		}
	}
	return m.out(a), true, nil
}

// storedID reports whether an alert with id exists in the store although
// it is no longer in memory (resolved long ago), so a late re-raise after a
// restart does not reopen it.
func (m *Manager) storedID(ctx context.Context, id string) (bool, error) {
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := m.o.DB.Select(ctx, &n, `SELECT count() AS n FROM netpulse.alerts WHERE id = ?`, id); err != nil {
		return false, fmt.Errorf("lifecycle: look up %s: %w", id, err)
	}
	return len(n) == 1 && n[0].N > 0, nil
}

func mergeTerms(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, t := range b {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (m *Manager) applySilences(a *Alert, at time.Time) {
	for _, s := range m.silences {
		if at.Before(s.ExpiresAt) && s.Matches(a) {
			a.SilencedBy = s.ID
			return
		}
	}
}

// change loads id, applies fn to a copy and commits it.
func (m *Manager) change(ctx context.Context, id, action, actor, detail string, fn func(*Alert) error) (Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.alerts[id]
	if a == nil {
		return Alert{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	next := a.clone()
	if err := fn(&next); err != nil {
		return Alert{}, err
	}
	if err := m.commit(ctx, &next, action, actor, detail); err != nil {
		return Alert{}, err
	}
	return m.out(&next), nil
}

// Update replaces the payload, and the title if one is given, of an alert
// that is not resolved: for a signal whose figures grow while it lasts (a
// topic's impact, a rule's matches in its window), so that one card grows
// in place instead of new cards appearing. It is not a new occurrence and
// never reopens a resolved alert (ErrInvalid).
func (m *Manager) Update(ctx context.Context, id, title string, payload any, at time.Time) (Alert, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Alert{}, fmt.Errorf("lifecycle: payload of %s: %w", id, err)
	}
	return m.change(ctx, id, "updated", "system", "", func(a *Alert) error {
		if a.State == StateResolved {
			return fmt.Errorf("%w: %s is resolved", ErrInvalid, id)
		}
		a.Payload = b
		if title != "" {
			a.Title = title
		}
		if at.After(a.LastSeen) {
			a.LastSeen = at.UTC()
		}
		return nil
	})
}

// Ack acknowledges an open alert.
func (m *Manager) Ack(ctx context.Context, id, who string) (Alert, error) {
	return m.change(ctx, id, "acknowledged", who, "", func(a *Alert) error {
		if a.State != StateOpen {
			return fmt.Errorf("%w: %s is %s", ErrConflict, id, a.State)
		}
		now := m.o.Now().UTC()
		a.State, a.AckedBy, a.AckedAt = StateAcked, who, &now
		if a.Assignee == "" {
			a.Assignee = who
		}
		return nil
	})
}

// Assign sets the alert's assignee.
func (m *Manager) Assign(ctx context.Context, id, who, assignee string) (Alert, error) {
	return m.change(ctx, id, "assigned", who, assignee, func(a *Alert) error {
		if a.State == StateResolved {
			return fmt.Errorf("%w: %s is resolved", ErrConflict, id)
		}
		a.Assignee = assignee
		return nil
	})
}

// AddNote appends a note.
func (m *Manager) AddNote(ctx context.Context, id, who, text string) (Alert, error) {
	if text == "" {
		return Alert{}, fmt.Errorf("%w: empty note", ErrInvalid)
	}
	return m.change(ctx, id, "note", who, text, func(a *Alert) error {
		a.Notes = append(a.Notes, Note{At: m.o.Now().UTC(), By: who, Text: text})
		return nil
	})
}

// Resolve closes an alert, saying why.
func (m *Manager) Resolve(ctx context.Context, id, who, reason string) (Alert, error) {
	if reason == "" {
		return Alert{}, fmt.Errorf("%w: resolving needs a reason", ErrInvalid)
	}
	return m.change(ctx, id, "resolved", who, reason, func(a *Alert) error {
		if a.State == StateResolved {
			return fmt.Errorf("%w: %s is already resolved", ErrConflict, id)
		}
		now := m.o.Now().UTC()
		a.State, a.ResolvedBy, a.ResolvedAt, a.ResolveReason = StateResolved, who, &now, reason
		return nil
	})
}

// ResolveKey resolves the unresolved alert of rule and key, if any; rules
// call it when their condition clears.
func (m *Manager) ResolveKey(ctx context.Context, rule, key, reason string) (Alert, bool, error) {
	m.mu.Lock()
	id, ok := m.byKey[rule+"\x00"+key]
	a := m.alerts[id]
	m.mu.Unlock()
	if !ok || a == nil || a.State == StateResolved {
		return Alert{}, false, nil
	}
	r, err := m.Resolve(ctx, id, "system", reason)
	return r, err == nil, err
}

// Feedback records whether an officer found the alert useful or noise.
func (m *Manager) Feedback(ctx context.Context, id, who, value string) (Alert, error) {
	if value != "useful" && value != "noise" {
		return Alert{}, fmt.Errorf("%w: feedback is useful or noise, not %q", ErrInvalid, value)
	}
	return m.change(ctx, id, "feedback", who, value, func(a *Alert) error {
		a.Feedback = value
		return nil
	})
}

// Get returns one alert.
func (m *Manager) Get(id string) (Alert, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.alerts[id]
	if a == nil {
		return Alert{}, false
	}
	return m.out(a), true
}

// Filter selects alerts for List; empty fields match everything.
type Filter struct {
	State, Rule, Severity, Unit, Assignee, Kind string
	Limit                                       int
	// NoUnit, with Unit empty, keeps only alerts without a unit (a scoped
	// caller whose own unit is empty), where an empty Unit means any.
	NoUnit bool
}

// List returns matching alerts, newest first.
func (m *Manager) List(f Filter) []Alert {
	m.mu.Lock()
	out := make([]Alert, 0, len(m.alerts))
	for _, a := range m.alerts {
		if (f.State == "" || f.State == a.State) && (f.Rule == "" || f.Rule == a.Rule) && (f.Severity == "" || f.Severity == a.Severity) &&
			(f.Unit == "" && !f.NoUnit || f.Unit == a.Unit) && (f.Assignee == "" || f.Assignee == a.Assignee) && (f.Kind == "" || f.Kind == a.Kind) {
			out = append(out, m.out(a))
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].OpenedAt.Equal(out[j].OpenedAt) {
			return out[i].OpenedAt.After(out[j].OpenedAt)
		}
		return out[i].ID < out[j].ID
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// AddSilence stores a silence and applies it to the unresolved alerts it
// matches.
func (m *Manager) AddSilence(ctx context.Context, s Silence) (Silence, error) {
	for k := range s.Matchers {
		if !slices.Contains(MatcherFields, k) {
			return Silence{}, fmt.Errorf("%w: cannot match on %q (use %v)", ErrInvalid, k, MatcherFields)
		}
	}
	if len(s.Matchers) == 0 {
		return Silence{}, fmt.Errorf("%w: a silence needs at least one matcher", ErrInvalid)
	}
	now := m.o.Now().UTC()
	if !s.ExpiresAt.After(now) {
		return Silence{}, fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, s.ExpiresAt.Format(time.RFC3339))
	}
	s.ID, s.CreatedAt = newID("s-"), now
	mb, _ := json.Marshal(s.Matchers)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.o.DB.Insert(ctx, "netpulse.alert_silences", []silenceRow{{ID: s.ID, Matchers: string(mb), Comment: s.Comment,
		CreatedBy: s.CreatedBy, CreatedAt: now, ExpiresAt: s.ExpiresAt.UTC(), Version: m.nextVersion()}}); err != nil {
		return Silence{}, fmt.Errorf("lifecycle: store silence: %w", err)
	}
	m.silences[s.ID] = &s
	for _, a := range m.alerts {
		if a.State != StateResolved && a.SilencedBy == "" && s.Matches(a) {
			next := a.clone()
			next.SilencedBy = s.ID
			if err := m.commit(ctx, &next, "silenced", s.CreatedBy, s.ID); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

// SilenceAlert silences the rule and subject of one alert (its key, or
// what Options.Subject makes of it), within its unit, for d.
func (m *Manager) SilenceAlert(ctx context.Context, id, who, comment string, d time.Duration) (Silence, error) {
	a, ok := m.Get(id)
	if !ok {
		return Silence{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	key := a.Key
	if m.o.Subject != nil {
		if p, ok := m.o.Subject(a.Rule, a.Key); ok && p != "" {
			key = p + "*"
		}
	}
	return m.AddSilence(ctx, Silence{Matchers: map[string]string{"rule": a.Rule, "key": key, "unit": a.Unit}, Comment: comment,
		CreatedBy: who, ExpiresAt: m.o.Now().Add(d)})
}

// DeleteSilence ends a silence early.
func (m *Manager) DeleteSilence(ctx context.Context, id, who string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.silences[id]
	if s == nil {
		return fmt.Errorf("%w: silence %s", ErrNotFound, id)
	}
	mb, _ := json.Marshal(s.Matchers)
	if err := m.o.DB.Insert(ctx, "netpulse.alert_silences", []silenceRow{{ID: s.ID, Matchers: string(mb), Comment: s.Comment,
		CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Deleted: 1, Version: m.nextVersion()}}); err != nil {
		return fmt.Errorf("lifecycle: delete silence %s: %w", id, err)
	}
	delete(m.silences, id)
	return nil
}

// Silences lists the active silences.
func (m *Manager) Silences() []Silence {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.o.Now()
	var out []Silence
	for _, s := range m.silences {
		if now.Before(s.ExpiresAt) {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// History returns the stored events of one alert, oldest first.
func (m *Manager) History(ctx context.Context, id string) ([]Event, error) {
	var rows []eventRow
	if err := m.o.DB.Select(ctx, &rows, `SELECT * FROM netpulse.alert_events WHERE alert_id = ? ORDER BY at, seq`, id); err != nil {
		return nil, fmt.Errorf("lifecycle: history of %s: %w", id, err)
	}
	out := make([]Event, 0, len(rows))
	for _, r := range rows {
		out = append(out, Event{Type: r.Action, At: r.At, Actor: r.Actor, Alert: Alert{ID: id, Notes: []Note{{At: r.At, By: r.Actor, Text: r.Detail}}}})
	}
	return out, nil
}

// Precision is the officers' verdict on one rule's alerts.
type Precision struct {
	Rule      string  `json:"rule"`
	Alerts    uint64  `json:"alerts"`
	Useful    uint64  `json:"useful"`
	Noise     uint64  `json:"noise"`
	Precision float64 `json:"precision"` // useful / (useful + noise); 0 without feedback
}

// PrecisionByRule reads the feedback stored in ClickHouse since since,
// over every unit's alerts (the district's view).
func (m *Manager) PrecisionByRule(ctx context.Context, since time.Time) ([]Precision, error) {
	return m.precision(ctx, since, "", nil)
}

// PrecisionOfUnit is PrecisionByRule over one unit's alerts ("" for the
// alerts without a unit): what a unit's officers may see.
func (m *Manager) PrecisionOfUnit(ctx context.Context, since time.Time, unit string) ([]Precision, error) {
	return m.precision(ctx, since, " AND unit = ?", []any{unit})
}

func (m *Manager) precision(ctx context.Context, since time.Time, cond string, args []any) ([]Precision, error) {
	var rows []Precision
	if err := m.o.DB.Select(ctx, &rows, `SELECT rule, count() AS alerts, countIf(feedback = 'useful') AS useful,
		countIf(feedback = 'noise') AS noise, if(useful + noise = 0, 0, useful / (useful + noise)) AS precision
		FROM netpulse.alerts FINAL WHERE opened_at >= ?`+cond+` GROUP BY rule ORDER BY rule`, append([]any{since}, args...)...); err != nil {
		return nil, fmt.Errorf("lifecycle: precision: %w", err)
	}
	return rows, nil
}

// Follow keeps this node's alerts in step with the store, every interval
// until ctx ends, so that with several nodes every board shows the alerts
// the leader raised and the acknowledgements other nodes took.
func (m *Manager) Follow(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
			m.o.Log.Warn("lifecycle: refresh", "err", err)
		}
	}
}

// followOverlap re-reads recent changes so that a node whose clock runs
// behind (versions are nanosecond clock readings) is not missed.
const followOverlap = uint64(30 * time.Second)

// Refresh applies the changes other nodes stored since the last refresh.
func (m *Manager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	from := m.mark - min(m.mark, followOverlap)
	m.mu.Unlock()
	upto := uint64(m.o.Now().UnixNano())
	var rows []alertRow
	if err := m.o.DB.Select(ctx, &rows, `SELECT * FROM netpulse.alerts WHERE version > ? ORDER BY version`, from); err != nil {
		return fmt.Errorf("lifecycle: refresh alerts: %w", err)
	}
	var notes []eventRow
	if err := m.o.DB.Select(ctx, &notes, `SELECT * FROM netpulse.alert_events WHERE action = 'note' AND at > ? ORDER BY at, seq`,
		time.Unix(0, int64(from)).UTC()); err != nil {
		return fmt.Errorf("lifecycle: refresh notes: %w", err)
	}
	var sil []silenceRow
	if err := m.o.DB.Select(ctx, &sil, `SELECT * FROM netpulse.alert_silences WHERE version > ? ORDER BY version`, from); err != nil {
		return fmt.Errorf("lifecycle: refresh silences: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range sil {
		if r.Deleted != 0 {
			delete(m.silences, r.ID)
			continue
		}
		if _, ok := m.silences[r.ID]; !ok {
			s := &Silence{ID: r.ID, Comment: r.Comment, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
			_ = json.Unmarshal([]byte(r.Matchers), &s.Matchers)
			m.silences[s.ID] = s
		}
		m.version = max(m.version, r.Version)
	}
	for _, r := range rows {
		if r.Version <= m.ver[r.ID] {
			continue
		}
		a := fromRow(r)
		typ := "updated"
		if old := m.alerts[r.ID]; old == nil {
			typ = "opened"
		} else {
			a.Notes = old.Notes
			switch {
			case old.State != a.State:
				typ = a.State
			case old.Assignee != a.Assignee:
				typ = "assigned"
			case old.Escalated != a.Escalated:
				typ = "escalated"
			case old.Feedback != a.Feedback:
				typ = "feedback"
			}
		}
		m.alerts[a.ID] = a
		m.byKey[a.Rule+"\x00"+a.Key] = a.ID
		m.ver[a.ID] = r.Version
		m.version = max(m.version, r.Version)
		m.publish(Event{Type: typ, At: a.LastSeen, Actor: "", Alert: m.out(a), Remote: true})
	}
	for _, n := range notes {
		a := m.alerts[n.AlertID]
		// The stored event's time is taken a moment after the note's own.
		if a == nil || slices.ContainsFunc(a.Notes, func(x Note) bool {
			return x.By == n.Actor && x.Text == n.Detail && x.At.Sub(n.At).Abs() < 5*time.Second
		}) {
			continue
		}
		a.Notes = append(a.Notes, Note{At: n.At, By: n.Actor, Text: n.Detail})
		m.publish(Event{Type: "note", At: n.At, Actor: n.Actor, Alert: m.out(a), Remote: true})
	}
	m.mark = max(m.mark, upto)
	return nil
}

// Run escalates alerts that miss their acknowledgement SLA and forgets
// expired silences, until ctx ends. With several nodes only the leader
// runs it, so that an alert escalates once.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			m.o.Log.Warn("lifecycle: tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick runs one escalation pass.
func (m *Manager) Tick(ctx context.Context) error {
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.silences {
		if !now.Before(s.ExpiresAt) {
			delete(m.silences, id)
		}
	}
	// Resolved alerts leave the board (and memory) after Keep; they stay
	// in ClickHouse, and a re-raise of their id is still recognised there.
	for id, a := range m.alerts {
		if a.State == StateResolved && a.ResolvedAt != nil && now.Sub(*a.ResolvedAt) > m.o.Keep {
			delete(m.alerts, id)
			delete(m.ver, id)
			if k := a.Rule + "\x00" + a.Key; m.byKey[k] == id {
				delete(m.byKey, k)
			}
		}
	}
	var errs []error
	for _, a := range m.alerts {
		if a.State != StateOpen || a.Escalated || a.Quiet() {
			continue
		}
		sla := m.sla(a.Severity)
		if now.Sub(a.OpenedAt) < sla {
			continue
		}
		next := a.clone()
		next.Escalated = true
		if err := m.commit(ctx, &next, "escalated", "system", fmt.Sprintf("not acknowledged within %s", sla)); err != nil {
			errs = append(errs, err)
			continue
		}
		m.escalated.Inc()
	}
	return errors.Join(errs...)
}
