package journal

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// BenchmarkAppend measures durable publish throughput with fsync on every
// group commit. One op is one message of 256 bytes; concurrent publishers
// share fsyncs, which is what the publishers=N cases show.
func BenchmarkAppend(b *testing.B) {
	const msgBytes = 256
	cases := []struct {
		publishers, batch int
	}{
		{1, 1}, {16, 1}, {64, 1}, {16, 32},
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("publishers=%d/batch=%d", tc.publishers, tc.batch), func(b *testing.B) {
			j, err := Open(Options{Dir: b.TempDir(), Partitions: testPartitions, Fsync: FsyncAlways,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			ctx := context.Background()
			value := bytes.Repeat([]byte("v"), msgBytes)
			b.SetBytes(msgBytes)
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for p := range tc.publishers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := fmt.Appendf(nil, "venue-%d", p)
					batch := make([]bus.Message, tc.batch)
					for {
						n := next.Add(int64(tc.batch)) - int64(tc.batch)
						if n >= int64(b.N) {
							return
						}
						k := min(int64(tc.batch), int64(b.N)-n)
						for i := range batch[:k] {
							batch[i] = bus.Message{Key: key, Value: value}
						}
						if err := j.Publish(ctx, "bench", batch[:k]...); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
