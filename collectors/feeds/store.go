package feeds

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/chinese/simhash"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// Store keeps the collector's state in one bbolt file in the data
// directory: the source registry, seen URLs, conditional-request validators,
// source health and the SimHash entries. bbolt because every write here is a
// small keyed update that must survive a crash before the next run, and the
// collector is its only reader.
//
// Behind a load balancer (serve --kafka) the source registry is this node's
// copy of the table "feeds" of the shared state topic (package kvtopic; see
// shared.go): sources are written through the topic, so a source added on
// one node is crawled by whichever node owns it and listed by every node.
// Seen URLs, validators, health and SimHash entries stay per node.
type Store struct {
	db     *bolt.DB
	shared Shared
}

var (
	bucketSources    = []byte("sources")
	bucketSeen       = []byte("seen")       // url -> fetched-at unix seconds
	bucketValidators = []byte("validators") // url -> json validators
	bucketHealth     = []byte("health")     // source -> json SourceHealth
	bucketSimhash    = []byte("simhash")    // post id -> fp(8) cluster(8)
)

// ErrNotFound is returned for a source name that is not registered.
var ErrNotFound = fmt.Errorf("source not found: %w", jsonapi.ErrNotFound)

// OpenStore opens (creating) dir/feeds.db.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create feeds dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "feeds.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open feeds state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSources, bucketSeen, bucketValidators, bucketHealth, bucketSimhash} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init feeds state %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }

// Sources lists all registered sources by name.
func (s *Store) Sources() ([]Source, error) {
	var out []Source
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).ForEach(func(_, v []byte) error {
			var src Source
			if err := json.Unmarshal(v, &src); err != nil {
				return err
			}
			out = append(out, src)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Source returns one source or ErrNotFound.
func (s *Store) Source(name string) (Source, error) {
	var src Source
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSources).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &src)
	})
	if err != nil {
		return Source{}, fmt.Errorf("get source %q: %w", name, err)
	}
	return src, nil
}

// PutSources validates and stores sources (creating or replacing), all or
// none.
func (s *Store) PutSources(ctx context.Context, srcs ...Source) error {
	vals := make([][]byte, len(srcs))
	for i := range srcs {
		srcs[i] = srcs[i].WithDefaults()
		if err := srcs[i].Validate(); err != nil {
			return err
		}
		b, err := json.Marshal(srcs[i])
		if err != nil {
			return fmt.Errorf("encode source %q: %w", srcs[i].Name, err)
		}
		vals[i] = b
	}
	if s.shared != nil {
		entries := make([]kvtopic.Entry, len(srcs))
		for i, src := range srcs {
			entries[i] = kvtopic.Entry{Key: keySource + src.Name, Value: vals[i]}
		}
		if err := s.shared.Write(ctx, StateTable, entries...); err != nil {
			return fmt.Errorf("store sources: %w", err)
		}
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSources)
		for i, src := range srcs {
			if err := b.Put([]byte(src.Name), vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store sources: %w", err)
	}
	return nil
}

// DeleteSource removes a source; its seen URLs stay so that re-adding it
// does not republish old posts.
func (s *Store) DeleteSource(ctx context.Context, name string) error {
	if s.shared != nil {
		if err := s.catchUp(ctx); err != nil {
			return fmt.Errorf("delete source %q: %w", name, err)
		}
		if _, err := s.Source(name); err != nil {
			return fmt.Errorf("delete source %q: %w", name, ErrNotFound)
		}
		if err := s.shared.Write(ctx, StateTable, kvtopic.Entry{Key: keySource + name}); err != nil {
			return fmt.Errorf("delete source %q: %w", name, err)
		}
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSources)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketHealth).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete source %q: %w", name, err)
	}
	return nil
}

// Seen reports whether url was published before.
func (s *Store) Seen(url string) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketSeen).Get([]byte(url)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("check seen %s: %w", url, err)
	}
	return ok, nil
}

// MarkSeen records urls as published, in one transaction.
func (s *Store) MarkSeen(at time.Time, urls ...string) error {
	if len(urls) == 0 {
		return nil
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(at.Unix()))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSeen)
		for _, u := range urls {
			if err := b.Put([]byte(u), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %d urls seen: %w", len(urls), err)
	}
	return nil
}

