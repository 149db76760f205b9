// Package records moves accepted venue access records from raw.access into
// ClickHouse (committing bus offsets only after the insert), keeps the
// legal-hold flags and the venues table in step with the registry, and
// answers the per-venue delivery accounting.
package records

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Subscriber is what the writer needs from the bus.
type Subscriber interface {
	Subscribe(ctx context.Context, group, topic string) (bus.Consumer, error)
}

// Options configure a Writer.
type Options struct {
	Bus        Subscriber
	DB         *store.DB
	DeadLetter bus.Producer // optional: where malformed messages go
	Group      string       // consumer group; default "records"
	BatchRows  int
	BatchDelay time.Duration
	// AfterStore, when set, is called with each batch once ClickHouse
	// holds it (the compliance checks). Its error fails the batch, so the
	// batch is stored again (idempotent) and offered to it again: what it
	// has not handled is never committed.
	AfterStore func(ctx context.Context, msgs []bus.Message) error
	Log        *slog.Logger
	Reg        prometheus.Registerer
}

// Writer is the raw.access → netpulse.access_records stage.
type Writer struct {
	o Options

	mu        sync.RWMutex
	heldVenue map[string]bool
	heldIDs   map[string]bool
	synced    bool // the stored rows match heldVenue and heldIDs

	stored   prometheus.Counter
	dead     prometheus.Counter
	batchDur prometheus.Histogram
}

// New builds a Writer.
func New(o Options) *Writer {
	if o.Group == "" {
		o.Group = "records"
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 5000
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = 200 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{o: o, heldVenue: map[string]bool{}, heldIDs: map[string]bool{},
		stored: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_records_stored_total",
			Help: "Access records inserted into ClickHouse (replays included)."}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_records_undecodable_total",
			Help: "raw.access messages that were not records, moved to dead.letter."}),
		batchDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "netpulse_records_batch_seconds",
			Help: "Time to store one batch of access records.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
	}
	if o.Reg != nil {
		o.Reg.MustRegister(w.stored, w.dead, w.batchDur)
	}
	return w
}

// Run consumes raw.access until ctx ends. A failed insert is retried with
// backoff and nothing is committed until it lands, so a crash replays the
// batch and ReplacingMergeTree absorbs the repeat.
func (w *Writer) Run(ctx context.Context) error {
	c, err := w.o.Bus.Subscribe(ctx, w.o.Group, bus.TopicAccess)
	if err != nil {
		return fmt.Errorf("records: subscribe %s: %w", bus.TopicAccess, err)
	}
	defer c.Close()
	return bus.Consume(ctx, c, bus.BatchOptions{Max: w.o.BatchRows, Linger: w.o.BatchDelay,
		OnError: func(step string, err error, rows int) {
			w.o.Log.Error("records: "+step, "rows", rows, "err", err)
		}}, w.Store)
}

// meta is the part of a record the writer reads; the rest passes through
// as sent, which spares a full decode and re-encode per row.
type meta struct {
	RecordID string `json:"record_id"`
	Venue    string `json:"venue"`
	IDHash   string `json:"id_hash"`
}

var heldSuffix = []byte(`,"held":1}`)

