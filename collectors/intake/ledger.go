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
	"time"

	bolt "go.etcd.io/bbolt"
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
type ledger struct {
	db *bolt.DB
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

func (l *ledger) answer(venue, key string) (stored, bool, error) {
	var s stored
	var found bool
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdem).Get(idemKey(venue, key))
		if b == nil {
			return nil
		}
		found = true
		return json.Unmarshal(b, &s)
	})
	if err != nil {
		return s, false, fmt.Errorf("read idempotent answer: %w", err)
	}
	return s, found, nil
}

// record stores the receipt and, when key is set, the answer for key, in
// one fsynced transaction.
func (l *ledger) record(venue, key string, s stored, r Receipt) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		rb, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketReceipts).Put([]byte(r.BatchID), rb); err != nil {
			return err
		}
		rage := binary.BigEndian.AppendUint64(nil, uint64(r.ReceivedAt.UnixNano()))
		if err := tx.Bucket(bucketRcptAge).Put(append(rage, r.BatchID...), nil); err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		sb, err := json.Marshal(s)
		if err != nil {
			return err
		}
		k := idemKey(venue, key)
		if err := tx.Bucket(bucketIdem).Put(k, sb); err != nil {
			return err
		}
		age := binary.BigEndian.AppendUint64(nil, uint64(s.At.UnixNano()))
		return tx.Bucket(bucketAge).Put(append(age, k...), nil)
	})
	if err != nil {
		return fmt.Errorf("record batch %s: %w", r.BatchID, err)
	}
	return nil
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
// older than rcptBefore, so the file stays bounded by time.
func (l *ledger) prune(ctx context.Context, idemBefore, rcptBefore time.Time) (int, error) {
	n := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, p := range []struct {
			age, data []byte
			before    time.Time
		}{{bucketAge, bucketIdem, idemBefore}, {bucketRcptAge, bucketReceipts, rcptBefore}} {
			c := tx.Bucket(p.age).Cursor()
			data := tx.Bucket(p.data)
			limit := uint64(p.before.UnixNano())
			for k, _ := c.First(); k != nil && len(k) >= 8; k, _ = c.Next() {
				if binary.BigEndian.Uint64(k[:8]) >= limit || ctx.Err() != nil {
					break
				}
				if err := data.Delete(k[8:]); err != nil {
					return err
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

func (l *ledger) close() error { return l.db.Close() }
