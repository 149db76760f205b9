package burst

import (
	"fmt"
	"os"
	"sort"
	"testing"
)

// The leave-one-out floors are the figures in the package doc minus one
// point.
const (
	looNABFloor      = 75.6
	looSeasonalFloor = 90.8
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
		{"old", func(c *config) { c.avgClip = 3; c.dropThresh = 0; c.hwWeeks = 0 }},
		{"hw5 dt4", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4 }},
		{"hw5 dt4 ac3", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4; c.avgClip = 3 }},
		{"hw5 dt4 ac3 f.7", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4; c.avgClip = 3; c.avgFloor = 0.7 }},
		{"hw5 dt4 ac3 f1.1", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4; c.avgClip = 3; c.avgFloor = 1.1 }},
		{"hw5 dt4 ac3 f1.6", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4; c.avgClip = 3; c.avgFloor = 1.6 }},
		{"hw5 dt4 ac4 f1.1", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4; c.avgClip = 4; c.avgFloor = 1.1 }},
		{"hw5 dt4 ac2 f1.1", func(c *config) { c.hwWeeks = 5; c.dropThresh = 4; c.avgClip = 2; c.avgFloor = 1.1 }},
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

// TestLeaveOneOut picks the configuration from a grid on all series but
// one and scores it on the one left out, for every series in turn.
func TestLeaveOneOut(t *testing.T) {
	if testing.Short() {
		t.Skip("grid of 27 configurations")
	}
	nab, err := loadNAB(nabDir(t))
	if err != nil {
		t.Fatal(err)
	}
	seas := seasonalSet()
	all := append(append([]nabSeries{}, nab...), seas...)
	var cfgs []config
	var names []string
	for _, hwW := range []float64{5} {
		for _, hs := range []float64{day} {
			for _, th := range []float64{6, 7, 8} {
				for _, ft := range []float64{2.5, 3, 3.5} {
					for _, dth := range []float64{3, 4, 5} {
						c := defaultConfig()
						c.hwWeeks, c.hwStart, c.threshold, c.fastThresh, c.dropThresh = hwW, hs, th, ft, dth
						cfgs = append(cfgs, c)
						names = append(names, fmt.Sprintf("hw%g start%gd th%g ft%g dt%g", hwW, hs/day, th, ft, dth))
					}
				}
			}
		}
	}
	raw := make([][]float64, len(cfgs))
	nw := make([]int, len(all))
	for i := range cfgs {
		raw[i] = make([]float64, len(all))
		for j, s := range all {
			_, raw[i][j], nw[j], _ = scoreOne(&cfgs[i], s)
		}
	}
	setScore := func(i int, skip int, lo, hi int) float64 {
		r, n := 0.0, 0
		for j := lo; j < hi; j++ {
			if j == skip {
				continue
			}
			r += raw[i][j]
			n += nw[j]
		}
		return nabNormalized(r, n)
	}
	obj := func(i, skip int) float64 {
		return (setScore(i, skip, 0, len(nab)) + setScore(i, skip, len(nab), len(all))) / 2
	}
	// The grid is th x ft x dt, 3 x 3 x 3 (index = 9*th + 3*ft + dt);
	// a configuration is judged by the mean over its neighbours, which
	// prefers the middle of a plateau to a lucky peak.
	smooth := func(i, skip int) float64 {
		a, b, c := i/9, (i/3)%3, i%3
		sum, n := 0.0, 0
		for da := -1; da <= 1; da++ {
			for db := -1; db <= 1; db++ {
				for dc := -1; dc <= 1; dc++ {
					x, y, z := a+da, b+db, c+dc
					if x < 0 || y < 0 || z < 0 || x > 2 || y > 2 || z > 2 {
						continue
					}
					sum += obj(9*x+3*y+z, skip)
					n++
				}
			}
		}
		return sum / float64(n)
	}
	best := func(skip int) int {
		b := 0
		for i := range cfgs {
			if smooth(i, skip) > smooth(b, skip) {
				b = i
			}
		}
		return b
	}
	b := best(-1)
	t.Logf("best on all: %s: nab %.1f seasonal %.1f", names[b], setScore(b, -1, 0, len(nab)), setScore(b, -1, len(nab), len(all)))
	d := 0
	for i := range cfgs {
		if cfgs[i] == defaultConfig() {
			d = i
		}
	}
	t.Logf("default: %s: nab %.1f seasonal %.1f", names[d], setScore(d, -1, 0, len(nab)), setScore(d, -1, len(nab), len(all)))
	looR := [2]float64{}
	looN := [2]int{}
	for j, s := range all {
		k := best(j)
		set := 0
		if j >= len(nab) {
			set = 1
		}
		looR[set] += raw[k][j]
		looN[set] += nw[j]
		t.Logf("leave out %-26s pick %-32s held-out %5.1f (default %5.1f)", s.name, names[k], nabNormalized(raw[k][j], nw[j]), nabNormalized(raw[d][j], nw[j]))
	}
	looNAB, looSeas := nabNormalized(looR[0], looN[0]), nabNormalized(looR[1], looN[1])
	t.Logf("leave-one-out pooled: nab %.1f seasonal %.1f", looNAB, looSeas)
	if looNAB < looNABFloor || looSeas < looSeasonalFloor {
		t.Errorf("leave-one-out %.1f (nab) / %.1f (seasonal) below the floors %.1f / %.1f", looNAB, looSeas, looNABFloor, looSeasonalFloor)
	}
}

