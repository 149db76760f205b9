package journal

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus/bustest"
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
			bustest.BenchPublish(b, j, "bench", tc.publishers, tc.batch, msgBytes)
		})
	}
}
