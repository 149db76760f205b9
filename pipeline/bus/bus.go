// Package bus defines the message bus seam between the collectors and the
// pipeline: durable topics split into partitions, read by consumer groups
// that commit offsets only after their work has landed.
//
// Two implementations satisfy it and pass the same contract tests (package
// bustest): an embedded on-disk journal (package journal) and Apache Kafka
// (package kafkabus).
package bus

import (
	"context"
	"errors"
	"hash/fnv"
	"time"
)

// Message is one record on a topic. Producers set Key and Value (and
// optionally Time); the bus fills Topic, Partition and Offset on fetch.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Time      time.Time
}

// Producer appends messages. Publish returns nil only once every message is
// durable: fsynced by the journal, or acknowledged by all in-sync replicas in
// Kafka. Messages with the same key keep their order.
type Producer interface {
	Publish(ctx context.Context, topic string, msgs ...Message) error
}

// Source is the reading half of a Consumer, which is all Consume needs.
type Source interface {
	// Fetch blocks until at least one message is available and returns up
	// to max messages, each partition in offset order.
	Fetch(ctx context.Context, max int) ([]Message, error)
	// Commit records that the given messages (and everything before them in
	// their partitions) are done. Committed offsets never move backwards.
	Commit(ctx context.Context, msgs ...Message) error
}

// Consumer reads one topic as a member of a consumer group.
type Consumer interface {
	Source
	Close() error
}

// Bus is the whole seam as serve wires it.
type Bus interface {
	Producer
	Subscribe(ctx context.Context, group, topic string) (Consumer, error)
	// Lag reports, per topic and group, how many messages are not yet committed.
	Lag(ctx context.Context, group, topic string) (int64, error)
	Ready(ctx context.Context) error
	Close() error
}

// ErrUnavailable marks a publish that failed because the bus cannot take
// writes right now (broker down, disk full); callers answer 503 and retry.
var ErrUnavailable = errors.New("bus unavailable")

// ErrClosed is returned by operations on a closed bus or consumer.
var ErrClosed = errors.New("bus closed")

// PartitionFor maps a key to a partition the same way in every
// implementation, so that the journal and Kafka spread keys alike.
func PartitionFor(key []byte, partitions int) int {
	if partitions <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % uint32(partitions))
}

// Topic names used by netpulse.
const (
	TopicAccess     = "raw.access"
	TopicPosts      = "raw.posts"
	TopicDeadLetter = "dead.letter"
)
