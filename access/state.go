package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/kvtable"
)

// sharedWriteTimeout bounds a change made through the state topic.
const sharedWriteTimeout = 15 * time.Second

// StateTable names the registry's table in the shared state topic.
const StateTable = "access"

// Keys of the registry's table: one entry per user, venue and session. The
// token index (bucket tokens) is not replicated; each node derives it from
// the users and venues it applies.
const (
	keyUser    = "user/"
	keyVenue   = "venue/"
	keySession = "session/" // + sha256 of the session id
)

// Shared is the state topic as the registry uses it (kvtable.Log).
type Shared interface {
	// Write returns once this node has applied the entries.
	Write(ctx context.Context, table string, entries ...kvtable.Entry) error
	// Sync returns once this node has applied every write made anywhere
	// before the call.
	Sync(ctx context.Context) error
}

// Share makes the registry a copy of the cluster's: changes go through s,
// and the file changes only by StateTable's Apply. Call it before serving.
func (r *Registry) Share(s Shared) { r.shared = s }

// Replica reports whether the file has ever applied the state topic, which
// makes it a copy that must not be changed except through the topic.
func (r *Registry) Replica(ctx context.Context) (bool, error) {
	var ok bool
	err := r.view(ctx, func(tx *bolt.Tx) error { ok = kvtable.Replica(tx); return nil })
	return ok, err
}

// ErrReplica refuses a change made to a copy of the cluster's registry
// without going through the cluster.
var ErrReplica = errors.New("the access registry is a copy of the cluster's state topic; change it through Kafka (--kafka)")

func userEntry(u User) kvtable.Entry {
	b, _ := json.Marshal(u)
	return kvtable.Entry{Key: keyUser + u.Name, Value: b}
}

func venueEntry(v Venue) kvtable.Entry {
	b, _ := json.Marshal(v)
	return kvtable.Entry{Key: keyVenue + v.Code, Value: b}
}

