package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// deadLetters is the producer the consumers move unusable messages to: it
// publishes to the bus, counts, and logs them, at most one line per
// deadLetterLogEvery so that a stream of bad input cannot flood the log.
type deadLetters struct {
	bus   bus.Producer
	log   *slog.Logger
	total prometheus.Counter
	n     atomic.Int64 // since start, for the admin page on the journal

	mu       sync.Mutex
	lastLog  time.Time
	unlogged int
}

const deadLetterLogEvery = 10 * time.Second

func newDeadLetters(b bus.Producer, log *slog.Logger, reg prometheus.Registerer) *deadLetters {
	d := &deadLetters{bus: b, log: log, total: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "netpulse_dead_letters_total", Help: "Messages moved to the dead.letter topic by this node."})}
	reg.MustRegister(d.total)
	return d
}

func (d *deadLetters) Publish(ctx context.Context, topic string, msgs ...bus.Message) error {
	if err := d.bus.Publish(ctx, topic, msgs...); err != nil {
		return err
	}
	d.total.Add(float64(len(msgs)))
	d.n.Add(int64(len(msgs)))
	d.mu.Lock()
	d.unlogged += len(msgs)
	if time.Since(d.lastLog) < deadLetterLogEvery {
		d.mu.Unlock()
		return nil
	}
	n := d.unlogged
	d.unlogged, d.lastLog = 0, time.Now()
	d.mu.Unlock()
	// The value may hold personal data: the log names only the key and
	// size of one example; the message itself is in the topic.
	d.log.Warn("messages moved to the dead-letter topic", "topic", topic, "messages", n,
		"since", deadLetterLogEvery, "example_key", string(msgs[0].Key), "example_bytes", len(msgs[0].Value))
	return nil
}

// count is what the admin page shows: on Kafka, every message the
// dead-letter topic holds (all nodes, within its retention), read as the
// lag of a group that never commits; on the journal, this process's count.
func (a *app) deadLetterCount(ctx context.Context) (int64, error) {
	if len(a.cfg.Kafka) > 0 {
		return a.bus.Lag(ctx, "netpulse.admin.dead-letters", bus.TopicDeadLetter)
	}
	if a.dead == nil {
		return 0, nil
	}
	return a.dead.n.Load(), nil
}
