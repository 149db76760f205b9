package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
)

// TestConsume runs Consume on the real journal: a handler that fails must
// see the same batch again, nothing is committed before it succeeds, and
// every message is handed over exactly once after its success.
func TestConsume(t *testing.T) {
	tests := []struct {
		name     string
		messages int
		failures int // handler calls that fail before the first success
		max      int
		linger   time.Duration
	}{
		{"no failures", 50, 0, 20, 0},
		{"transient failures are retried", 30, 3, 100, 0},
		{"what is available comes as one batch", 40, 0, 1000, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := journal.Open(journal.Options{Dir: t.TempDir(), Partitions: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := 0; i < tt.messages; i++ {
				if err := j.Publish(ctx, "t", bus.Message{Key: []byte(fmt.Sprint(i % 5)), Value: []byte(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			c, err := j.Subscribe(ctx, "g", "t")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[string]int{}
			calls, failed := 0, 0
			var reported []string
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- bus.Consume(runCtx, c, bus.BatchOptions{Max: tt.max, Linger: tt.linger,
					OnError: func(step string, err error, n int) {
						mu.Lock()
						reported = append(reported, step)
						mu.Unlock()
					}}, func(ctx context.Context, msgs []bus.Message) error {
					mu.Lock()
					defer mu.Unlock()
					calls++
					if failed < tt.failures {
						failed++
						if lag, _ := j.Lag(ctx, "g", "t"); lag != int64(tt.messages) {
							t.Errorf("lag %d while the handler fails, want %d (nothing committed)", lag, tt.messages)
						}
						return errors.New("store down")
					}
					for _, m := range msgs {
						seen[string(m.Value)]++
					}
					return nil
				})
			}()
			for {
				lag, err := j.Lag(ctx, "g", "t")
				if err != nil {
					t.Fatal(err)
				}
				if lag == 0 {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("lag still %d", lag)
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Consume returned %v after cancellation, want nil", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != tt.messages {
				t.Errorf("handled %d distinct messages, want %d", len(seen), tt.messages)
			}
			for v, n := range seen {
				if n != 1 {
					t.Errorf("message %s handled %d times after success, want once", v, n)
				}
			}
			if len(reported) != tt.failures {
				t.Errorf("reported %v, want %d handle failures", reported, tt.failures)
			}
			if tt.linger > 0 && calls != 1 {
				t.Errorf("%d handler calls with a %v linger, want the %d messages in one batch", calls, tt.linger, tt.messages)
			}
		})
	}
}
