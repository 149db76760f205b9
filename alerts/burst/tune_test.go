package burst

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestTune(t *testing.T) {
	if os.Getenv("BURST_TUNE") == "" {
		t.Skip("dev only")
	}
	all, _ := loadNAB("/work/shared/testdata/nab-tweets")
	cfg := defaultConfig()
	total, nw := 0.0, 0
	for _, s := range all {
		var st State
		res := make([]Result, len(s.pts))
		alerts := make([]bool, len(s.pts))
		for i, p := range s.pts {
			res[i] = st.update(&cfg, p.Time.Unix(), p.Value)
			alerts[i] = res[i].Alert
		}
		raw, k := nabRaw(s, alerts)
		total += raw
		nw += k
		in := func(i int) int {
			for wi, w := range s.windows {
				if !s.pts[i].Time.Before(w[0]) && !s.pts[i].Time.After(w[1]) {
					return wi
				}
			}
			return -1
		}
		hits := make([]string, len(s.windows))
		for wi := range hits {
			hits[wi] = "MISS"
		}
		var fps []string
		for i, a := range alerts {
			if !a || i < 750 {
				continue
			}
			if wi := in(i); wi >= 0 {
				if hits[wi] == "MISS" {
					hits[wi] = fmt.Sprint(i)
				}
			} else {
				fps = append(fps, fmt.Sprintf("%d(v=%.0f mu=%.1f z=%.1f zf=%.1f)", i, s.pts[i].Value, res[i].mu, res[i].z, res[i].zf*cfg.fastThresh/cfg.threshold))
			}
		}
		fmt.Printf("%-8s %5.1f hits=%v fp=%d\n", s.name[15:], nabNormalized(raw, k), hits, len(fps))
		if os.Getenv("FPS") != "" && strings.Contains(s.name, os.Getenv("FPS")) {
			fmt.Println("   ", strings.Join(fps, "\n    "))
			for wi, w := range s.windows {
				mz, mf := -9.0, -9.0
				iz, iff := 0, 0
				for i := range s.pts {
					if in(i) == wi {
						if res[i].z > mz {
							mz, iz = res[i].z, i
						}
						if f := res[i].zf * cfg.fastThresh / cfg.threshold; f > mf {
							mf, iff = f, i
						}
					}
				}
				fmt.Printf("    window %d [%v]: max z %.1f at %d, max zf %.1f at %d\n", wi, w[0].Format("01-02 15:04"), mz, iz, mf, iff)
			}
		}
	}
	fmt.Printf("TOTAL %.2f\n", nabNormalized(total, nw))
}
