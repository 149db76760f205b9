package kvtopic

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkWrite measures one write as a caller sees it: produce with acks
// from every in-sync replica, then wait until this node's applier has
// written it to bbolt (fsync included). Parallel, the callers' writes
// share produce requests and applier transactions.
func BenchmarkWrite(b *testing.B) {
	value := make([]byte, 512) // an intake receipt with its answer is about this size
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			tb := openBoltTable(b, dataPath(b, "bench"))
			n := startNode(b, fmt.Sprintf("state.bench.%d", par), map[string]Table{"t": tb})
			ctx := ctxFor(b)
			var seq atomic.Int64
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := fmt.Sprint("k", seq.Add(1))
					if err := n.log.Write(ctx, "t", Entry{Key: k, Value: value}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
