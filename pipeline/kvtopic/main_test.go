package kvtopic

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/kvtable"
	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
)

var (
	brokerAddr string
	testBroker kafkatest.Broker
)

func TestMain(m *testing.M) {
	os.Exit(kafkatest.Main(m, func(b kafkatest.Broker) { testBroker, brokerAddr = b, b.Addr() }))
}

// boltTable is the smallest real Table: one bbolt file, one bucket. It
// counts the entries it applies, to show what a restart re-reads.
type boltTable struct {
	db *bolt.DB

	mu      sync.Mutex
	applied int
}

var bucketData = []byte("data")

func openBoltTable(t testing.TB, path string) *boltTable {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketData)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return &boltTable{db: db}
}

func (b *boltTable) Next(context.Context) (int64, error) {
	var n int64
	err := b.db.View(func(tx *bolt.Tx) error { n = kvtable.NextIn(tx); return nil })
	return n, err
}

func (b *boltTable) Apply(_ context.Context, entries []Entry, next int64) error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		if kvtable.NextIn(tx) >= next {
			entries = nil
			return nil
		}
		data := tx.Bucket(bucketData)
		for _, e := range entries {
			var err error
			if e.Value == nil {
				err = data.Delete([]byte(e.Key))
			} else {
				err = data.Put([]byte(e.Key), e.Value)
			}
			if err != nil {
				return err
			}
		}
		return kvtable.SetNextIn(tx, next)
	})
	if err == nil {
		b.mu.Lock()
		b.applied += len(entries)
		b.mu.Unlock()
	}
	return err
}

func (b *boltTable) Snapshot(context.Context) ([]Entry, error) {
	var out []Entry
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketData).ForEach(func(k, v []byte) error {
			out = append(out, Entry{Key: string(k), Value: append([]byte(nil), v...)})
			return nil
		})
	})
	return out, err
}

func (b *boltTable) put(t testing.TB, k, v string) {
	t.Helper()
	if err := b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketData).Put([]byte(k), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

func (b *boltTable) get(t testing.TB, k string) (string, bool) {
	t.Helper()
	var v []byte
	if err := b.db.View(func(tx *bolt.Tx) error {
		v = append([]byte(nil), tx.Bucket(bucketData).Get([]byte(k))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return string(v), len(v) > 0
}

func (b *boltTable) dump(t testing.TB) string {
	t.Helper()
	es, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, e := range es {
		fmt.Fprintf(&sb, "%s=%s;", e.Key, e.Value)
	}
	return sb.String()
}

func (b *boltTable) appliedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applied
}

// node is one Log with its tables, running until the test ends or stop.
type node struct {
	log  *Log
	stop context.CancelFunc
}

func startNode(t testing.TB, topic string, tables map[string]Table) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, Options{Brokers: []string{brokerAddr}, Topic: topic, Node: "node-" + topic,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	for name, tb := range tables {
		l.Register(name, tb)
	}
	rctx, stop := context.WithCancel(context.Background())
	if err := l.Start(rctx); err != nil {
		stop()
		t.Fatal(err)
	}
	n := &node{log: l, stop: func() {
		stop()
		if err := l.Wait(); err != nil {
			t.Errorf("applier: %v", err)
		}
		l.Close()
	}}
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			n.stop()
		}
	})
	return n
}

func dataPath(t testing.TB, name string) string { return filepath.Join(t.TempDir(), name+".db") }
