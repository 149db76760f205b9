package burst

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const bucket = 300 // seconds: the 5-minute default of the term counter

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()

// poisson draws a Poisson count by inversion; good enough for test means.
func poisson(r *rand.Rand, mean float64) float64 {
	if mean > 50 {
		return math.Max(0, math.Round(mean+math.Sqrt(mean)*r.NormFloat64()))
	}
	l, k, p := math.Exp(-mean), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// daily is a mean count with a smooth daily cycle: peak/trough = ratio.
func daily(base, ratio float64) func(int64) float64 {
	return func(t int64) float64 {
		ph := 2 * math.Pi * float64(t%86400) / 86400
		return base * math.Pow(ratio, 0.5*math.Sin(ph))
	}
}

func TestDetector(t *testing.T) {
	const days = 14
	n := days * 86400 / bucket
	tests := []struct {
		name   string
		mean   func(i int, t int64) float64
		noise  bool
		alerts int
		near   int // bucket index the single alert must be close to; -1 if none
	}{
		{"flat", func(int, int64) float64 { return 40 }, false, 0, -1},
		{"flat zero", func(int, int64) float64 { return 0 }, false, 0, -1},
		{"poisson flat", func(int, int64) float64 { return 40 }, true, 0, -1},
		{"poisson sparse", func(int, int64) float64 { return 0.3 }, true, 0, -1},
		{"daily season", func(_ int, t int64) float64 { return daily(30, 8)(t) }, true, 0, -1},
		{"weekly season", func(_ int, t int64) float64 {
			m := daily(30, 4)(t)
			if wd := time.Unix(t, 0).UTC().Weekday(); wd == time.Saturday || wd == time.Sunday {
				m /= 3
			}
			return m
		}, true, 0, -1},
		{"spike", func(i int, _ int64) float64 {
			if i == n-800 {
				return 2000
			}
			return 40
		}, true, 1, n - 800},
		{"step up", func(i int, _ int64) float64 {
			if i >= n-1000 {
				return 400
			}
			return 40
		}, true, 1, n - 1000},
		{"burst over season", func(i int, t int64) float64 {
			m := daily(30, 8)(t)
			if i >= n-700 && i < n-700+36 {
				m *= 12
			}
			return m
		}, true, 1, n - 700},
		{"sparse term wakes up", func(i int, _ int64) float64 {
			if i >= n-500 && i < n-500+24 {
				return 25
			}
			return 0.2
		}, true, 1, n - 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var s State
			var got []int
			for i := 0; i < n; i++ {
				ts := t0 + int64(i)*bucket
				v := tc.mean(i, ts)
				if tc.noise {
					v = poisson(rng, v)
				}
				r := s.Update(ts, v)
				if r.Score < 0 || r.Score > 1 || math.IsNaN(r.Score) {
					t.Fatalf("bucket %d: score %v outside [0,1]", i, r.Score)
				}
				if r.Alert {
					got = append(got, i)
				}
			}
			if len(got) != tc.alerts {
				t.Fatalf("alerts at buckets %v, want %d alert(s)", got, tc.alerts)
			}
			if tc.near >= 0 && (got[0] < tc.near || got[0] > tc.near+12) {
				t.Errorf("alert at bucket %d, want within an hour after %d", got[0], tc.near)
			}
		})
	}
}

func TestWarmupNeverAlerts(t *testing.T) {
	var s State
	for i := 0; i < 86400/bucket-1; i++ {
		v := 1.0
		if i%50 == 49 {
			v = 5000
		}
		if s.Update(t0+int64(i)*bucket, v).Alert {
			t.Fatalf("alert at bucket %d during the first day", i)
		}
	}
}

func TestBadInputKeepsStateFinite(t *testing.T) {
	var s State
	vals := []float64{3, math.NaN(), math.Inf(1), -5, 1e300, 4, 0}
	for i := 0; i < 2000; i++ {
		r := s.Update(t0+int64(i)*bucket, vals[i%len(vals)])
		if math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1 {
			t.Fatalf("bucket %d: score %v", i, r.Score)
		}
	}
	for _, f := range append([]float32{s.level, s.scale, s.fast, s.fscale}, s.daily[:]...) {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			t.Fatalf("state went non-finite: %+v", s)
		}
	}
}

