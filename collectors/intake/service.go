package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Options configure a Service. Producer, DB, VenueKind, Protect, ReceiptKey
// and LedgerPath are required.
type Options struct {
	Producer bus.Producer
	DB       *store.DB // quarantine table
	// VenueKind answers the kind (cafe or hotel) of a registered venue.
	VenueKind  func(ctx context.Context, code string) (string, error)
	Protect    *identity.Protector
	ReceiptKey []byte
	LedgerPath string // bbolt file for idempotent answers and receipts
	// Retention per record kind; records older than it are refused.
	Retention func(kind string) time.Duration

	MaxBody    int64         // bytes; default 16 MiB
	MaxRows    int           // rows per batch; default 100000
	Rate       float64       // batches per second per venue; default 5, negative disables
	Burst      int           // default 20
	IdemTTL    time.Duration // how long an Idempotency-Key is remembered; default 7 days
	ReceiptTTL time.Duration // how long receipts can be fetched again; default 90 days
	Log        *slog.Logger
	Reg        prometheus.Registerer
	Now        func() time.Time
	Publisher  string // topic; default raw.access
	// MaxInFlight bounds batches being read, parsed and published at once
	// over all venues; more get 503 with Retry-After, so that overload is
	// refused at the door instead of queued in memory. Default 4×GOMAXPROCS.
	MaxInFlight int
}

// Service accepts batches of access records.
type Service struct {
	o      Options
	ledger *ledger
	limit  *limiter
	locks  [64]sync.Mutex // per Idempotency-Key stripe, so concurrent retries run once
	// inflight holds one token per batch being handled (MaxInFlight).
	inflight chan struct{}

	kindMu sync.Mutex
	kinds  map[string]kindEntry

	accepted, rejected prometheus.Counter
	refused            *prometheus.CounterVec
	batchRows          prometheus.Histogram
	delay              prometheus.Histogram
}

type kindEntry struct {
	kind    string
	expires time.Time
}

// New opens the ledger and builds the service.
func New(o Options) (*Service, error) {
	if o.Producer == nil || o.DB == nil || o.VenueKind == nil || o.Protect == nil || len(o.ReceiptKey) == 0 || o.LedgerPath == "" {
		return nil, errors.New("intake: Producer, DB, VenueKind, Protect, ReceiptKey and LedgerPath are required")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 16 << 20
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 100000
	}
	if o.Rate == 0 {
		o.Rate = 5
	}
	if o.Burst <= 0 {
		o.Burst = 20
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4 * runtime.GOMAXPROCS(0)
	}
	if o.IdemTTL <= 0 {
		o.IdemTTL = 7 * 24 * time.Hour
	}
	if o.ReceiptTTL <= 0 {
		o.ReceiptTTL = 90 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Publisher == "" {
		o.Publisher = bus.TopicAccess
	}
	l, err := openLedger(o.LedgerPath)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, ledger: l, limit: newLimiter(o.Rate, o.Burst), kinds: map[string]kindEntry{},
		inflight: make(chan struct{}, o.MaxInFlight),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_intake_records_accepted_total",
			Help: "Access records accepted and durable on the bus."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "netpulse_intake_records_rejected_total",
			Help: "Access record rows refused and quarantined."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_intake_batches_refused_total",
			Help: "Whole batches refused, by HTTP status."}, []string{"code"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "netpulse_intake_batch_rows",
			Help: "Rows per intake batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "netpulse_intake_record_delay_seconds",
			Help:    "Arrival delay of accepted records after their event (start, or end for a closing update); the rule is upload at once.",
			Buckets: []float64{10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600}}),
	}
	if o.Reg != nil {
		o.Reg.MustRegister(s.accepted, s.rejected, s.refused, s.batchRows, s.delay)
	}
	return s, nil
}

// StateTable returns the ledger as a table of the shared state topic, for
// nodes behind a load balancer (see ledger).
func (s *Service) StateTable() kvtopic.Table { return ledgerTable{s.ledger} }

// Share makes the ledger a copy of the cluster's: answers and receipts go
// through sh. Call it before serving.
func (s *Service) Share(sh Shared) { s.ledger.shared = sh }

// Close closes the ledger.
func (s *Service) Close() error { return s.ledger.close() }

