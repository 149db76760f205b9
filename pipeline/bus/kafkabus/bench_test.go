package kafkabus

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/bustest"
)

const benchMsgBytes = 256

// BenchmarkProduce measures acknowledged (acks=all) publish throughput
// against the test broker. One op is one 256-byte message.
func BenchmarkProduce(b *testing.B) {
	cases := []struct {
		publishers, batch int
	}{
		{1, 1}, {16, 1}, {64, 1}, {16, 100},
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("publishers=%d/batch=%d", tc.publishers, tc.batch), func(b *testing.B) {
			kb := openTestBus(b)
			defer kb.Close()
			ctx := context.Background()
			topic := benchTopic(b)
			if err := kb.ensureTopic(ctx, topic); err != nil {
				b.Fatal(err)
			}
			bustest.BenchPublish(b, kb, topic, tc.publishers, tc.batch, benchMsgBytes)
		})
	}
}

// BenchmarkConsume measures fetch-and-commit throughput of one group member
// reading messages that are already on the broker. One op is one 256-byte
// message; the group join happens before the timer starts.
func BenchmarkConsume(b *testing.B) {
	for _, fetchMax := range []int{100, 1000} {
		b.Run(fmt.Sprintf("fetch=%d", fetchMax), func(b *testing.B) {
			kb := openTestBus(b)
			defer kb.Close()
			ctx := context.Background()
			topic := benchTopic(b)
			// One message first, so that joining the group is not timed.
			if err := kb.Publish(ctx, topic, bus.Message{Key: []byte("warm"), Value: []byte("up")}); err != nil {
				b.Fatal(err)
			}
			c, err := kb.Subscribe(ctx, benchTopic(b), topic)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Fetch(ctx, 1); err != nil {
				b.Fatal(err)
			}
			value := bytes.Repeat([]byte("v"), benchMsgBytes)
			batch := make([]bus.Message, 0, 1000)
			for i := 0; i < b.N; i++ {
				batch = append(batch, bus.Message{Key: fmt.Appendf(nil, "venue-%d", i%64), Value: value})
				if len(batch) == cap(batch) || i == b.N-1 {
					if err := kb.Publish(ctx, topic, batch...); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			b.SetBytes(benchMsgBytes)
			b.ResetTimer()
			for got := 0; got < b.N; {
				msgs, err := c.Fetch(ctx, fetchMax)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Commit(ctx, msgs...); err != nil {
					b.Fatal(err)
				}
				got += len(msgs)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func benchTopic(b *testing.B) string { return bustest.Name(b, "bench") }