// TestResume saves the state at every kind of moment (before, inside and
// after a burst) and checks that the restored detector continues with
// identical scores and alerts, so a restart neither repeats nor loses one.
func TestResume(t *testing.T) {
	n := 10 * 86400 / bucket
	burstAt := n - 600
	rng := rand.New(rand.NewPCG(3, 4))
	vals := make([]float64, n)
	for i := range vals {
		m := daily(20, 5)(t0 + int64(i)*bucket)
		if i >= burstAt && i < burstAt+48 {
			m *= 15
		}
		vals[i] = poisson(rng, m)
	}
	var ref State
	want := make([]Result, n)
	for i, v := range vals {
		want[i] = ref.Update(t0+int64(i)*bucket, v)
	}
	alerts := 0
	for _, r := range want {
		if r.Alert {
			alerts++
		}
	}
	if alerts != 1 {
		t.Fatalf("reference run raised %d alerts, want 1", alerts)
	}
	for _, cut := range []int{1, 300, burstAt - 1, burstAt, burstAt + 1, burstAt + 20, burstAt + 200} {
		var a State
		for i := 0; i < cut; i++ {
			a.Update(t0+int64(i)*bucket, vals[i])
		}
		blob, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(blob) != StateSize {
			t.Fatalf("state is %d bytes, want %d", len(blob), StateSize)
		}
		var b State
		if err := b.UnmarshalBinary(blob); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if b != a {
			t.Fatalf("cut %d: round trip changed the state", cut)
		}
		for i := cut; i < n; i++ {
			if got := b.Update(t0+int64(i)*bucket, vals[i]); got != want[i] {
				t.Fatalf("cut %d: bucket %d after resume = %+v, want %+v", cut, i, got, want[i])
			}
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	var s State
	s.Update(t0, 3)
	good, _ := s.MarshalBinary()
	badVersion := append([]byte(nil), good...)
	badVersion[0] = 99
	badFlags := append([]byte(nil), good...)
	badFlags[1+40+4] = 0x80
	for name, b := range map[string][]byte{
		"empty":   nil,
		"short":   good[:len(good)-1],
		"long":    append(append([]byte(nil), good...), 0),
		"version": badVersion,
		"flags":   badFlags,
	} {
		var got State
		if err := got.UnmarshalBinary(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestNoiseIsQuiet runs two months of pure Poisson noise, with and without
// a daily cycle, at the count levels terms really have: none of it is news.
func TestNoiseIsQuiet(t *testing.T) {
	n := 60 * 86400 / bucket
	for _, mean := range []float64{0.05, 0.3, 3, 40, 1000} {
		for _, ratio := range []float64{1, 6} {
			rng := rand.New(rand.NewPCG(uint64(mean*100), uint64(ratio)))
			f := daily(mean, ratio)
			var s State
			for i := 0; i < n; i++ {
				ts := t0 + int64(i)*bucket
				if s.Update(ts, poisson(rng, f(ts))).Alert {
					t.Errorf("mean %v, daily ratio %v: alert at bucket %d", mean, ratio, i)
					break
				}
			}
		}
	}
}

// TestBucketSizes runs the same day-shaped traffic at other bucket sizes
// and with an outage: the detector takes its time scale from the
// timestamps, so a normal day stays quiet and a burst still alerts once.
func TestBucketSizes(t *testing.T) {
	tests := []struct {
		name   string
		step   int64
		gapAt  int // bucket index where a 6-hour outage starts; -1 for none
		burst  bool
		alerts int
	}{
		{"1 minute quiet", 60, -1, false, 0},
		{"1 hour quiet", 3600, -1, false, 0},
		{"5 minutes with outage", 300, 9 * 288, false, 0},
		{"1 minute burst", 60, -1, true, 1},
		{"1 hour burst", 3600, -1, true, 1},
		{"5 minutes outage then burst", 300, 9 * 288, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, uint64(tc.step)))
			f := daily(20, 6) // mentions per 5 minutes
			end := t0 + 14*86400
			burstFrom, burstTo := end-2*86400, end-2*86400+3*3600
			var s State
			ts := t0
			var got []int64
			for i := 0; ts < end; i++ {
				if i == tc.gapAt {
					ts += 6 * 3600
				}
				m := f(ts) * float64(tc.step) / 300
				if tc.burst && ts >= burstFrom && ts < burstTo {
					m *= 10
				}
				if s.Update(ts, poisson(rng, m)).Alert {
					got = append(got, ts)
				}
				ts += tc.step
			}
			if len(got) != tc.alerts {
				t.Fatalf("alerts at %v, want %d", got, tc.alerts)
			}
			if tc.alerts == 1 && (got[0] < burstFrom || got[0] > burstFrom+3600) {
				t.Errorf("alert %ds after the burst began, want within the hour", got[0]-burstFrom)
			}
		})
	}
}

// TestWeekendsAreNormal: a work-week term, a third as busy at weekends, over
// four weeks from several starting points. The first Monday is the hard
// case: the weekly profile has seen one weekend at most.
func TestWeekendsAreNormal(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 2))
		var s State
		for i := 0; i < 28*288; i++ {
			ts := t0 + int64(i)*bucket + int64(seed)*7919
			m := daily(30, 4)(ts)
			if wd := time.Unix(ts, 0).UTC().Weekday(); wd == time.Saturday || wd == time.Sunday {
				m /= 3
			}
			if s.Update(ts, poisson(rng, m)).Alert {
				t.Errorf("seed %d: alert at %s", seed, time.Unix(ts, 0).UTC().Format(time.RFC3339))
				break
			}
		}
	}
}

