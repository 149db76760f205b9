package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/bustest"
)

// TestBrokerRestartMidStream restarts the broker while a publisher and a
// committing consumer run. Every acknowledged message must be consumed
// afterwards, every publish failure must say bus.ErrUnavailable, and the
// committed offsets stored in Kafka must never move backwards.
func TestBrokerRestartMidStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := openTestBus(t)
	defer b.Close()
	topic, group := bustest.Name(t, "t"), bustest.Name(t, "g")
	c, err := b.Subscribe(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const total = 600
	var (
		mu         sync.Mutex
		acked      = map[int]bool{}
		consumed   = map[int]bool{}
		pubErrs    int
		commitErrs int
		wrongErrs  []error
		backwards  []string
		samples    int
	)
	count := func(m map[int]bool) int { mu.Lock(); defer mu.Unlock(); return len(m) }

	var wg sync.WaitGroup
	pubDone := make(chan struct{})
	wg.Add(1)
	go func() { // publisher: one message at a time, retried until acknowledged
		defer wg.Done()
		defer close(pubDone)
		for i := 0; i < total; i++ {
			m := bus.Message{Key: fmt.Appendf(nil, "k%d", i%8), Value: []byte(strconv.Itoa(i))}
			for {
				err := b.Publish(ctx, topic, m)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				pubErrs++
				if !errors.Is(err, bus.ErrUnavailable) {
					wrongErrs = append(wrongErrs, err)
				}
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			acked[i] = true
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()

	stopConsumer := make(chan struct{})
	wg.Add(1)
	go func() { // consumer: fetch, record, commit with retries
		defer wg.Done()
		for {
			select {
			case <-stopConsumer:
				return
			default:
			}
			fctx, fcancel := context.WithTimeout(ctx, time.Second)
			msgs, err := c.Fetch(fctx, 100)
			fcancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			mu.Lock()
			for _, m := range msgs {
				i, _ := strconv.Atoi(string(m.Value))
				consumed[i] = true
			}
			mu.Unlock()
			for {
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Commit(cctx, msgs...)
				ccancel()
				if err == nil || ctx.Err() != nil {
					break
				}
				mu.Lock()
				commitErrs++
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()

	stopMonitor := make(chan struct{})
	wg.Add(1)
	go func() { // monitor: committed offsets as the broker stores them
		defer wg.Done()
		last := map[int]int64{}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopMonitor:
				return
			case <-tick.C:
			}
			mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
			now, err := b.committed(mctx, group, topic)
			mcancel()
			if err != nil {
				continue // broker down: nothing to compare
			}
			mu.Lock()
			if len(now) > 0 {
				samples++
			}
			for p, prev := range last {
				if cur, ok := now[p]; !ok || cur < prev {
					backwards = append(backwards, fmt.Sprintf("partition %d: %d then %d (present %v)", p, prev, cur, ok))
				}
			}
			mu.Unlock()
			for p, off := range now {
				last[p] = max(last[p], off)
			}
		}
	}()

	// Restart a third of the way through the stream.
	for count(acked) < total/3 {
		if ctx.Err() != nil {
			t.Fatal("publisher made no progress before the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("restarting the broker after %d acknowledged messages", count(acked))
	if err := testBroker.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := testBroker.Start(); err != nil {
		t.Fatal(err)
	}

	<-pubDone
	if n := count(acked); n != total {
		t.Fatalf("publisher stopped after %d of %d acknowledged messages", n, total)
	}
	// Wait for the consumer to see every acknowledged message and for the
	// group to commit all of it.
	var lag int64 = -1
	for ctx.Err() == nil {
		if count(consumed) >= total {
			lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
			lag, err = b.Lag(lctx, group, topic)
			lcancel()
			if err == nil && lag == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopConsumer)
	close(stopMonitor)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for i := range total {
		if acked[i] && !consumed[i] {
			t.Errorf("acknowledged message %d never consumed", i)
		}
	}
	if lag != 0 {
		t.Errorf("lag after the consumer caught up: %d (err %v), want 0", lag, err)
	}
	for _, e := range wrongErrs {
		t.Errorf("publish error not marked bus.ErrUnavailable: %v", e)
	}
	for _, s := range backwards {
		t.Errorf("committed offset moved backwards: %s", s)
	}
	if samples == 0 {
		t.Error("the monitor never read a committed offset; the backwards check saw nothing")
	}
	t.Logf("%d acknowledged, %d consumed, %d publish retries, %d commit retries, %d offset samples",
		len(acked), len(consumed), pubErrs, commitErrs, samples)
}
