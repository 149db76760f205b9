package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Quarantine statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

type quarantineRow struct {
	Venue         string    `json:"venue"`
	BatchID       string    `json:"batch_id"`
	Row           int       `json:"row"`
	ReceivedAt    time.Time `json:"received_at"`
	InputEnc      string    `json:"input_enc"`
	Errors        string    `json:"errors"`
	Status        string    `json:"status"`
	ResolvedBatch string    `json:"resolved_batch"`
	Version       uint64    `json:"version"`
}

func (s *Service) quarantine(ctx context.Context, venue, batchID string, now time.Time, bad []badRow) error {
	rows := make([]quarantineRow, len(bad))
	for i, b := range bad {
		in, _ := json.Marshal(b.in)
		errs, _ := json.Marshal(b.errs)
		rows[i] = quarantineRow{Venue: venue, BatchID: batchID, Row: b.row, ReceivedAt: now,
			InputEnc: s.o.Protect.Encrypt(in), Errors: string(errs), Status: StatusOpen, Version: uint64(now.UnixNano())}
	}
	return s.o.DB.Insert(ctx, "netpulse.intake_quarantine", rows)
}

// QuarantinedRow is a refused row as the operator sees it.
type QuarantinedRow struct {
	BatchID       string     `json:"batch_id"`
	Row           int        `json:"row"`
	ReceivedAt    time.Time  `json:"received_at"`
	Status        string     `json:"status"`
	Record        Input      `json:"record"`
	Errors        []RowError `json:"errors"`
	ResolvedBatch string     `json:"resolved_batch,omitempty"`
}

// Quarantined lists a venue's quarantined rows (status "" means any),
// newest first.
func (s *Service) Quarantined(ctx context.Context, venue, status string, limit, offset int) (int, []QuarantinedRow, error) {
	where := `venue = ?`
	args := []any{venue}
	if status != "" {
		where += ` AND status = ?`
		args = append(args, status)
	}
	var total []struct {
		N uint64 `json:"n"`
	}
	if err := s.o.DB.Select(ctx, &total, `SELECT count() AS n FROM netpulse.intake_quarantine FINAL WHERE `+where, args...); err != nil {
		return 0, nil, fmt.Errorf("count quarantine: %w", err)
	}
	var rows []quarantineRow
	if err := s.o.DB.Select(ctx, &rows, `SELECT * FROM netpulse.intake_quarantine FINAL WHERE `+where+
		` ORDER BY received_at DESC, batch_id, row LIMIT ? OFFSET ?`, append(args, limit, offset)...); err != nil {
		return 0, nil, fmt.Errorf("list quarantine: %w", err)
	}
	out := make([]QuarantinedRow, 0, len(rows))
	for _, r := range rows {
		q := QuarantinedRow{BatchID: r.BatchID, Row: r.Row, ReceivedAt: r.ReceivedAt, Status: r.Status, ResolvedBatch: r.ResolvedBatch}
		if plain, err := s.o.Protect.Decrypt(r.InputEnc); err == nil {
			_ = json.Unmarshal(plain, &q.Record)
		}
		_ = json.Unmarshal([]byte(r.Errors), &q.Errors)
		out = append(out, q)
	}
	n := 0
	if len(total) > 0 {
		n = int(total[0].N)
	}
	return n, out, nil
}

// Fix is an operator's corrected version of a quarantined row.
type Fix struct {
	BatchID string `json:"batch_id"`
	Row     int    `json:"row"`
	Record  Input  `json:"record"`
}

