package maintext

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used. On a shared machine
// wall-clock pages/s measure the neighbours; pages per CPU second measure
// the extractor.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCorpus extracts every page of the committed evaluation sets,
// parsing included, on one goroutine, and reports pages per second.
// Run with -cpu 1 for the one-core figure in docs/performance.md; the
// pages/cpu-s metric stays right when other processes share the cores.
func BenchmarkCorpus(b *testing.B) {
	for _, set := range evalSets() {
		pages, err := loadSet(set.path)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range methods() {
			b.Run(set.name+"/"+strings.ReplaceAll(m.name, " ", "-"), func(b *testing.B) {
				n := 0
				cpu0 := cpuTime()
				for b.Loop() {
					for _, p := range pages {
						m.run(p.HTML)
						n++
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pages/s")
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(n)/cpu.Seconds(), "pages/cpu-s")
				}
			})
		}
	}
}
