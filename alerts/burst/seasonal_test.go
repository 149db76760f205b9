package burst

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// The seasonal test series: counts with the clock and the week in them, as
// venue deliveries, traffic or weather words have, made by a small
// deterministic generator so that the labels are known exactly. Each
// series has
//
//   - a daily shape that differs between working days, Saturdays and
//     Sundays (a late night at weekends, no morning rush);
//   - a weekly level (Friday busiest, Sunday quietest);
//   - public holidays that run a Sunday on a working day;
//   - a slow trend and one permanent level shift;
//   - day-to-day weather: each day's level wanders by a few per cent;
//   - negative-binomial noise (a Poisson count of a gamma rate);
//   - injected events of known size and place, which are the labels.
//
// The holidays are labelled too: a working day run like a Sunday is
// exactly what a seasonal baseline does not expect, and what the unit
// wants to hear about when venue deliveries collapse. The trend, the level
// shift and the weather are not events: a detector must follow them.

// seasonalSpec describes one generated series.
type seasonalSpec struct {
	name   string
	seed   uint64
	step   int64   // seconds per bucket
	weeks  int     // length
	base   float64 // mean count per hour at the weekly average
	shape  float64 // gamma shape of the rate: variance = mu + mu^2/shape
	events []event
	// holidays are day indexes run as Sundays (labelled); shiftDay is the
	// day the level shifts by shift (not labelled).
	holidays []int
	shiftDay int
	shift    float64
	trend    float64 // total relative change over the series (not labelled)
}

// event multiplies the expected count by factor from day+hour for hours.
type event struct {
	day   int
	hour  float64
	hours float64
	mult  float64
}

// seasonStart is a Monday at 00:00 local time (UTC+8 as the clock of the
// series; the generator's profile is in local hours).
var seasonStart = time.Date(2025, 9, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

// workday, saturday and sunday are relative hourly profiles (mean 1).
func hourShape(kind int, h float64) float64 {
	bump := func(c, w float64) float64 {
		d := math.Mod(h-c+36, 24) - 12
		return math.Exp(-d * d / (2 * w * w))
	}
	switch kind {
	case 0: // working day: deep night, morning rush, evening peak
		return 0.08 + 1.5*bump(8.5, 1.2) + 1.0*bump(13, 2.5) + 1.6*bump(18.5, 1.8) + 0.5*bump(22, 1.5)
	case 1: // Saturday: late start, long evening, busy after midnight
		return 0.25 + 0.6*bump(1, 1.5) + 0.9*bump(13, 3) + 1.5*bump(21, 2.5)
	default: // Sunday: late start, early evening
		return 0.2 + 0.5*bump(1, 1.5) + 1.1*bump(14, 3.5) + 0.7*bump(19, 2)
	}
}

var shapeNorm = func() [3]float64 {
	var n [3]float64
	for k := range n {
		for m := 0; m < 24*60; m++ {
			n[k] += hourShape(k, float64(m)/60)
		}
		n[k] /= 24 * 60
	}
	return n
}()

// weekLevel is the day level Monday..Sunday.
var weekLevel = [7]float64{0.95, 1.0, 1.0, 1.05, 1.15, 0.95, 0.8}

// gammaRate draws Gamma(shape, mean/shape) (Marsaglia and Tsang).
func gammaRate(r *rand.Rand, shape, mean float64) float64 {
	if shape <= 0 || mean <= 0 {
		return mean
	}
	a := shape
	boost := 1.0
	if a < 1 {
		boost = math.Pow(r.Float64(), 1/a)
		a++
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v * boost * mean / shape
		}
	}
}

