package burst

import (
	"fmt"
	"os"
	"testing"
)

func knobs() []knob { return nil }

func robustScore(all []nabSeries, cfg config) (float64, []float64) {
	var ts []float64
	sum := 0.0
	for _, k := range []int{0, 100, 200, 288, 400, 550} {
		var cut []nabSeries
		for _, s := range all {
			c := s
			c.pts = s.pts[k:]
			cut = append(cut, c)
		}
		tot, _, _ := nabTotal(cut, cfg)
		ts = append(ts, tot)
		sum += tot
	}
	return sum / float64(len(ts)), ts
}

func TestRobust(t *testing.T) {
	if os.Getenv("BURST_SWEEP") == "" {
		t.Skip()
	}
	all, _ := loadNAB("/work/shared/testdata/nab-tweets")
	for _, k := range append([]knob{{"base", func(*config) {}}}, rknobs()...) {
		cfg := defaultConfig()
		k.f(&cfg)
		m, ts := robustScore(all, cfg)
		fmt.Printf("%-34s robust=%.1f %.1f\n", k.name, m, ts)
	}
}
