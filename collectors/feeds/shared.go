package feeds

import (
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/kvtable"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// StateTable names the source registry's table in the shared state topic.
const StateTable = "feeds"

const keySource = "source/" // + source name

// Shared is the state topic as the store uses it (kvtopic.Log).
type Shared interface {
	// Write returns once this node has applied the entries.
	Write(ctx context.Context, table string, entries ...kvtopic.Entry) error
	// Sync returns once this node has applied every write made anywhere
	// before the call.
	Sync(ctx context.Context) error
}

// Share makes the source registry a copy of the cluster's. Call it before
// serving.
func (s *Store) Share(sh Shared) { s.shared = sh }

// Replica reports whether the file has ever applied the state topic: its
// sources are then the cluster's, to be changed through a node's API.
func (s *Store) Replica() (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error { ok = kvtable.Replica(tx); return nil })
	return ok, err
}

// catchUp makes every source change made anywhere visible here, before a
// check (does this name exist?) or a listing that an admin just changed
// through another node.
func (s *Store) catchUp(ctx context.Context) error {
	if s.shared == nil {
		return nil
	}
	return s.shared.Sync(ctx)
}

// StateTable returns the source registry as a table of the state topic.
func (s *Store) StateTable() kvtopic.Table { return sourceTable{s} }

type sourceTable struct{ s *Store }

func (t sourceTable) Next(context.Context) (int64, error) {
	var n int64
	err := t.s.db.View(func(tx *bolt.Tx) error { n = kvtable.NextIn(tx); return nil })
	return n, err
}

func (t sourceTable) Apply(_ context.Context, entries []kvtopic.Entry, next int64) error {
	return t.s.db.Update(func(tx *bolt.Tx) error {
		if kvtable.NextIn(tx) >= next {
			return nil
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Key, keySource)
			if !ok {
				continue // a key of a newer release
			}
			if e.Value == nil {
				if err := tx.Bucket(bucketSources).Delete([]byte(name)); err != nil {
					return err
				}
				if err := tx.Bucket(bucketHealth).Delete([]byte(name)); err != nil {
					return err
				}
				continue
			}
			if err := tx.Bucket(bucketSources).Put([]byte(name), e.Value); err != nil {
				return err
			}
		}
		return kvtable.SetNextIn(tx, next)
	})
}

// Snapshot lists the sources of a node that ran alone, to merge them into
// the cluster when it joins.
func (t sourceTable) Snapshot(context.Context) ([]kvtopic.Entry, error) {
	var out []kvtopic.Entry
	err := t.s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).ForEach(func(k, v []byte) error {
			out = append(out, kvtopic.Entry{Key: keySource + string(k), Value: append([]byte(nil), v...)})
			return nil
		})
	})
	return out, err
}
