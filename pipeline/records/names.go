package records

import (
	"context"
	"fmt"
	"time"

	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/privacy/identity"
)

// NameProtector is what ProtectNames needs of privacy/identity.
type NameProtector interface {
	NameHash(name string) string
	Encrypt(plain []byte) string
}

// ProtectNames rewrites the records stored before names were protected
// (schema 0019): their name column still holds the clear name. Each such
// row is inserted again with the name masked, hashed and encrypted, under
// a version one above its own, so ReplacingMergeTree keeps the new row;
// then the table is merged (OPTIMIZE … FINAL) so that the old rows, and the
// clear names in them, leave the data files. It returns the rows rewritten.
// Rows that arrive meanwhile are protected at intake already.
func ProtectNames(ctx context.Context, db *store.DB, p NameProtector) (int, error) {
	type row struct {
		RecordID    string    `json:"record_id"`
		Venue       string    `json:"venue"`
		Kind        string    `json:"kind"`
		Place       string    `json:"place"`
		IDType      string    `json:"id_type"`
		IDHash      string    `json:"id_hash"`
		IDEnc       string    `json:"id_enc"`
		IDMasked    string    `json:"id_masked"`
		Name        string    `json:"name"`
		NameHash    string    `json:"name_hash"`
		NameEnc     string    `json:"name_enc"`
		StartedAt   time.Time `json:"started_at"`
		EndedAt     time.Time `json:"ended_at"`
		IP          string    `json:"ip"`
		MAC         string    `json:"mac"`
		PartySize   uint16    `json:"party_size"`
		ReceivedAt  time.Time `json:"received_at"`
		BatchID     string    `json:"batch_id"`
		Version     uint64    `json:"version"`
		RetainUntil time.Time `json:"retain_until"`
		Held        uint8     `json:"held"`
	}
	// Most starts find nothing to do. A plain scan of two columns that
	// stops at the first clear name says so without the FINAL merge-read
	// of the whole table that the rewrite below needs.
	var found []struct {
		One uint8 `json:"one"`
	}
	if err := db.Select(ctx, &found, `SELECT 1 AS one FROM netpulse.access_records WHERE name_hash = '' AND name != '' LIMIT 1`); err != nil {
		return 0, fmt.Errorf("protect names: look for clear names: %w", err)
	}
	if len(found) == 0 {
		return 0, nil
	}
	total := 0
	for {
		var rows []row
		if err := db.Select(ctx, &rows, `SELECT record_id, venue, kind, place, id_type, id_hash, id_enc, id_masked, name,
			started_at, ended_at, ip, mac, party_size, received_at, batch_id, version, retain_until, held
			FROM netpulse.access_records FINAL WHERE name_hash = '' AND name != '' LIMIT 5000`); err != nil {
			return total, fmt.Errorf("protect names: read: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		for i := range rows {
			r := &rows[i]
			r.NameHash, r.NameEnc, r.Name = p.NameHash(r.Name), p.Encrypt([]byte(r.Name)), identity.MaskName(r.Name)
			r.Version++
		}
		if err := db.Insert(ctx, "netpulse.access_records", rows); err != nil {
			return total, fmt.Errorf("protect names: rewrite %d rows: %w", len(rows), err)
		}
		total += len(rows)
	}
	// Merge even when every row was rewritten by an earlier start: a clear
	// name found above sits in an old part that only a merge removes.
	if err := db.Exec(ctx, `OPTIMIZE TABLE netpulse.access_records FINAL`); err != nil {
		return total, fmt.Errorf("protect names: merge away the clear names: %w", err)
	}
	return total, nil
}
