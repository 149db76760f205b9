package burst

import (
	"fmt"
	"os"
	"testing"
)

func nabTotal(all []nabSeries, cfg config) (float64, []float64, int) {
	total, nw := 0.0, 0
	var per []float64
	na := 0
	for _, s := range all {
		var st State
		alerts := make([]bool, len(s.pts))
		for i, p := range s.pts {
			alerts[i] = st.update(&cfg, p.Time.Unix(), p.Value).Alert
			if alerts[i] {
				na++
			}
		}
		raw, k := nabRaw(s, alerts)
		per = append(per, nabNormalized(raw, k))
		total += raw
		nw += k
	}
	return nabNormalized(total, nw), per, na
}

type knob struct {
	name string
	f    func(*config)
}

func TestSweep(t *testing.T) {
	if os.Getenv("BURST_SWEEP") == "" {
		t.Skip("dev only")
	}
	all, _ := loadNAB("/work/shared/testdata/nab-tweets")
	for _, k := range append([]knob{{"base", func(*config) {}}}, knobs()...) {
		cfg := defaultConfig()
		k.f(&cfg)
		tot, per, na := nabTotal(all, cfg)
		fmt.Printf("%-30s total=%.1f alerts=%d per=%.0f\n", k.name, tot, na, per)
	}
}
