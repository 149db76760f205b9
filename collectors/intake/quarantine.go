package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/netpulse/netpulse/privacy/identity"
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
	IDHash        string    `json:"id_hash"`
	NameHash      string    `json:"name_hash"`
}

// protect seals a refused input the way stored records are kept: the whole
// input as ciphertext, and the keyed hashes of its number and name.
func (s *Service) protect(q *quarantineRow, in Input) {
	b, _ := json.Marshal(in)
	q.InputEnc = s.o.Protect.Encrypt(b)
	if n := identity.Normalize(in.IDNumber); n != "" {
		q.IDHash = s.o.Protect.Hash(strings.TrimSpace(in.IDType), n)
	}
	if strings.TrimSpace(in.Name) != "" {
		q.NameHash = s.o.Protect.NameHash(in.Name)
	}
}

// masked is a quarantined input as every listing shows it, to the venue
// and to an admin alike: the number and the name masked as stored records
// show them, and anything shaped like an identity number in the other
// fields masked too (a number typed into the wrong column is still a
// number). The clear values stay in the ciphertext; a fix that leaves them
// as shown keeps them (Resubmit).
func masked(in Input) Input {
	out := Input{}
	for _, f := range Fields {
		out.set(f, identity.MaskNumbers(in.get(f)))
	}
	out.IDNumber = maskNumber(in.IDType, in.IDNumber)
	out.Name = identity.MaskName(in.Name)
	return out
}

func maskNumber(idType, number string) string {
	n := identity.Normalize(number)
	if n == "" {
		return ""
	}
	t := strings.TrimSpace(idType)
	if t != identity.TypeResident || len(n) != 18 {
		t = identity.TypeOther
	}
	return identity.Mask(t, n)
}

func (s *Service) quarantine(ctx context.Context, venue, batchID string, now time.Time, bad []badRow) error {
	rows := make([]quarantineRow, len(bad))
	for i, b := range bad {
		errs, _ := json.Marshal(b.errs)
		rows[i] = quarantineRow{Venue: venue, BatchID: batchID, Row: b.row, ReceivedAt: now,
			Errors: string(errs), Status: StatusOpen, Version: uint64(now.UnixNano())}
		s.protect(&rows[i], b.in)
	}
	return s.o.DB.Insert(ctx, "netpulse.intake_quarantine", rows)
}

// QuarantinedRow is a refused row as the operator sees it: Record is
// masked (see masked).
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
			var in Input
			_ = json.Unmarshal(plain, &in)
			q.Record = masked(in)
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

// Fix is an operator's corrected version of a quarantined row. The
// operator sees the number and the name masked; a fix that leaves either
// empty or as shown keeps the value first sent, which the server takes from
// the ciphertext, so a correction never needs the old value revealed.
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
	prev, err := s.quarantinedInputs(ctx, venue, fixes)
	if err != nil {
		return Answer{}, err
	}
	rows := make([]Parsed, len(fixes))
	for i, f := range fixes {
		fixes[i].Record = keepMasked(f.Record, prev[fmt.Sprintf("%s/%d", f.BatchID, f.Row)])
		rows[i] = Parsed{Row: i + 1, In: fixes[i].Record}
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
		q := quarantineRow{Venue: venue, BatchID: f.BatchID, Row: f.Row, ReceivedAt: now,
			Status: StatusResolved, ResolvedBatch: batchID, Version: uint64(now.UnixNano())}
		s.protect(&q, f.Record)
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

// quarantinedInputs decrypts the inputs of the rows fixes name (only this
// venue's), keyed "batch/row".
func (s *Service) quarantinedInputs(ctx context.Context, venue string, fixes []Fix) (map[string]Input, error) {
	batches := make([]string, 0, len(fixes))
	for _, f := range fixes {
		batches = append(batches, f.BatchID)
	}
	var rows []struct {
		BatchID  string `json:"batch_id"`
		Row      int    `json:"row"`
		InputEnc string `json:"input_enc"`
	}
	if err := s.o.DB.Select(ctx, &rows, `SELECT batch_id, row, input_enc FROM netpulse.intake_quarantine FINAL
		WHERE venue = ? AND has(?, batch_id)`, venue, batches); err != nil {
		return nil, fmt.Errorf("read quarantine: %w", err)
	}
	out := make(map[string]Input, len(rows))
	for _, r := range rows {
		plain, err := s.o.Protect.Decrypt(r.InputEnc)
		if err != nil {
			return nil, fmt.Errorf("read quarantine %s/%d: %w", r.BatchID, r.Row, err)
		}
		var in Input
		if err := json.Unmarshal(plain, &in); err != nil {
			return nil, fmt.Errorf("read quarantine %s/%d: %w", r.BatchID, r.Row, err)
		}
		out[fmt.Sprintf("%s/%d", r.BatchID, r.Row)] = in
	}
	return out, nil
}

// keepMasked fills the number and the name of a fix from the quarantined
// input when the operator left them empty or as the listing showed them.
// The id_type counts: a number kept under a corrected type is the same
// number.
func keepMasked(fix, old Input) Input {
	if n := strings.TrimSpace(fix.IDNumber); n == "" || n == maskNumber(old.IDType, old.IDNumber) {
		fix.IDNumber = old.IDNumber
	}
	if n := strings.TrimSpace(fix.Name); n == "" || n == identity.MaskName(old.Name) {
		fix.Name = old.Name
	}
	return fix
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