// genSeasonal returns the series and its NAB-style label windows: one
// window per event, centred on its start, 10% of the series' length shared
// among the windows (NAB's rule).
func genSeasonal(sp seasonalSpec) nabSeries {
	r := rand.New(rand.NewPCG(sp.seed, 77))
	n := sp.weeks * 7 * 86400 / int(sp.step)
	days := sp.weeks * 7
	weather := make([]float64, days)
	w := 0.0
	for d := range weather {
		w = 0.7*w + 0.04*r.NormFloat64()
		weather[d] = math.Exp(w)
	}
	type lab struct {
		at time.Time
	}
	var labs []lab
	hol := map[int]bool{}
	for _, d := range sp.holidays {
		hol[d] = true
		labs = append(labs, lab{seasonStart.Add(time.Duration(d) * 24 * time.Hour)})
	}
	for _, e := range sp.events {
		labs = append(labs, lab{seasonStart.Add(time.Duration(float64(e.day*86400)+e.hour*3600) * time.Second)})
	}
	pts := make([]Point, n)
	for i := range pts {
		ts := seasonStart.Add(time.Duration(int64(i)*sp.step) * time.Second)
		el := ts.Sub(seasonStart).Seconds()
		d := int(el / 86400)
		h := math.Mod(el/3600, 24)
		wd := d % 7 // 0 = Monday
		kind := 0
		switch {
		case wd == 5:
			kind = 1
		case wd == 6 || hol[d]:
			kind = 2
		}
		lvl := weekLevel[wd]
		if hol[d] {
			lvl = weekLevel[6]
		}
		m := sp.base * float64(sp.step) / 3600 * lvl * hourShape(kind, h) / shapeNorm[kind] * weather[d]
		m *= 1 + sp.trend*float64(i)/float64(n)
		if sp.shiftDay > 0 && d >= sp.shiftDay {
			m *= sp.shift
		}
		for _, e := range sp.events {
			from := float64(e.day)*24 + e.hour
			if hh := el / 3600; hh >= from && hh < from+e.hours {
				m *= e.mult
			}
		}
		v := poisson(r, gammaRate(r, sp.shape, m))
		pts[i] = Point{Raw: ts.UTC().Format("2006-01-02 15:04:05"), Time: ts.UTC(), Value: v, RawValue: fmt.Sprint(v)}
	}
	s := nabSeries{name: sp.name + ".csv", pts: pts}
	half := time.Duration(float64(n)*0.1/float64(len(labs))/2*float64(sp.step)) * time.Second
	for _, l := range labs {
		s.windows = append(s.windows, [2]time.Time{l.at.Add(-half).UTC(), l.at.Add(half).UTC()})
	}
	sortWindows(s.windows)
	return s
}

func sortWindows(w [][2]time.Time) {
	for i := 1; i < len(w); i++ {
		for j := i; j > 0 && w[j][0].Before(w[j-1][0]); j-- {
			w[j], w[j-1] = w[j-1], w[j]
		}
	}
}

// seasonalSpecs are the generated series. Event sizes span the easy (a
// night at four times its usual volume) and the hard (six hours at 1.6
// times a busy afternoon); every series also has unlabelled nuisances.
var seasonalSpecs = []seasonalSpec{
	{
		name: "taxi-like-30m", seed: 1, step: 1800, weeks: 30, base: 15000, shape: 400,
		holidays: []int{122, 178}, shiftDay: 60, shift: 1.2, trend: 0.15,
		events: []event{
			{day: 65, hour: 1, hours: 5, mult: 3},     // a night event (a marathon start, a concert out)
			{day: 150, hour: 23, hours: 3, mult: 2.5}, // a midnight surge
			{day: 197, hour: 7, hours: 30, mult: 0.3}, // a storm: a day and more of near silence
		},
	},
	{
		name: "deliveries-1h", seed: 2, step: 3600, weeks: 26, base: 400, shape: 60,
		holidays: []int{31, 101}, shiftDay: 80, shift: 0.8, trend: 0.3,
		events: []event{
			{day: 52, hour: 10, hours: 6, mult: 1.8},
			{day: 130, hour: 20, hours: 4, mult: 2.5},
			{day: 160, hour: 9, hours: 10, mult: 0.2}, // an intake outage
		},
	},
	{
		name: "traffic-5m", seed: 3, step: 300, weeks: 9, base: 1200, shape: 80,
		holidays: []int{38}, shiftDay: 20, shift: 1.25, trend: -0.1,
		events: []event{
			{day: 16, hour: 15, hours: 2, mult: 2.2},
			{day: 45, hour: 3, hours: 3, mult: 5},
			{day: 55, hour: 12, hours: 8, mult: 1.7},
		},
	},
	{
		name: "weather-word-10m", seed: 4, step: 600, weeks: 16, base: 60, shape: 20,
		holidays: []int{59}, shiftDay: 35, shift: 1.3, trend: 0.2,
		events: []event{
			{day: 24, hour: 6, hours: 12, mult: 3},
			{day: 75, hour: 14, hours: 4, mult: 4},
			{day: 99, hour: 21, hours: 3, mult: 6},
		},
	},
	{
		name: "venue-30m", seed: 5, step: 1800, weeks: 24, base: 40, shape: 30,
		holidays: []int{45, 115}, shiftDay: 90, shift: 1.3, trend: 0.1,
		events: []event{
			{day: 30, hour: 20, hours: 6, mult: 3},
			{day: 140, hour: 10, hours: 8, mult: 2.5},
		},
	},
}
