package bus

import (
	"context"
	"time"
)

// BatchOptions shape the batches Consume hands to its handler.
type BatchOptions struct {
	Max    int           // most messages per batch; default 1000
	Linger time.Duration // how long a batch may wait to fill after its first message; 0 takes what is there
	// OnError reports a failed step ("fetch", "handle" or "commit") and the
	// size of the batch it concerned, so that the stage can log it with its
	// own context. Consume itself retries and never drops the batch.
	OnError func(step string, err error, batch int)
}

// Retry backoff for a failed handler: doubling from the first to the last.
const (
	firstBackoff = 200 * time.Millisecond
	lastBackoff  = 30 * time.Second
)

// Consume reads c in batches until ctx ends and commits each batch only after
// handle has made it durable — acknowledge after the write lands. A failing
// handle is retried with backoff and nothing newer is fetched meanwhile, so
// partitions keep their order; a crash before the commit replays the batch,
// which handlers absorb with idempotent writes. It returns nil when ctx ends.
func Consume(ctx context.Context, c Source, o BatchOptions, handle func(context.Context, []Message) error) error {
	if o.Max <= 0 {
		o.Max = 1000
	}
	report := o.OnError
	if report == nil {
		report = func(string, error, int) {}
	}
	for {
		msgs, err := fetchBatch(ctx, c, o)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			report("fetch", err, 0)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		for backoff := firstBackoff; ; backoff = min(backoff*2, lastBackoff) {
			err := handle(ctx, msgs)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			report("handle", err, len(msgs))
			if !sleep(ctx, backoff) {
				return nil
			}
		}
		// A failed commit is only reported: the batch is stored, and the
		// next commit (or a replay after a restart) covers it.
		if err := c.Commit(ctx, msgs...); err != nil && ctx.Err() == nil {
			report("commit", err, len(msgs))
		}
	}
}

// fetchBatch blocks for the first messages, then gathers more for at most
// Linger so that stores and indexes get large writes.
func fetchBatch(ctx context.Context, c Source, o BatchOptions) ([]Message, error) {
	msgs, err := c.Fetch(ctx, o.Max)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Linger)
	for len(msgs) < o.Max && time.Until(deadline) > 0 {
		fctx, cancel := context.WithDeadline(ctx, deadline)
		more, err := c.Fetch(fctx, o.Max-len(msgs))
		cancel()
		msgs = append(msgs, more...)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The linger ran out, or the bus failed: hand over what we
			// have; a lasting failure shows on the next fetch.
			break
		}
	}
	return msgs, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
