// Package kvtable is the contract between a replicated log of key-value
// writes (pipeline/kvtopic, over Kafka) and a node's local copy of a table:
// the Entry and Table types, and the bbolt bookkeeping (NextIn, SetNextIn,
// Replica) that lets a copy resume exactly where it stopped. It knows no
// broker, so the foundations that keep replicated state (access) depend on
// it rather than on the pipeline.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package kvtable

import "context"

// Entry is one key of one table. A nil Value deletes the key.
type Entry struct {
	Key   string
	Value []byte
}

// Table is one node's local copy of a table.
type Table interface {
	// Next returns the offset of the first message not yet applied
	// (0 when nothing was).
	Next(ctx context.Context) (int64, error)
	// Apply writes entries, in order, and records next as the offset to
	// resume from, in one transaction. When the table is already at next or
	// beyond (another process applied the same topic to the same file), it
	// must leave it alone: a batch that overlaps the table's position
	// replays to the same state, but one that ends before it would turn
	// keys back.
	Apply(ctx context.Context, entries []Entry, next int64) error
}

// Snapshotter is a Table that can list its local entries, so that a node
// that kept its state alone brings it into the cluster (Start).
type Snapshotter interface {
	Snapshot(ctx context.Context) ([]Entry, error)
}