// TestMissesDev shows, per labelled window, whether it was caught and the
// largest statistics inside it, and the false alarms.
func TestMissesDev(t *testing.T) {
	if os.Getenv("BURST_DEV") == "" {
		t.Skip("BURST_DEV not set")
	}
	nab, err := loadNAB(nabDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	for _, s := range append(nab, seasonalSet()...) {
		res := runCfg(&cfg, s.pts)
		fp := 0
		for i, r := range res {
			if !r.Onset() {
				continue
			}
			in := false
			for _, w := range s.windows {
				if !s.pts[i].Time.Before(w[0]) && !s.pts[i].Time.After(w[1]) {
					in = true
				}
			}
			if !in {
				fp++
			}
		}
		line := ""
		for _, w := range s.windows {
			hit := "miss"
			mz, mf, md := 0.0, 0.0, 0.0
			for i, r := range res {
				if s.pts[i].Time.Before(w[0]) || s.pts[i].Time.After(w[1]) {
					continue
				}
				if r.Onset() && hit == "miss" {
					hit = fmt.Sprintf("hit@%.2f", float64(s.pts[i].Time.Sub(w[0]))/float64(w[1].Sub(w[0])))
				}
				mz, mf, md = max(mz, r.z), max(mf, r.zf), max(md, r.zd)
			}
			line += fmt.Sprintf(" [%s z%.1f f%.1f d%.1f]", hit, mz, mf, md)
		}
		t.Logf("%-26s fp=%2d %s", s.name, fp, line)
	}
}

// TestSeasonalSeedsDev regenerates the seasonal series with other seeds:
// the same kinds of series and events, other noise, weather and draws.
func TestSeasonalSeedsDev(t *testing.T) {
	if os.Getenv("BURST_DEV") == "" {
		t.Skip("BURST_DEV not set")
	}
	cfg := defaultConfig()
	for seed := uint64(100); seed < 105; seed++ {
		var set []nabSeries
		line := ""
		for _, sp := range seasonalSpecs {
			sp.seed += seed
			s := genSeasonal(sp)
			set = append(set, s)
			sc, _, _, a := scoreOne(&cfg, s)
			line += fmt.Sprintf(" %5.1f/%d", sc, a)
		}
		t.Logf("seed %d: %s | %.1f", seed, line, pooled(&cfg, set))
	}
}
