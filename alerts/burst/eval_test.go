package burst

import (
	"fmt"
	"os"
	"sort"
	"testing"
)

func runCfg(cfg *config, pts []Point) []Result {
	var s State
	out := make([]Result, len(pts))
	for i, p := range pts {
		out[i] = s.update(cfg, p.Time.Unix(), p.Value)
	}
	return out
}

// scoreOne is the NAB standard-profile score of one series alone, and its
// raw score and window count for pooling.
func scoreOne(cfg *config, s nabSeries) (score, raw float64, nwin, nalerts int) {
	res := runCfg(cfg, s.pts)
	alerts := make([]bool, len(res))
	for i, r := range res {
		alerts[i] = r.Alert || r.Drop
		if alerts[i] {
			nalerts++
		}
	}
	raw, nwin = nabRaw(s, alerts)
	return nabNormalized(raw, nwin), raw, nwin, nalerts
}

func pooled(cfg *config, set []nabSeries) float64 {
	t, n := 0.0, 0
	for _, s := range set {
		_, r, k, _ := scoreOne(cfg, s)
		t += r
		n += k
	}
	return nabNormalized(t, n)
}

func seasonalSet() []nabSeries {
	var out []nabSeries
	for _, sp := range seasonalSpecs {
		out = append(out, genSeasonal(sp))
	}
	return out
}

func TestSeasonalDev(t *testing.T) {
	if os.Getenv("BURST_DEV") == "" {
		t.Skip("BURST_DEV not set")
	}
	cfg := defaultConfig()
	nab, err := loadNAB(nabDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]nabSeries{nab, seasonalSet()} {
		for _, s := range set {
			sc, _, k, a := scoreOne(&cfg, s)
			t.Logf("%-28s windows=%d alerts=%3d score=%5.1f", s.name, k, a, sc)
			if os.Getenv("BURST_DEV") == "v" {
				res := runCfg(&cfg, s.pts)
				for i, r := range res {
					if r.Alert || r.Drop {
						t.Logf("   alert %s z=%.1f zf=%.1f zd=%.1f drop=%v v=%v mu=%.1f", s.pts[i].Raw, r.z, r.zf, r.zd, r.Drop, s.pts[i].Value, r.mu)
					}
				}
				for _, w := range s.windows {
					t.Logf("   window %s .. %s", w[0].Format("01-02 15:04"), w[1].Format("01-02 15:04"))
				}
			}
		}
		t.Logf("pooled %.1f", pooled(&cfg, set))
	}
	_ = sort.Strings
}

type variant struct {
	name string
	mod  func(*config)
}

func TestAblationDev(t *testing.T) {
	if os.Getenv("BURST_DEV") == "" {
		t.Skip("BURST_DEV not set")
	}
	nab, err := loadNAB(nabDir(t))
	if err != nil {
		t.Fatal(err)
	}
	seas := seasonalSet()
	vs := []variant{
		{"default", func(*config) {}},
		{"avgClip3", func(c *config) { c.avgClip = 3 }},
		{"noDrop", func(c *config) { c.dropThresh = 0 }},
		{"noHW", func(c *config) { c.hwWeeks = 0 }},
		{"old", func(c *config) { c.avgClip = 3; c.dropThresh = 0; c.hwWeeks = 0 }},
		{"avgClip3 noDrop", func(c *config) { c.avgClip = 3; c.dropThresh = 0 }},
		{"avgClip6", func(c *config) { c.avgClip = 6 }},
	}
	for _, v := range vs {
		cfg := defaultConfig()
		v.mod(&cfg)
		line := ""
		for _, set := range [][]nabSeries{nab, seas} {
			for _, s := range set {
				sc, _, _, a := scoreOne(&cfg, s)
				line += fmt.Sprintf(" %5.1f/%d", sc, a)
			}
			line += fmt.Sprintf(" | %5.1f ||", pooled(&cfg, set))
		}
		t.Logf("%-18s %s", v.name, line)
	}
}
