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
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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
	// HashV is the version of the hashed encoding: 1 joined fields with
	// newlines (a field holding a newline could move a boundary), 2 is
	// length-prefixed. Old entries keep verifying under their version.
	HashV uint8 `json:"hash_v"`
}

// Field bounds of an entry, in bytes. Callers bound what they send; these
// are the last line, so that no request can make the log, or a report
// read from it, hold junk of any length.
const (
	MaxActor   = 128
	MaxCaseRef = 256
	MaxFilter  = 4096
	maxShort   = 32 // role, action, outcome
)

// currentHashV is the encoding new entries are hashed with.
const currentHashV = 2

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
	if e.HashV >= 2 {
		writeV2(m, prev, e)
		return hex.EncodeToString(m.Sum(nil))
	}
	m.Write([]byte("netpulse-audit-v1\n" + e.Chain + "\n" + prev + "\n" + strconv.FormatUint(e.Seq, 10) + "\n" +
		strconv.FormatInt(e.At.UTC().UnixMilli(), 10) + "\n" + e.Actor + "\n" + e.Role + "\n" + e.Action + "\n" +
		e.CaseRef + "\n" + e.Filter + "\n" + strconv.FormatUint(e.Rows, 10) + "\n" + e.Outcome))
	return hex.EncodeToString(m.Sum(nil))
}

// writeV2 is the canonical encoding: a domain tag, then every field as an
// 8-byte big-endian length and its bytes (numbers as 8 bytes), so that no
// field value can move a boundary.
func writeV2(m hash.Hash, prev string, e Entry) {
	var n [8]byte
	num := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		m.Write(n[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		m.Write([]byte(s))
	}
	str("netpulse-audit-v2")
	str(e.Chain)
	str(prev)
	num(e.Seq)
	num(uint64(e.At.UTC().UnixMilli()))
	for _, s := range [...]string{e.Actor, e.Role, e.Action, e.CaseRef, e.Filter} {
		str(s)
	}
	num(e.Rows)
	str(e.Outcome)
}

// Bound makes s valid UTF-8 (invalid bytes become U+FFFD, as the store's
// JSON would make them) and cuts it to at most max bytes on a character
// boundary, marking the cut. What is hashed is then exactly what is stored.
func Bound(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
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
	e.Actor, e.Role, e.Action = Bound(e.Actor, MaxActor), Bound(e.Role, maxShort), Bound(e.Action, maxShort)
	e.CaseRef, e.Filter, e.Outcome = Bound(e.CaseRef, MaxCaseRef), Bound(e.Filter, MaxFilter), Bound(e.Outcome, maxShort)
	e.HashV = currentHashV
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
	Chain    string `json:"chain,omitempty"`     // the chain of the first break
	Entries  uint64 `json:"entries"`             // entries read
	BrokenAt uint64 `json:"broken_at,omitempty"` // first bad sequence number
	Reason   string `json:"reason,omitempty"`
	// Breaks lists every break found, not only the first, so that later
	// tampering cannot hide behind an earlier break (at most MaxBreaks;
	// BreakCount counts them all).
	Breaks     []Break `json:"breaks"`
	BreakCount int     `json:"break_count"`
}

// Break is one place where a chain does not verify.
type Break struct {
	Chain  string `json:"chain"`
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

// MaxBreaks bounds the breaks listed in one verification.
const MaxBreaks = 1000

func (v *Verification) add(chain string, seq uint64, reason string) {
	if v.BreakCount == 0 {
		v.Chain, v.BrokenAt, v.Reason = chain, seq, reason
	}
	v.BreakCount++
	if len(v.Breaks) < MaxBreaks {
		v.Breaks = append(v.Breaks, Break{Chain: chain, Seq: seq, Reason: reason})
	}
}

// Verify walks every chain: sequence numbers must run 1, 2, 3… with no gap
// or repeat, each prev_hash must be the previous hash, and each hash must
// match its entry. After a break it goes on from the entry that broke, so
// every break is reported.
func (a *Audit) Verify(ctx context.Context) (Verification, error) {
	const page = 10000
	v := Verification{Breaks: []Break{}}
	chain, prev, want, started := "", "", uint64(1), false
	for offset := 0; ; offset += page {
		var es []Entry
		if err := a.db.Select(ctx, &es, `SELECT * FROM netpulse.audit_log ORDER BY chain, seq, hash LIMIT ? OFFSET ?`, page, offset); err != nil {
			return v, fmt.Errorf("audit: read chain: %w", err)
		}
		for _, e := range es {
			if !started || e.Chain != chain {
				if started {
					if r := a.truncated(chain, want-1); r != "" {
						v.add(chain, want, r)
					}
				}
				chain, prev, want, started = e.Chain, "", 1, true
			}
			v.Entries++
			if e.Seq < want {
				v.add(chain, e.Seq, fmt.Sprintf("entry %d appears more than once", e.Seq))
				continue // the first copy stays the link
			}
			if e.Seq > want {
				reason := fmt.Sprintf("entries %d to %d are missing", want, e.Seq-1)
				if e.Seq-1 == want {
					reason = fmt.Sprintf("entry %d is missing", want)
				}
				v.add(chain, want, reason)
			} else if e.PrevHash != prev {
				v.add(chain, e.Seq, "prev_hash does not match the previous entry")
			}
			if !hmac.Equal([]byte(e.Hash), []byte(a.chainHash(e.PrevHash, e))) {
				v.add(chain, e.Seq, "entry was altered: its hash does not match its content")
			}
			// Go on from this entry as stored: the next break is then
			// reported on its own.
			prev, want = e.Hash, e.Seq+1
		}
		if len(es) < page {
			break
		}
	}
	if started {
		if r := a.truncated(chain, want-1); r != "" {
			v.add(chain, want, r)
		}
	} else if r := a.truncated("", 0); r != "" {
		v.add("", 1, r)
	}
	v.OK = v.BreakCount == 0
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