// appendV1 writes s in the version-1 layout, as releases before the
// hour-of-week profile saved it.
func appendV1(s *State) []byte {
	b := []byte{1}
	for _, v := range [...]int64{s.first, s.last, s.lastAlert, s.quietFrom} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, s.n)
	b = append(b, s.flags&flagInEvent)
	for _, v := range [...]float32{s.level, s.scale, s.fast, s.fscale, s.xf, s.mf, s.cx, s.cm, s.peak} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, v := range append(s.daily[:], s.weekly[:]...) {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// TestUpgradeFromV1 restores a version-1 record: the learnt baseline is
// kept, and quiet traffic after the upgrade raises nothing.
func TestUpgradeFromV1(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	f := daily(30, 6)
	var s State
	i := 0
	for ; i < 10*288; i++ {
		ts := t0 + int64(i)*bucket
		s.Update(ts, poisson(rng, f(ts)))
	}
	blob := appendV1(&s)
	if len(blob) != EncodedSize(1) {
		t.Fatalf("v1 record %d bytes, EncodedSize(1) = %d", len(blob), EncodedSize(1))
	}
	var u State
	if err := u.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if u.level != s.level || u.daily != s.daily || u.weekly != s.weekly || u.scale != s.scale {
		t.Fatal("upgrade lost the learnt baseline")
	}
	if u.hw != [hwSlots]int16{} || u.sscale != s.fscale {
		t.Fatalf("upgrade did not start the new parts at rest: sscale %v", u.sscale)
	}
	ts0 := t0 + int64(i)*bucket
	if got, want := u.Baseline(ts0), s.Baseline(ts0); math.Abs(got-want) > 0.2*want+0.5 {
		t.Errorf("baseline after upgrade %.1f, before %.1f", got, want)
	}
	for ; i < 24*288; i++ {
		ts := t0 + int64(i)*bucket
		if r := u.Update(ts, poisson(rng, f(ts))); r.Onset() {
			t.Fatalf("alert at bucket %d after the upgrade: %+v", i, r)
		}
	}
}
