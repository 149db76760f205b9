package burst

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// forecastStats compares the model's outlook with a naive seasonal
// forecast (the same hours a week earlier) over every hour of every series
// after its first week, and separately over the six hours after each burst
// alert, where the outlook matters to an officer.
type forecastStats struct {
	n, covered      int
	errModel, errNv float64
}

func (f *forecastStats) add(act, fc, nv, lo, hi float64) {
	f.n++
	if act >= lo && act <= hi {
		f.covered++
	}
	f.errModel += math.Abs(math.Log((1 + act) / (1 + fc)))
	f.errNv += math.Abs(math.Log((1 + act) / (1 + nv)))
}

func (f forecastStats) String() string {
	if f.n == 0 {
		return "no points"
	}
	return fmtF("n=%d coverage(80%%)=%.1f%% model |log err|=%.3f naive=%.3f", f.n, 100*float64(f.covered)/float64(f.n), f.errModel/float64(f.n), f.errNv/float64(f.n))
}

func measureForecast(sets [][]nabSeries, hours float64) (all, event forecastStats) {
	for _, set := range sets {
		for _, s := range set {
			if len(s.pts) < 2 {
				continue
			}
			step := s.pts[1].Time.Unix() - s.pts[0].Time.Unix()
			k := int(math.Ceil(hours * 3600 / float64(step)))
			every := max(1, int(3600/step))
			byTime := make(map[int64]float64, len(s.pts))
			for _, p := range s.pts {
				byTime[p.Time.Unix()] = p.Value
			}
			var st State
			lastAlert := int64(math.MinInt64 / 2)
			for i, p := range s.pts {
				r := st.Update(p.Time.Unix(), p.Value)
				if r.Alert {
					lastAlert = p.Time.Unix()
				}
				t := p.Time.Unix()
				if t-s.pts[0].Time.Unix() < 7*86400 || i+k >= len(s.pts) || (i%every != 0 && t-lastAlert > 6*3600) {
					continue
				}
				act, nv := 0.0, 0.0
				ok := true
				for j := 1; j <= k; j++ {
					act += s.pts[i+j].Value
					v, found := byTime[s.pts[i+j].Time.Unix()-7*86400]
					if !found {
						ok = false
					}
					nv += v
				}
				if !ok {
					continue
				}
				o := st.Outlook(step, hours)
				if i%every == 0 {
					all.add(act, o.Expected, nv, o.Low, o.High)
				}
				if t-lastAlert <= 6*3600 {
					event.add(act, o.Expected, nv, o.Low, o.High)
				}
			}
		}
	}
	return all, event
}

// TestForecast measures the three-hour outlook on both sets of series and
// holds it to what the package doc states: the interval covers about 80%
// of what happened, and the outlook beats the naive seasonal forecast
// after a burst alert.
func TestForecast(t *testing.T) {
	nab, err := loadNAB(nabDir(t))
	if err != nil {
		t.Fatal(err)
	}
	seas := seasonalSet()
	for _, tc := range []struct {
		name string
		sets [][]nabSeries
	}{{"nab-tweets", [][]nabSeries{nab}}, {"seasonal", [][]nabSeries{seas}}} {
		all, ev := measureForecast(tc.sets, 3)
		t.Logf("%-10s every hour:         %v", tc.name, all)
		t.Logf("%-10s 6 h after an alert: %v", tc.name, ev)
		if os.Getenv("BURST_DEV") != "" {
			continue
		}
		for _, f := range []forecastStats{all, ev} {
			if c := float64(f.covered) / float64(f.n); c < 0.70 || c > 0.95 {
				t.Errorf("%s: interval coverage %.1f%%, want near 80%%", tc.name, 100*c)
			}
		}
		if ev.errModel >= ev.errNv {
			t.Errorf("%s: after alerts the outlook (%.3f) is no better than last week (%.3f)", tc.name, ev.errModel/float64(ev.n), ev.errNv/float64(ev.n))
		}
	}
}

func fmtF(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// TestOutlookDirection follows one burst: a ramp, a plateau, a decay. The
// outlook must say rising on the ramp, peaking on the plateau and fading
// on the way down, and expect more than the baseline while it lasts.
func TestOutlookDirection(t *testing.T) {
	rng := newRand(21)
	var s State
	i := 0
	for ; i < 8*288; i++ {
		ts := t0 + int64(i)*bucket
		s.Update(ts, poisson(rng, daily(20, 3)(ts)))
	}
	feed := func(mult func(j int) float64, n int) Outlook {
		for j := 0; j < n; j++ {
			ts := t0 + int64(i)*bucket
			s.Update(ts, poisson(rng, daily(20, 3)(ts)*mult(j)))
			i++
		}
		return s.Outlook(bucket, 3)
	}
	ramp := feed(func(j int) float64 { return 1 + float64(j) }, 12) // an hour up to 12x
	if ramp.Direction != Rising || ramp.Expected < 1.5*ramp.Usual {
		t.Errorf("on the ramp: %+v, want rising well above usual", ramp)
	}
	flat := feed(func(int) float64 { return 12 }, 36)
	if flat.Direction != Steady || flat.Expected < 1.5*flat.Usual {
		t.Errorf("on the plateau: %+v, want peaking well above usual", flat)
	}
	down := feed(func(j int) float64 { return 12 * math.Pow(0.8, float64(j)) }, 12)
	if down.Direction != Fading {
		t.Errorf("on the way down: %+v, want fading", down)
	}
	if !(down.Low <= down.Expected && down.Expected <= down.High) {
		t.Errorf("interval %v..%v does not hold the forecast %v", down.Low, down.High, down.Expected)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }
