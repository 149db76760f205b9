// Package audit keeps the tamper-evident log of every read of personal data:
// an append-only, HMAC-chained table (netpulse.audit_log) per node, and a
// verifier that walks every chain.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Store is what the log needs of the ClickHouse store (pipeline/store.DB
// satisfies it); the audit package owns the seam so that it sits below the
// store's users rather than inside one of them.
type Store interface {
	Insert(ctx context.Context, table string, rows any) error
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// Entry is one audit log entry: who did what to personal data, when, under
// which case, with which filter, and how many rows it returned.
type Entry struct {
	Chain    string    `json:"chain"` // the writing node's chain; "" on a single node
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Role     string    `json:"role"`
	Action   string    `json:"action"` // search, export, reveal
	CaseRef  string    `json:"case_ref"`
	Filter   string    `json:"filter"`
	Rows     uint64    `json:"rows"`
	Outcome  string    `json:"outcome"` // ok, refused, error
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// Audit appends to and verifies the hash-chained netpulse.audit_log. Each
// node writes its own chain, so appends only need serialising here.
type Audit struct {
	db    Store
	key   []byte
	chain string

	mu       sync.Mutex
	loaded   bool
	lastSeq  uint64
	lastHash string
}

// New returns the log over db; key is the chain's HMAC key, so that
// someone who can write to ClickHouse cannot forge a consistent chain.
// chain names this node's chain ("" for a single node).
func New(db Store, key []byte, chain string) *Audit {
	return &Audit{db: db, key: key, chain: chain}
}

func (a *Audit) chainHash(prev string, e Entry) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("netpulse-audit-v1\n" + e.Chain + "\n" + prev + "\n" + strconv.FormatUint(e.Seq, 10) + "\n" +
		strconv.FormatInt(e.At.UTC().UnixMilli(), 10) + "\n" + e.Actor + "\n" + e.Role + "\n" + e.Action + "\n" +
		e.CaseRef + "\n" + e.Filter + "\n" + strconv.FormatUint(e.Rows, 10) + "\n" + e.Outcome))
	return hex.EncodeToString(m.Sum(nil))
}

// Append writes e as the next entry of the chain and returns it complete.
func (a *Audit) Append(ctx context.Context, e Entry) (Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded {
		var tail []Entry
		if err := a.db.Select(ctx, &tail, `SELECT seq, hash FROM netpulse.audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1`, a.chain); err != nil {
			return Entry{}, fmt.Errorf("audit: read chain tail: %w", err)
		}
		if len(tail) == 1 {
			a.lastSeq, a.lastHash = tail[0].Seq, tail[0].Hash
		}
		a.loaded = true
	}
	e.Chain = a.chain
	e.Seq = a.lastSeq + 1
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	e.PrevHash = a.lastHash
	e.Hash = a.chainHash(e.PrevHash, e)
	if err := a.db.Insert(ctx, "netpulse.audit_log", []Entry{e}); err != nil {
		// The tail is unknown now (the insert may have landed): reload it.
		a.loaded = false
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	a.lastSeq, a.lastHash = e.Seq, e.Hash
	return e, nil
}

// Verification is the result of checking the chain.
type Verification struct {
	OK       bool   `json:"ok"`
	Chain    string `json:"chain,omitempty"` // the chain that broke
	Entries  uint64 `json:"entries"`
	BrokenAt uint64 `json:"broken_at,omitempty"` // first bad sequence number
	Reason   string `json:"reason,omitempty"`
}

// Verify walks every chain: sequence numbers must run 1, 2, 3… with no gap
// or repeat, each prev_hash must be the previous hash, and each hash must
// match its entry. It stops at the first break.
func (a *Audit) Verify(ctx context.Context) (Verification, error) {
	const page = 10000
	var v Verification
	chain, prev, want := "", "", uint64(1)
	for offset := 0; ; offset += page {
		var es []Entry
		if err := a.db.Select(ctx, &es, `SELECT * FROM netpulse.audit_log ORDER BY chain, seq, hash LIMIT ? OFFSET ?`, page, offset); err != nil {
			return v, fmt.Errorf("audit: read chain: %w", err)
		}
		for _, e := range es {
			if e.Chain != chain {
				if r := a.truncated(chain, want-1); r != "" {
					v.Chain, v.BrokenAt, v.Reason = chain, want, r
					return v, nil
				}
				chain, prev, want = e.Chain, "", 1
			}
			reason := ""
			switch {
			case e.Seq < want:
				reason = fmt.Sprintf("entry %d appears more than once", e.Seq)
			case e.Seq > want:
				reason = fmt.Sprintf("entries %d to %d are missing", want, e.Seq-1)
				if e.Seq-1 == want {
					reason = fmt.Sprintf("entry %d is missing", want)
				}
			case e.PrevHash != prev:
				reason = "prev_hash does not match the previous entry"
			case !hmac.Equal([]byte(e.Hash), []byte(a.chainHash(prev, e))):
				reason = "entry was altered: its hash does not match its content"
			}
			if reason != "" {
				v.Chain, v.BrokenAt, v.Reason = chain, min(e.Seq, want), reason
				return v, nil
			}
			prev, want = e.Hash, want+1
			v.Entries++
		}
		if len(es) < page {
			break
		}
	}
	if r := a.truncated(chain, want-1); r != "" {
		v.Chain, v.BrokenAt, v.Reason = chain, want, r
		return v, nil
	}
	v.OK = true
	return v, nil
}

// truncated checks this node's own chain against the length it remembers:
// removing the newest entries leaves a valid shorter chain.
func (a *Audit) truncated(chain string, seen uint64) string {
	if chain != a.chain {
		return ""
	}
	a.mu.Lock()
	known := a.lastSeq
	a.mu.Unlock()
	if seen < known {
		return fmt.Sprintf("entries %d to %d were removed", seen+1, known)
	}
	return ""
}

// List returns entries newest first, with the total.
func (a *Audit) List(ctx context.Context, from, to time.Time, limit, offset int) (uint64, []Entry, error) {
	if to.IsZero() {
		to = time.Now().Add(time.Hour)
	}
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := a.db.Select(ctx, &n, `SELECT count() AS n FROM netpulse.audit_log WHERE at >= ? AND at < ?`, from, to); err != nil {
		return 0, nil, fmt.Errorf("audit: count: %w", err)
	}
	var es []Entry
	if err := a.db.Select(ctx, &es, `SELECT * FROM netpulse.audit_log WHERE at >= ? AND at < ? ORDER BY seq DESC LIMIT ? OFFSET ?`,
		from, to, limit, offset); err != nil {
		return 0, nil, fmt.Errorf("audit: list: %w", err)
	}
	var total uint64
	if len(n) == 1 {
		total = n[0].N
	}
	return total, es, nil
}