// Validators are what a server said about a page last time, sent back as
// If-None-Match / If-Modified-Since.
type Validators struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// Validators returns the stored validators of url (zero if none).
func (s *Store) Validators(url string) (Validators, error) {
	var v Validators
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketValidators).Get([]byte(url))
		if b == nil {
			return nil
		}
		return json.Unmarshal(b, &v)
	})
	if err != nil {
		return Validators{}, fmt.Errorf("read validators of %s: %w", url, err)
	}
	return v, nil
}

// SetValidators stores validators for several urls in one transaction.
func (s *Store) SetValidators(m map[string]Validators) error {
	if len(m) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketValidators)
		for u, v := range m {
			if v == (Validators{}) {
				if err := b.Delete([]byte(u)); err != nil {
					return err
				}
				continue
			}
			enc, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(u), enc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store validators: %w", err)
	}
	return nil
}

func (s *Store) putHealth(h SourceHealth) error {
	enc, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode health of %q: %w", h.Source, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHealth).Put([]byte(h.Source), enc)
	})
	if err != nil {
		return fmt.Errorf("store health of %q: %w", h.Source, err)
	}
	return nil
}

func (s *Store) healths() (map[string]SourceHealth, error) {
	out := map[string]SourceHealth{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHealth).ForEach(func(k, v []byte) error {
			var h SourceHealth
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			out[string(k)] = h
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read health: %w", err)
	}
	return out, nil
}

// putSimhash stores entries with the time they were made, which decides
// when they leave the dedup window.
func (s *Store) putSimhash(at time.Time, entries ...simhash.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSimhash)
		for _, e := range entries {
			v := binary.BigEndian.AppendUint64(nil, e.Fingerprint)
			v = binary.BigEndian.AppendUint64(v, e.Cluster)
			v = binary.BigEndian.AppendUint64(v, uint64(at.Unix()))
			if err := b.Put([]byte(e.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %d simhash entries: %w", len(entries), err)
	}
	return nil
}

// loadSimhash replays the entries made since cutoff and deletes older ones:
// reposts of a story come within days, and the index lives in memory.
// Replay is in key order, not insertion order, which only matters for ties
// between two equally close earlier clusters; both are valid answers.
func (s *Store) loadSimhash(ix *simhash.Index, cutoff time.Time) (loaded, dropped int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSimhash)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(v) != 24 {
				return fmt.Errorf("simhash entry %q: %d bytes, want 24", k, len(v))
			}
			if int64(binary.BigEndian.Uint64(v[16:])) < cutoff.Unix() {
				old = append(old, bytes.Clone(k))
				return nil
			}
			ix.Add(simhash.Entry{ID: string(k), Fingerprint: binary.BigEndian.Uint64(v), Cluster: binary.BigEndian.Uint64(v[8:])})
			loaded++
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		dropped = len(old)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("load simhash index: %w", err)
	}
	return loaded, dropped, nil
}

// pruneBatch bounds one write transaction of PruneSeen, so that a large
// backlog does not hold the file's write lock for long.
const pruneBatch = 5000

// PruneSeen forgets URLs marked seen before cutoff and returns how many.
// The list would otherwise grow with every post ever published. A URL
// re-marked after the scan keeps its entry: each batch checks the time
// again under the write lock.
func (s *Store) PruneSeen(cutoff time.Time) (int, error) {
	var old [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSeen).ForEach(func(k, v []byte) error {
			if seenBefore(v, cutoff) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("scan seen urls: %w", err)
	}
	pruned := 0
	for len(old) > 0 {
		batch := old[:min(pruneBatch, len(old))]
		old = old[len(batch):]
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketSeen)
			for _, k := range batch {
				if !seenBefore(b.Get(k), cutoff) {
					continue
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				pruned++
			}
			return nil
		})
		if err != nil {
			return pruned, fmt.Errorf("prune seen urls: %w", err)
		}
	}
	return pruned, nil
}

// seenBefore reports whether a seen entry was marked before cutoff. An
// entry of the wrong size (none is written) is kept.
func seenBefore(v []byte, cutoff time.Time) bool {
	return len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < cutoff.Unix()
}
