package intake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/kvtable"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// Receipt is the signed statement of what a batch delivered. The operator
// keeps it; Verify proves later that netpulse issued it unchanged.
type Receipt struct {
	BatchID    string    `json:"batch_id"`
	Venue      string    `json:"venue"`
	ReceivedAt time.Time `json:"received_at"`
	Rows       int       `json:"rows"`
	Accepted   int       `json:"accepted"`
	Rejected   int       `json:"rejected"`
	BodySHA256 string    `json:"body_sha256"`
	Signature  string    `json:"signature"` // hex HMAC-SHA256 over the fields above
}

func (r Receipt) message() []byte {
	return []byte("netpulse-receipt-v1\n" + r.BatchID + "\n" + r.Venue + "\n" +
		r.ReceivedAt.UTC().Format(time.RFC3339Nano) + "\n" + strconv.Itoa(r.Rows) + "\n" +
		strconv.Itoa(r.Accepted) + "\n" + strconv.Itoa(r.Rejected) + "\n" + r.BodySHA256)
}

// Sign fills the signature with key.
func (r *Receipt) Sign(key []byte) {
	m := hmac.New(sha256.New, key)
	m.Write(r.message())
	r.Signature = hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether r carries a valid signature under key.
func (r Receipt) Verify(key []byte) bool {
	sig, err := hex.DecodeString(r.Signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(r.message())
	return hmac.Equal(sig, m.Sum(nil))
}

// stored is an answer kept for an Idempotency-Key.
type stored struct {
	BodySHA256 string          `json:"body_sha256"`
	Status     int             `json:"status"`
	Answer     json.RawMessage `json:"answer"`
	At         time.Time       `json:"at"`
}

// ledger keeps idempotent answers and receipts in a bbolt file of the data
// folder: both must survive a restart, and neither needs a query engine.
//
// Behind a load balancer (serve --kafka) the file is this node's copy of the
// table "intake" of the shared state topic (package kvtopic): answers and
// receipts are written through the topic, and a key not found here makes
// the node catch up with the topic before it counts as new, so a retry sent
// to another node gets the first node's answer and publishes nothing. Two
// sends of one key that race inside the replication window (each node
// checks before either has recorded) may both publish: harmless, because
// record ids are derived from the record (identity.RecordID) and the store
// keeps one row per id, but the two answers then differ in batch id and the
// later one is what retries get.
type ledger struct {
	db     *bolt.DB
	shared Shared
}

// StateTable names the ledger's table in the shared state topic.
const StateTable = "intake"

// Keys of the ledger's table.
const (
	keyIdem    = "idem/"    // + venue NUL Idempotency-Key
	keyReceipt = "receipt/" // + batch id
)

// Shared is the state topic as the ledger uses it (kvtopic.Log).
type Shared interface {
	// Write returns once this node has applied the entries.
	Write(ctx context.Context, table string, entries ...kvtopic.Entry) error
	// Sync returns once this node has applied every write made anywhere
	// before the call.
	Sync(ctx context.Context) error
}

var (
	bucketIdem     = []byte("idempotency")
	bucketReceipts = []byte("receipts")
	bucketAge      = []byte("idempotency_age") // 8-byte unix nanos + key -> nil, for pruning
	bucketRcptAge  = []byte("receipts_age")    // 8-byte unix nanos + batch id -> nil
)

func openLedger(path string) (*ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open intake ledger %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open intake ledger %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIdem, bucketReceipts, bucketAge, bucketRcptAge} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open intake ledger %s: %w", path, err)
	}
	return &ledger{db: db}, nil
}

func idemKey(venue, key string) []byte { return []byte(venue + "\x00" + key) }

func (l *ledger) answer(ctx context.Context, venue, key string) (stored, bool, error) {
	var s stored
	var found bool
	lookup := func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdem).Get(idemKey(venue, key))
		if b == nil {
			return nil
		}
		found = true
		return json.Unmarshal(b, &s)
	}
	err := l.db.View(lookup)
	if err == nil && !found && l.shared != nil {
		// Another node may have answered this key a moment ago. Without
		// the topic that cannot be known, so the caller comes back later,
		// as when the bus is away.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := l.shared.Sync(sctx)
		cancel()
		if err != nil {
			return s, false, &RetryAfter{After: 5 * time.Second,
				Err: fmt.Errorf("read idempotent answer: catch up with the cluster: %w", err)}
		}
		err = l.db.View(lookup)
	}
	if err != nil {
		return s, false, fmt.Errorf("read idempotent answer: %w", err)
	}
	return s, found, nil
}

// record stores the receipt and, when key is set, the answer for key, in
// one fsynced transaction (shared: in one write to the state topic).
func (l *ledger) record(ctx context.Context, venue, key string, s stored, r Receipt) error {
	rb, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("record batch %s: %w", r.BatchID, err)
	}
	entries := []kvtopic.Entry{{Key: keyReceipt + r.BatchID, Value: rb}}
	if key != "" {
		sb, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("record batch %s: %w", r.BatchID, err)
		}
		entries = append(entries, kvtopic.Entry{Key: keyIdem + string(idemKey(venue, key)), Value: sb})
	}
	if l.shared != nil {
		// The records are on the bus already: a client that hangs up now
		// must not keep its retry from finding the answer.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = l.shared.Write(wctx, StateTable, entries...)
		if errors.Is(err, kvtopic.ErrTooLarge) && len(entries) == 2 {
			// An answer listing very many rejected rows: share the receipt
			// alone. A retry of this key on another node publishes again,
			// which record ids absorb.
			if rerr := l.shared.Write(wctx, StateTable, entries[0]); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	} else {
		err = l.db.Update(func(tx *bolt.Tx) error { return applyEntries(tx, entries) })
	}
	if err != nil {
		return fmt.Errorf("record batch %s: %w", r.BatchID, err)
	}
	return nil
}

