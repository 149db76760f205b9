package kvtable

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketState = []byte("kvtopic")
	keyNext     = []byte("next")
)

// NextIn reads the offset a bbolt-backed Table resumes from, kept in the
// same file as its data so that both move in one transaction.
func NextIn(tx *bolt.Tx) int64 {
	b := tx.Bucket(bucketState)
	if b == nil {
		return 0
	}
	v := b.Get(keyNext)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// SetNextIn records next inside tx.
func SetNextIn(tx *bolt.Tx, next int64) error {
	b, err := tx.CreateBucketIfNotExists(bucketState)
	if err != nil {
		return err
	}
	return b.Put(keyNext, binary.BigEndian.AppendUint64(nil, uint64(next)))
}

// Replica reports whether a bbolt file has ever applied the state topic:
// such a file is a copy, and writing it directly would fork it from the
// cluster.
func Replica(tx *bolt.Tx) bool { return tx.Bucket(bucketState) != nil }
