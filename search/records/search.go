// Package records is the analysts' search over venue access records:
// filters by identity number and name (exact, through keyed hashes), venue,
// district and time; masked numbers by default; a logged reveal under a case
// reference; CSV export; and the hash-chained audit log of all of it.
package records

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Filter selects records. At least one of IDNumber, Name, Venue or District
// must be set, so that a search is about someone or somewhere, never a bulk
// dump of personal data.
type Filter struct {
	IDType   string    `json:"id_type,omitempty"`
	IDNumber string    `json:"-"` // never logged in clear; the audit keeps its mask
	Name     string    `json:"name,omitempty"`
	Venue    string    `json:"venue,omitempty"`
	District string    `json:"district,omitempty"`
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to,omitzero"`
	Page     int       `json:"page,omitempty"`
	PageSize int       `json:"page_size,omitempty"`
}

// Result is one record as an analyst sees it, the number and name masked.
type Result struct {
	RecordID   string     `json:"record_id"`
	Venue      string     `json:"venue"`
	VenueName  string     `json:"venue_name"`
	District   string     `json:"district"`
	Kind       string     `json:"kind"`
	Place      string     `json:"place"`
	IDType     string     `json:"id_type"`
	IDNumber   string     `json:"id_number"`
	Name       string     `json:"name"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	IP         string     `json:"ip,omitempty"`
	MAC        string     `json:"mac,omitempty"`
	PartySize  uint16     `json:"party_size,omitempty"`
	ReceivedAt time.Time  `json:"received_at"`
}

// Searcher runs record searches.
type Searcher struct {
	db      *store.DB
	protect *identity.Protector
}

// NewSearcher returns a Searcher over db.
func NewSearcher(db *store.DB, p *identity.Protector) *Searcher {
	return &Searcher{db: db, protect: p}
}

// ErrNoFilter refuses a search without a person or place.
var ErrNoFilter = fmt.Errorf("give at least one of id_number, name, venue or district")

func (s *Searcher) where(f Filter) (string, []any, error) {
	var conds []string
	var args []any
	if n := identity.Normalize(f.IDNumber); n != "" {
		types := []string{identity.TypeResident, identity.TypePassport, identity.TypeOther}
		if f.IDType != "" {
			types = []string{f.IDType}
		}
		hashes := make([]string, len(types))
		for i, t := range types {
			hashes[i] = s.protect.Hash(t, n)
		}
		conds = append(conds, "has(?, id_hash)")
		args = append(args, hashes)
	}
	if strings.TrimSpace(f.Name) != "" {
		// Names are stored as a keyed hash (and a ciphertext): the search
		// is exact, on the normalised name, and the clear name never
		// reaches the store's query text.
		conds = append(conds, "name_hash = ?")
		args = append(args, s.protect.NameHash(f.Name))
	}
	if f.Venue != "" {
		conds = append(conds, "venue = ?")
		args = append(args, f.Venue)
	}
	if f.District != "" {
		conds = append(conds, "venue IN (SELECT code FROM netpulse.venues FINAL WHERE district = ?)")
		args = append(args, f.District)
	}
	if len(conds) == 0 {
		return "", nil, ErrNoFilter
	}
	if !f.From.IsZero() {
		conds = append(conds, "started_at >= ?")
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		conds = append(conds, "started_at < ?")
		args = append(args, f.To)
	}
	return strings.Join(conds, " AND "), args, nil
}

// Search returns the total number of matches and one page of results,
// newest first.
func (s *Searcher) Search(ctx context.Context, f Filter) (uint64, []Result, error) {
	where, args, err := s.where(f)
	if err != nil {
		return 0, nil, err
	}
	size := f.PageSize
	if size <= 0 {
		size = 50
	}
	page := max(f.Page, 1)
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := s.db.Select(ctx, &n, `SELECT count() AS n FROM netpulse.access_records FINAL WHERE `+where, args...); err != nil {
		return 0, nil, fmt.Errorf("count records: %w", err)
	}
	var rows []Result
	q := resultQuery("", `SELECT * FROM netpulse.access_records FINAL WHERE `+where+` ORDER BY started_at DESC, record_id LIMIT ? OFFSET ?`) +
		` ORDER BY started_at DESC, record_id`
	if err := s.db.Select(ctx, &rows, q, append(args, size, (page-1)*size)...); err != nil {
		return 0, nil, fmt.Errorf("search records: %w", err)
	}
	for i := range rows {
		rows[i].clean()
	}
	var total uint64
	if len(n) == 1 {
		total = n[0].N
	}
	return total, rows, nil
}

// resultQuery selects the columns of Result, with the venue's name and
// district, for the records that inner selects. Search and Reveal share it
// so that a revealed record shows everything the search showed.
func resultQuery(extra, inner string) string {
	return `SELECT r.record_id AS record_id, r.venue AS venue, v.name AS venue_name, v.district AS district,
       r.kind AS kind, r.place AS place, r.id_type AS id_type, r.id_masked AS id_number, r.name AS name,
       r.started_at AS started_at, r.ended_at AS ended_at, r.ip AS ip, r.mac AS mac,
       r.party_size AS party_size, r.received_at AS received_at` + extra + `
FROM (` + inner + `) AS r
LEFT JOIN (SELECT code, name, district FROM netpulse.venues FINAL) AS v ON v.code = r.venue`
}

// clean turns the store's zero end time (an open session) into none.
func (r *Result) clean() {
	if r.EndedAt != nil && r.EndedAt.Unix() <= 0 {
		r.EndedAt = nil
	}
}

// Reveal decrypts the identity number and the name of one record.
func (s *Searcher) Reveal(ctx context.Context, recordID string) (Result, string, error) {
	var rows []struct {
		Result
		IDEnc   string `json:"id_enc"`
		NameEnc string `json:"name_enc"`
	}
	q := resultQuery(", r.id_enc AS id_enc, r.name_enc AS name_enc", `SELECT * FROM netpulse.access_records FINAL WHERE record_id = ? LIMIT 1`)
	if err := s.db.Select(ctx, &rows, q, recordID); err != nil {
		return Result{}, "", fmt.Errorf("reveal %s: %w", recordID, err)
	}
	if len(rows) == 0 {
		return Result{}, "", ErrNotFound
	}
	rows[0].clean()
	plain, err := s.protect.Decrypt(rows[0].IDEnc)
	if err != nil {
		return Result{}, "", fmt.Errorf("reveal %s: %w", recordID, err)
	}
	res := rows[0].Result
	if rows[0].NameEnc != "" {
		name, err := s.protect.Decrypt(rows[0].NameEnc)
		if err != nil {
			return Result{}, "", fmt.Errorf("reveal %s: name: %w", recordID, err)
		}
		res.Name = string(name)
	}
	return res, string(plain), nil
}

// ErrNotFound means no record has that id.
var ErrNotFound = fmt.Errorf("no such record")
