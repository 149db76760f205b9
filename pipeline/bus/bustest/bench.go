package bustest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// BenchPublish measures durable publish throughput: b.N messages of
// msgBytes, shared out among publishers goroutines that each publish
// batch messages per call under a key of their own. Both buses run it, so
// their figures compare like for like.
func BenchPublish(b *testing.B, p bus.Producer, topic string, publishers, batch, msgBytes int) {
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), msgBytes)
	b.SetBytes(int64(msgBytes))
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Appendf(nil, "venue-%d", w)
			msgs := make([]bus.Message, batch)
			for {
				n := next.Add(int64(batch)) - int64(batch)
				if n >= int64(b.N) {
					return
				}
				k := min(int64(batch), int64(b.N)-n)
				for i := range msgs[:k] {
					msgs[i] = bus.Message{Key: key, Value: value}
				}
				if err := p.Publish(ctx, topic, msgs[:k]...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