// Store inserts one batch of raw.access messages. Values pass through as
// sent; only a batch that ClickHouse refuses is checked row by row, and
// rows that are not JSON objects are then dropped (and counted) so that one
// bad message cannot stall the topic.
func (w *Writer) Store(ctx context.Context, msgs []bus.Message) error {
	start := time.Now()
	rows, _ := w.rows(msgs, false)
	err := w.o.DB.Insert(ctx, "netpulse.access_records", rows)
	if err != nil && ctx.Err() == nil {
		checked, bad := w.rows(msgs, true)
		if len(bad) == 0 {
			return err // every row is well-formed: the store itself failed
		}
		if w.o.DeadLetter != nil {
			dl := make([]bus.Message, len(bad))
			for i, m := range bad {
				dl[i] = bus.Message{Key: m.Key, Value: m.Value, Time: m.Time}
			}
			if err := w.o.DeadLetter.Publish(ctx, bus.TopicDeadLetter, dl...); err != nil {
				return fmt.Errorf("records: dead-letter %d messages: %w", len(bad), err)
			}
		}
		w.dead.Add(float64(len(bad)))
		w.o.Log.Warn("records: malformed messages moved aside", "n", len(bad), "dead_letter", w.o.DeadLetter != nil)
		err = w.o.DB.Insert(ctx, "netpulse.access_records", checked)
		rows = checked
	}
	if err != nil {
		return err
	}
	w.stored.Add(float64(len(rows)))
	w.batchDur.Observe(time.Since(start).Seconds())
	if w.o.AfterStore != nil {
		if err := w.o.AfterStore(ctx, msgs); err != nil {
			return fmt.Errorf("records: after store: %w", err)
		}
	}
	return nil
}

func (w *Writer) rows(msgs []bus.Message, check bool) (rows []json.RawMessage, bad []bus.Message) {
	rows = make([]json.RawMessage, 0, len(msgs))
	w.mu.RLock()
	defer w.mu.RUnlock()
	checkIDs := len(w.heldIDs) > 0
	for _, m := range msgs {
		v := bytes.TrimSpace(m.Value)
		if check && (len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' || !json.Valid(v)) {
			bad = append(bad, m)
			continue
		}
		if len(v) < 2 {
			continue
		}
		held := w.heldVenue[string(m.Key)]
		if !held && checkIDs {
			var md meta
			if json.Unmarshal(v, &md) == nil {
				held = w.heldIDs[md.IDHash] || w.heldVenue[md.Venue]
			}
		}
		if held && v[len(v)-1] == '}' {
			v = append(append([]byte(nil), v[:len(v)-1]...), heldSuffix...)
		}
		rows = append(rows, v)
	}
	return rows, bad
}