// Run prunes old idempotent answers and receipts until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		now := s.o.Now()
		if n, err := s.ledger.prune(ctx, now.Add(-s.o.IdemTTL), now.Add(-s.o.ReceiptTTL)); err != nil {
			s.o.Log.Warn("prune intake ledger", "err", err)
		} else if n > 0 {
			s.o.Log.Info("pruned intake ledger", "entries", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Answer is the reply to a batch.
type Answer struct {
	BatchID  string     `json:"batch_id"`
	Accepted int        `json:"accepted"`
	Rejected []RowError `json:"rejected"`
	Receipt  *Receipt   `json:"receipt,omitempty"`
}

// Errors of Submit that decide the HTTP status.
var (
	ErrRateLimited  = errors.New("rate limit exceeded")
	ErrKeyConflict  = errors.New("Idempotency-Key reused with a different body")
	ErrUnknownVenue = errors.New("venue not registered")
)

// RetryAfter is returned (wrapped) when the caller should come back later.
type RetryAfter struct {
	After time.Duration
	Err   error
}

func (e *RetryAfter) Error() string { return fmt.Sprintf("%v (retry after %v)", e.Err, e.After) }
func (e *RetryAfter) Unwrap() error { return e.Err }

// Submit validates and publishes one batch for venue. It returns only after
// the accepted records are durable on the bus. replayed reports an answer
// given before for the same Idempotency-Key.
func (s *Service) Submit(ctx context.Context, venue, idemKey, contentType string, body []byte) (ans Answer, replayed bool, err error) {
	now := s.o.Now().UTC()
	if ok, wait := s.limit.allow(venue, now); !ok {
		s.refused.WithLabelValues("429").Inc()
		return Answer{}, false, &RetryAfter{After: wait, Err: ErrRateLimited}
	}
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	if idemKey != "" {
		h := fnv.New32a()
		h.Write([]byte(venue + "\x00" + idemKey))
		mu := &s.locks[h.Sum32()%uint32(len(s.locks))]
		mu.Lock()
		defer mu.Unlock()
		prev, found, err := s.ledger.answer(ctx, venue, idemKey)
		if err != nil {
			return Answer{}, false, err
		}
		if found {
			if prev.BodySHA256 != bodyHash {
				return Answer{}, false, ErrKeyConflict
			}
			if err := json.Unmarshal(prev.Answer, &ans); err != nil {
				return Answer{}, false, fmt.Errorf("stored answer for key: %w", err)
			}
			return ans, true, nil
		}
	}
	kind, err := s.venueKind(ctx, venue)
	if err != nil {
		return Answer{}, false, err
	}
	rows, err := Parse(body, DetectFormat(contentType, body), s.o.MaxRows)
	if err != nil {
		return Answer{}, false, err
	}
	s.batchRows.Observe(float64(len(rows)))
	batchID := newBatchID(now)
	v := &Validator{Venue: venue, VenueKind: kind, Now: now, Retention: s.o.Retention, Protect: s.o.Protect}
	recs, bad := s.validate(v, rows, batchID)

	if err := s.publish(ctx, recs); err != nil {
		return Answer{}, false, err
	}
	s.accepted.Add(float64(len(recs)))
	for i := range recs {
		event := recs[i].StartedAt
		if recs[i].EndedAt != nil {
			event = *recs[i].EndedAt
		}
		s.delay.Observe(now.Sub(event).Seconds())
	}
	rejected := flattenErrors(bad)
	s.rejected.Add(float64(len(bad)))
	if len(bad) > 0 {
		// Quarantine is best effort: the operator already has every reason
		// in the answer, and the good rows are durable.
		if err := s.quarantine(ctx, venue, batchID, now, bad); err != nil {
			s.o.Log.Error("quarantine rejected rows", "venue", venue, "batch", batchID, "rows", len(bad), "err", err)
		}
	}
	rc := Receipt{BatchID: batchID, Venue: venue, ReceivedAt: now, Rows: len(rows), Accepted: len(recs), Rejected: len(bad), BodySHA256: bodyHash}
	rc.Sign(s.o.ReceiptKey)
	ans = Answer{BatchID: batchID, Accepted: len(recs), Rejected: rejected, Receipt: &rc}
	ab, _ := json.Marshal(ans)
	if err := s.ledger.record(ctx, venue, idemKey, stored{BodySHA256: bodyHash, Status: 200, Answer: ab, At: now}, rc); err != nil {
		// The records are durable; a resend would be absorbed by record ids.
		s.o.Log.Error("store batch answer", "venue", venue, "batch", batchID, "err", err)
	}
	return ans, false, nil
}

// badRow is one refused row with every reason, and what was sent.
type badRow struct {
	row  int
	in   Input
	errs []RowError
}

func (s *Service) validate(v *Validator, rows []Parsed, batchID string) ([]Record, []badRow) {
	recs := make([]Record, 0, len(rows))
	var bad []badRow
	seen := make(map[string]int, len(rows))
	for _, p := range rows {
		if p.Err != nil {
			bad = append(bad, badRow{row: p.Row, in: p.In, errs: []RowError{*p.Err}})
			continue
		}
		r, errs := v.Validate(p.Row, p.In)
		if len(errs) > 0 {
			bad = append(bad, badRow{row: p.Row, in: p.In, errs: errs})
			continue
		}
		if first, dup := seen[r.RecordID]; dup {
			bad = append(bad, badRow{row: p.Row, in: p.In, errs: []RowError{{Row: p.Row, Field: "row",
				Reason: fmt.Sprintf("duplicate of row %d in this batch", first)}}})
			continue
		}
		seen[r.RecordID] = p.Row
		r.BatchID = batchID
		recs = append(recs, r)
	}
	return recs, bad
}

func flattenErrors(bad []badRow) []RowError {
	out := make([]RowError, 0, len(bad))
	for _, b := range bad {
		out = append(out, b.errs...)
	}
	return out
}

// publishChunk bounds one Publish call so that a huge batch does not hold
// one giant append in memory twice.
const publishChunk = 5000

func (s *Service) publish(ctx context.Context, recs []Record) error {
	for len(recs) > 0 {
		n := min(len(recs), publishChunk)
		msgs := make([]bus.Message, n)
		buf := make([]byte, 0, n*640)
		var key []byte
		for i := range recs[:n] {
			if key == nil || string(key) != recs[i].Venue {
				key = []byte(recs[i].Venue)
			}
			off := len(buf)
			buf = recs[i].AppendJSON(buf)
			msgs[i] = bus.Message{Key: key, Value: buf[off:len(buf):len(buf)], Time: recs[i].ReceivedAt}
		}
		if err := s.o.Producer.Publish(ctx, s.o.Publisher, msgs...); err != nil {
			if errors.Is(err, bus.ErrUnavailable) || errors.Is(err, bus.ErrClosed) {
				s.refused.WithLabelValues("503").Inc()
				return &RetryAfter{After: 5 * time.Second, Err: fmt.Errorf("publish %d records: %w", n, err)}
			}
			return fmt.Errorf("publish %d records: %w", n, err)
		}
		recs = recs[n:]
	}
	return nil
}

// venueKind caches the registry answer briefly: the registry is a file
// opened per lookup, too slow to ask on every batch.
func (s *Service) venueKind(ctx context.Context, venue string) (string, error) {
	now := time.Now()
	s.kindMu.Lock()
	e, ok := s.kinds[venue]
	s.kindMu.Unlock()
	if ok && now.Before(e.expires) {
		return e.kind, nil
	}
	kind, err := s.o.VenueKind(ctx, venue)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrUnknownVenue, venue, err)
	}
	s.kindMu.Lock()
	s.kinds[venue] = kindEntry{kind: kind, expires: now.Add(time.Minute)}
	s.kindMu.Unlock()
	return kind, nil
}

// Receipt returns the receipt of a batch of venue.
func (s *Service) Receipt(venue, batchID string) (Receipt, error) {
	r, err := s.ledger.receipt(batchID)
	if err != nil {
		return Receipt{}, err
	}
	if r.Venue != venue {
		return Receipt{}, errNoReceipt // do not reveal other venues' batches
	}
	return r, nil
}

// VerifyReceipt checks a receipt's signature with this server's key.
func (s *Service) VerifyReceipt(r Receipt) bool { return r.Verify(s.o.ReceiptKey) }

func newBatchID(now time.Time) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return now.Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