// applyEntries writes entries of the ledger's table and keeps the age
// indexes, which prune walks, in step with them.
func applyEntries(tx *bolt.Tx, entries []kvtopic.Entry) error {
	for _, e := range entries {
		var data, ages []byte
		var k string
		switch {
		case strings.HasPrefix(e.Key, keyIdem):
			data, ages, k = bucketIdem, bucketAge, strings.TrimPrefix(e.Key, keyIdem)
		case strings.HasPrefix(e.Key, keyReceipt):
			data, ages, k = bucketReceipts, bucketRcptAge, strings.TrimPrefix(e.Key, keyReceipt)
		default:
			continue // a key of a newer release
		}
		db, ab := tx.Bucket(data), tx.Bucket(ages)
		if old := db.Get([]byte(k)); old != nil {
			if at, ok := entryTime(data, old); ok {
				if err := ab.Delete(ageKey(at, k)); err != nil {
					return err
				}
			}
		}
		if e.Value == nil {
			if err := db.Delete([]byte(k)); err != nil {
				return err
			}
			continue
		}
		if err := db.Put([]byte(k), e.Value); err != nil {
			return err
		}
		if at, ok := entryTime(data, e.Value); ok {
			if err := ab.Put(ageKey(at, k), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// entryTime is the time an answer or receipt ages from.
func entryTime(bucket, v []byte) (time.Time, bool) {
	if string(bucket) == string(bucketIdem) {
		var s stored
		if json.Unmarshal(v, &s) != nil {
			return time.Time{}, false
		}
		return s.At, true
	}
	var r Receipt
	if json.Unmarshal(v, &r) != nil {
		return time.Time{}, false
	}
	return r.ReceivedAt, true
}

func ageKey(at time.Time, k string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), k...)
}

var errNoReceipt = errors.New("no such batch")

func (l *ledger) receipt(batchID string) (Receipt, error) {
	var r Receipt
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReceipts).Get([]byte(batchID))
		if b == nil {
			return errNoReceipt
		}
		return json.Unmarshal(b, &r)
	})
	return r, err
}

// prune forgets idempotent answers older than idemBefore and receipts
// older than rcptBefore, so the file stays bounded by time. Shared, it
// writes deletes to the state topic, so that the topic stays bounded too;
// nodes pruning at once write some deletes twice, which costs nothing.
func (l *ledger) prune(ctx context.Context, idemBefore, rcptBefore time.Time) (int, error) {
	var dels []kvtopic.Entry
	err := l.db.View(func(tx *bolt.Tx) error {
		for _, p := range []struct {
			age    []byte
			prefix string
			before time.Time
		}{{bucketAge, keyIdem, idemBefore}, {bucketRcptAge, keyReceipt, rcptBefore}} {
			c := tx.Bucket(p.age).Cursor()
			limit := uint64(p.before.UnixNano())
			for k, _ := c.First(); k != nil && len(k) >= 8; k, _ = c.Next() {
				if binary.BigEndian.Uint64(k[:8]) >= limit || ctx.Err() != nil {
					break
				}
				dels = append(dels, kvtopic.Entry{Key: p.prefix + string(k[8:])})
			}
		}
		return nil
	})
	if err != nil || len(dels) == 0 {
		return 0, err
	}
	if l.shared != nil {
		err = l.shared.Write(ctx, StateTable, dels...)
	} else {
		err = l.db.Update(func(tx *bolt.Tx) error { return applyEntries(tx, dels) })
	}
	if err != nil {
		return 0, fmt.Errorf("prune intake ledger: %w", err)
	}
	return len(dels), nil
}

// ledgerTable is the ledger as a table of the state topic.
type ledgerTable struct{ l *ledger }

func (t ledgerTable) Next(context.Context) (int64, error) {
	var n int64
	err := t.l.db.View(func(tx *bolt.Tx) error { n = kvtable.NextIn(tx); return nil })
	return n, err
}

func (t ledgerTable) Apply(_ context.Context, entries []kvtopic.Entry, next int64) error {
	return t.l.db.Update(func(tx *bolt.Tx) error {
		if kvtable.NextIn(tx) >= next {
			return nil
		}
		if err := applyEntries(tx, entries); err != nil {
			return err
		}
		return kvtable.SetNextIn(tx, next)
	})
}

// Snapshot lists the answers and receipts kept by a node that ran alone,
// to merge them into the cluster when it joins.
func (t ledgerTable) Snapshot(context.Context) ([]kvtopic.Entry, error) {
	var out []kvtopic.Entry
	err := t.l.db.View(func(tx *bolt.Tx) error {
		for _, b := range []struct {
			bucket []byte
			prefix string
		}{{bucketIdem, keyIdem}, {bucketReceipts, keyReceipt}} {
			if err := tx.Bucket(b.bucket).ForEach(func(k, v []byte) error {
				out = append(out, kvtopic.Entry{Key: b.prefix + string(k), Value: append([]byte(nil), v...)})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func (l *ledger) close() error { return l.db.Close() }