// Venue is a registry venue as the writer mirrors it.
type Venue struct {
	Code      string `json:"code"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	District  string `json:"district"`
	Unit      string `json:"unit"`
	LegalHold bool   `json:"-"`
	Revoked   bool   `json:"-"`
}

type venueRow struct {
	Code      string    `json:"code"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	District  string    `json:"district"`
	Unit      string    `json:"unit"`
	LegalHold uint8     `json:"legal_hold"`
	Revoked   uint8     `json:"revoked"`
	SyncedAt  time.Time `json:"synced_at"`
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// SyncVenues copies the registry into netpulse.venues and applies legal
// holds: records of a newly held venue are marked held (so TTL skips them)
// and records of a released venue are unmarked, unless a case holds them.
func (w *Writer) SyncVenues(ctx context.Context, venues []Venue) error {
	now := time.Now().UTC()
	rows := make([]venueRow, len(venues))
	held := map[string]bool{}
	for i, v := range venues {
		rows[i] = venueRow{v.Code, v.Kind, v.Name, v.District, v.Unit, b2u(v.LegalHold), b2u(v.Revoked), now}
		if v.LegalHold {
			held[v.Code] = true
		}
	}
	if err := w.o.DB.Insert(ctx, "netpulse.venues", rows); err != nil {
		return fmt.Errorf("sync venues: %w", err)
	}
	ids, err := w.caseHolds(ctx)
	if err != nil {
		return err
	}
	// The insert path gets the new sets first, then stored rows are
	// reconciled; a row written in between is caught by the reconcile.
	// Reconciling scans the table, so it runs only when a set changed (or
	// the last attempt failed).
	w.mu.Lock()
	changed := !w.synced || !maps.Equal(w.heldVenue, held) || !maps.Equal(w.heldIDs, ids)
	w.heldVenue, w.heldIDs, w.synced = held, ids, false
	w.mu.Unlock()
	if !changed {
		w.mu.Lock()
		w.synced = true
		w.mu.Unlock()
		return nil
	}
	if err := w.applyHolds(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	w.synced = true
	w.mu.Unlock()
	return nil
}

func (w *Writer) caseHolds(ctx context.Context) (map[string]bool, error) {
	var hs []struct {
		IDHash string `json:"id_hash"`
	}
	if err := w.o.DB.Select(ctx, &hs, `SELECT id_hash FROM netpulse.record_holds FINAL WHERE active = 1`); err != nil {
		return nil, fmt.Errorf("read case holds: %w", err)
	}
	ids := make(map[string]bool, len(hs))
	for _, h := range hs {
		ids[h.IDHash] = true
	}
	return ids, nil
}

// applyHolds reconciles the held column with the hold sets in one pass each
// way; the WHERE clauses make it a no-op when nothing changed.
func (w *Writer) applyHolds(ctx context.Context) error {
	const heldExpr = `(venue IN (SELECT code FROM netpulse.venues FINAL WHERE legal_hold = 1)
		OR id_hash IN (SELECT id_hash FROM netpulse.record_holds FINAL WHERE active = 1))`
	var n []struct {
		Set   uint64 `json:"set"`
		Unset uint64 `json:"unset"`
	}
	if err := w.o.DB.Select(ctx, &n, `SELECT countIf(held = 0 AND `+heldExpr+`) AS set,
		countIf(held = 1 AND NOT `+heldExpr+`) AS unset FROM netpulse.access_records`); err != nil {
		return fmt.Errorf("count hold changes: %w", err)
	}
	if len(n) == 1 && n[0].Set > 0 {
		if err := w.o.DB.Exec(ctx, `ALTER TABLE netpulse.access_records UPDATE held = 1 WHERE held = 0 AND `+heldExpr+
			` SETTINGS mutations_sync = 1`); err != nil {
			return fmt.Errorf("set legal hold: %w", err)
		}
	}
	if len(n) == 1 && n[0].Unset > 0 {
		if err := w.o.DB.Exec(ctx, `ALTER TABLE netpulse.access_records UPDATE held = 0 WHERE held = 1 AND NOT `+heldExpr+
			` SETTINGS mutations_sync = 1`); err != nil {
			return fmt.Errorf("release legal hold: %w", err)
		}
		// Parts remember when their rows expire, computed while the rows
		// were held; recompute so released rows past retention go now.
		if err := w.o.DB.Exec(ctx, `ALTER TABLE netpulse.access_records MATERIALIZE TTL SETTINGS mutations_sync = 1`); err != nil {
			return fmt.Errorf("release legal hold: materialize TTL: %w", err)
		}
	}
	return nil
}

// SetCaseHold holds (or releases) every record of one identity hash for a
// case, whatever the venue.
func (w *Writer) SetCaseHold(ctx context.Context, idHash, caseRef, by string, active bool) error {
	if idHash == "" || caseRef == "" {
		return errors.New("case hold: identity hash and case reference are required")
	}
	if err := w.o.DB.Exec(ctx, `INSERT INTO netpulse.record_holds (id_hash, case_ref, set_by, set_at, active) VALUES (?, ?, ?, ?, ?)`,
		idHash, caseRef, by, time.Now(), b2u(active)); err != nil {
		return fmt.Errorf("case hold %s: %w", caseRef, err)
	}
	ids, err := w.caseHolds(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.heldIDs = ids
	w.mu.Unlock()
	return w.applyHolds(ctx)
}

// RunVenueSync calls SyncVenues with source's list every interval until ctx
// ends.
func (w *Writer) RunVenueSync(ctx context.Context, interval time.Duration, source func(context.Context) ([]Venue, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		vs, err := source(ctx)
		if err == nil {
			err = w.SyncVenues(ctx, vs)
		}
		if err != nil && ctx.Err() == nil {
			w.o.Log.Warn("records: venue sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