// Resubmit validates corrected rows. Good ones are published as a new
// batch and their quarantine entries resolved; bad ones stay open with the
// new input and reasons. Rejected rows are numbered by their place in fixes.
func (s *Service) Resubmit(ctx context.Context, venue string, fixes []Fix) (Answer, error) {
	now := s.o.Now().UTC()
	if ok, wait := s.limit.allow(venue, now); !ok {
		return Answer{}, &RetryAfter{After: wait, Err: ErrRateLimited}
	}
	for i, f := range fixes {
		// A fix names a quarantined row: anything else cannot be stored
		// (row is a UInt32) and used to fail the whole resubmit with a 500.
		if f.Row < 1 || f.Row > s.o.MaxRows || f.BatchID == "" || len(f.BatchID) > 64 || !utf8.ValidString(f.BatchID) {
			return Answer{}, fmt.Errorf("%w: items[%d]: batch_id and row (1 to %d) must name a quarantined row", ErrBody, i, s.o.MaxRows)
		}
	}
	kind, err := s.venueKind(ctx, venue)
	if err != nil {
		return Answer{}, err
	}
	batchID := newBatchID(now)
	rows := make([]Parsed, len(fixes))
	for i, f := range fixes {
		rows[i] = Parsed{Row: i + 1, In: f.Record}
	}
	v := &Validator{Venue: venue, VenueKind: kind, Now: now, Retention: s.o.Retention, Protect: s.o.Protect}
	recs, bad := s.validate(v, rows, batchID)
	if err := s.publish(ctx, recs); err != nil {
		return Answer{}, err
	}
	s.accepted.Add(float64(len(recs)))
	badAt := map[int]badRow{}
	for _, b := range bad {
		badAt[b.row] = b
	}
	upd := make([]quarantineRow, 0, len(fixes))
	for i, f := range fixes {
		in, _ := json.Marshal(f.Record)
		q := quarantineRow{Venue: venue, BatchID: f.BatchID, Row: f.Row, ReceivedAt: now,
			InputEnc: s.o.Protect.Encrypt(in), Status: StatusResolved, ResolvedBatch: batchID, Version: uint64(now.UnixNano())}
		if b, isBad := badAt[i+1]; isBad {
			errs, _ := json.Marshal(b.errs)
			q.Status, q.ResolvedBatch, q.Errors = StatusOpen, "", string(errs)
		} else {
			q.Errors = "[]"
		}
		upd = append(upd, q)
	}
	// received_at keeps the first arrival so the list order stays stable.
	if err := s.keepArrival(ctx, venue, upd); err != nil {
		return Answer{}, err
	}
	if err := s.o.DB.Insert(ctx, "netpulse.intake_quarantine", upd); err != nil {
		return Answer{}, fmt.Errorf("update quarantine: %w", err)
	}
	ans := Answer{BatchID: batchID, Accepted: len(recs), Rejected: flattenErrors(bad)}
	rc := Receipt{BatchID: batchID, Venue: venue, ReceivedAt: now, Rows: len(fixes), Accepted: len(recs), Rejected: len(bad)}
	rc.Sign(s.o.ReceiptKey)
	ans.Receipt = &rc
	if err := s.ledger.record(ctx, venue, "", stored{}, rc); err != nil {
		s.o.Log.Error("store resubmit receipt", "venue", venue, "batch", batchID, "err", err)
	}
	return ans, nil
}

func (s *Service) keepArrival(ctx context.Context, venue string, upd []quarantineRow) error {
	var prev []struct {
		BatchID    string    `json:"batch_id"`
		Row        int       `json:"row"`
		ReceivedAt time.Time `json:"received_at"`
	}
	batches := make([]string, 0, len(upd))
	for _, u := range upd {
		batches = append(batches, u.BatchID)
	}
	if err := s.o.DB.Select(ctx, &prev, `SELECT batch_id, row, received_at FROM netpulse.intake_quarantine FINAL
		WHERE venue = ? AND has(?, batch_id)`, venue, batches); err != nil {
		return fmt.Errorf("read quarantine: %w", err)
	}
	at := map[string]time.Time{}
	for _, p := range prev {
		at[fmt.Sprintf("%s/%d", p.BatchID, p.Row)] = p.ReceivedAt
	}
	for i, u := range upd {
		if t, ok := at[fmt.Sprintf("%s/%d", u.BatchID, u.Row)]; ok {
			upd[i].ReceivedAt = t
		}
	}
	return nil
}