// change computes entries from the registry as it stands and makes them.
// Alone, it does both in one transaction, exactly as a single node always
// has. Shared, it reads the local copy (after catching up with the cluster
// when sync is set, so that a read-modify-write starts from every write
// already made) and writes through the topic; a change racing another on
// the same key is last-writer-wins.
func (r *Registry) change(ctx context.Context, sync bool, plan func(*bolt.Tx) ([]kvtable.Entry, error)) error {
	if r.shared == nil {
		return r.update(ctx, func(tx *bolt.Tx) error {
			entries, err := plan(tx)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := applyEntry(tx, e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// A broker that is away fails the change after a while rather than
	// holding the caller (a login, an admin's click) until it returns.
	ctx, cancel := context.WithTimeout(ctx, sharedWriteTimeout)
	defer cancel()
	if sync {
		if err := r.shared.Sync(ctx); err != nil {
			return err
		}
	}
	var entries []kvtable.Entry
	if err := r.view(ctx, func(tx *bolt.Tx) error {
		var err error
		entries, err = plan(tx)
		return err
	}); err != nil {
		return err
	}
	return r.shared.Write(ctx, StateTable, entries...)
}

// catchUp waits, briefly, until this node has every write made anywhere,
// for a credential not found locally: a key created or a session opened on
// another node a moment ago then works here at once. Concurrent misses
// share one broker round trip (kvtable.Log.Sync).
func (r *Registry) catchUp(ctx context.Context) bool {
	if r.shared == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return r.shared.Sync(ctx) == nil
}

// applyEntry writes one entry and keeps the token index in step with it.
func applyEntry(tx *bolt.Tx, e kvtable.Entry) error {
	switch {
	case strings.HasPrefix(e.Key, keyUser):
		return applyHolder(tx, bucketUsers, strings.TrimPrefix(e.Key, keyUser), e.Value, func(b []byte) (credential, error) {
			var u User
			err := json.Unmarshal(b, &u)
			return credential{hash: u.TokenHash, ref: "user:" + u.Name, active: !u.Disabled}, err
		})
	case strings.HasPrefix(e.Key, keyVenue):
		return applyHolder(tx, bucketVenues, strings.TrimPrefix(e.Key, keyVenue), e.Value, func(b []byte) (credential, error) {
			var v Venue
			err := json.Unmarshal(b, &v)
			return credential{hash: v.KeyHash, ref: "venue:" + v.Code, active: !v.Revoked}, err
		})
	case strings.HasPrefix(e.Key, keySession):
		id := []byte(strings.TrimPrefix(e.Key, keySession))
		if e.Value == nil {
			return tx.Bucket(bucketSessions).Delete(id)
		}
		return tx.Bucket(bucketSessions).Put(id, e.Value)
	}
	return nil // a key of a newer release: ignored, not fatal
}

// credential is what the token index needs of a user or a venue.
type credential struct {
	hash, ref string // token hash, and the holder it names
	active    bool   // not disabled, not revoked
}

// applyHolder writes (or, for a nil value, deletes) a user or a venue and
// keeps the token index in step: the old value's token goes, the new one's
// comes when it is active.
func applyHolder(tx *bolt.Tx, bucket []byte, name string, value []byte, read func([]byte) (credential, error)) error {
	tokens, holders := tx.Bucket(bucketTokens), tx.Bucket(bucket)
	if old := holders.Get([]byte(name)); old != nil {
		if c, err := read(old); err == nil && c.hash != "" {
			if err := tokens.Delete([]byte(c.hash)); err != nil {
				return err
			}
		}
	}
	if value == nil {
		return holders.Delete([]byte(name))
	}
	c, err := read(value)
	if err != nil {
		return fmt.Errorf("%s %s: %w", bucket, name, err)
	}
	if err := holders.Put([]byte(name), value); err != nil {
		return err
	}
	if !c.active || c.hash == "" {
		return nil
	}
	return tokens.Put([]byte(c.hash), []byte(c.ref))
}

// StateTable returns the registry as a table of the state topic.
func (r *Registry) StateTable() kvtable.Table { return stateTable{r} }

type stateTable struct{ r *Registry }

func (t stateTable) Next(ctx context.Context) (int64, error) {
	var n int64
	err := t.r.view(ctx, func(tx *bolt.Tx) error { n = kvtable.NextIn(tx); return nil })
	return n, err
}

func (t stateTable) Apply(ctx context.Context, entries []kvtable.Entry, next int64) error {
	touched := false
	err := t.r.update(ctx, func(tx *bolt.Tx) error {
		if kvtable.NextIn(tx) >= next {
			return nil // another process (netpulse admin) applied these to this file
		}
		for _, e := range entries {
			if err := applyEntry(tx, e); err != nil {
				return err
			}
			touched = touched || !strings.HasPrefix(e.Key, keySession)
		}
		return kvtable.SetNextIn(tx, next)
	})
	if touched {
		// A key revoked or a user disabled on another node must not
		// live on here for a cache TTL.
		t.r.flushCache()
	}
	return err
}

// Snapshot lists every user, venue and live session, to seed an empty topic
// from the registry of the node that ran alone until now.
func (t stateTable) Snapshot(ctx context.Context) ([]kvtable.Entry, error) {
	var out []kvtable.Entry
	now := time.Now()
	err := t.r.view(ctx, func(tx *bolt.Tx) error {
		for _, b := range []struct {
			bucket []byte
			prefix string
		}{{bucketUsers, keyUser}, {bucketVenues, keyVenue}, {bucketSessions, keySession}} {
			err := tx.Bucket(b.bucket).ForEach(func(k, v []byte) error {
				if b.prefix == keySession {
					var s session
					if json.Unmarshal(v, &s) != nil || now.After(s.Expires) {
						return nil
					}
				}
				out = append(out, kvtable.Entry{Key: b.prefix + string(k), Value: append([]byte(nil), v...)})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
