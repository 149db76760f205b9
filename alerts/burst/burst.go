package burst

import (
	"math"
)

// Result is what one update reports.
type Result struct {
	// Score is the burst strength in [0,1]; 0.5 is the alert threshold.
	Score float64
	// Alert is true on the first bucket of a new burst event only.
	Alert bool
	// Drop is true on the first bucket of a new collapse: hours far below
	// the seasonal expectation (a holiday, a storm, an intake outage).
	// Topic alerts ignore it; series that should never go quiet use it.
	Drop bool
	// Expected is the count the seasonal baseline expected for this bucket.
	Expected float64

	z, zf, zd, mu float64 // the statistics behind Score, for tests
}

// Onset reports whether an event of either kind, burst or collapse,
// starts at this bucket: what `netpulse trends eval` writes as an alert.
func (r Result) Onset() bool { return r.Alert || r.Drop }

// State is the whole per-series memory of the detector. It is a fixed-size
// value (no pointers, no slices) so that 200,000 of them fit in a few tens
// of megabytes and serialise to a fixed-length record.
type State struct {
	first     int64 // unix seconds of the first bucket seen
	last      int64 // unix seconds of the latest bucket seen
	lastAlert int64 // unix seconds of the last alert; 0 if none
	quietFrom int64 // unix seconds since which the score has stayed low; 0 while high
	lowFrom   int64 // unix seconds since which the drop statistic has been over threshold; 0 if not
	n         uint32
	flags     uint8 // flagInEvent, flagDrop

	level  float32 // log-domain level after removing the seasonal profile
	scale  float32 // robust scale of one-bucket residuals (EWMA of |r|)
	fast   float32 // short EWMA of residuals, for sustained rises
	fscale float32 // robust scale of fast (EWMA of |fast|)
	slow   float32 // longer EWMA of residuals, for collapses
	sscale float32 // robust scale of slow
	xf     float32 // fastTau EWMA of counts
	mf     float32 // fastTau EWMA of expected counts
	xs     float32 // slowTau EWMA of counts
	ms     float32 // slowTau EWMA of expected counts
	cx     float32 // scaleTau EWMA of counts, clipped
	cm     float32 // scaleTau EWMA of the log baseline as a count
	peak   float32 // maximum count, decaying over recordTau

	daily  [dailySlots]float32  // time-of-day profile, log domain, interpolated
	weekly [weeklySlots]float32 // day-of-week profile, log domain, interpolated
	// hour-of-week profile, log domain, interpolated, in units of
	// 1/hwUnit: what the week does to the daily shape (late weekend
	// nights, no Sunday morning rush). int16 halves the largest part of
	// the state; the resolution is far below any residual scale.
	hw [hwSlots]int16
}

const (
	flagInEvent = 1
	flagDrop    = 2 // the event in progress is a collapse
	flagPending = 4 // the last bucket was a one-bucket burst awaiting its confirmation
)

const (
	dailySlots  = 24
	weeklySlots = 7
	hwSlots     = 168
	hwUnit      = 4096.0
	day         = 86400.0
	week        = 7 * day
	maxCount    = 1e15
)

// config holds the detector's constants. Production always uses
// defaultConfig (one configuration for every series); the struct exists so
// that tests can probe the same code with other values.
type config struct {
	levelTau     float64 // seconds: memory of the deseasonalised level
	scaleTau     float64 // seconds: memory of the residual scales
	dailyDays    float64 // days of memory of each time-of-day slot
	weeklyWks    float64 // weeks of memory of each day-of-week slot
	hwWeeks      float64 // weeks of memory of each hour-of-week slot; 0 disables it
	hwStart      float64 // seconds of data before the hour-of-week profile learns
	fastTau      float64 // seconds: memory of the sustained-rise average
	slowTau      float64 // seconds: memory of the collapse average
	clip         float64 // residuals are clipped at clip*scale before learning
	avgClip      float64 // residuals are clipped at avgClip*scale before averaging; 0: not clipped ...
	avgFloor     float64 // ... but never closer than this many log units
	minScale     float64 // floor of the residual scale, log units
	warmup       float64 // seconds of data before any alert
	threshold    float64 // one-bucket z at which score = 0.5 and an event starts
	fastThresh   float64 // the same for the sustained-rise z
	minRise      float64 // log units: the sustained rise must be at least this large
	dropThresh   float64 // the same for the collapse z; 0 disables collapses
	minDrop      float64 // log units: a collapse is at least this far below expectation ...
	dropFor      float64 // ... for this many seconds
	alpha        float64 // Poisson tail probability a burst must also reach
	minRate      float64 // mentions per second: floor of the expected count
	recordFactor float64 // a bucket this many times the decaying peak is a burst ...
	recordTau    float64 // ... with the peak forgotten over this many seconds
	endZ         float64 // an event ends once z stays below this ...
	quiet        float64 // ... for this many seconds
	refractory   float64 // seconds after an alert before another may fire
	confirm      float64 // a one-bucket burst alerts only if the next bucket's z reaches this; 0: at once
}

// defaultConfig is the one configuration; see the package doc for why
// each value is what it is.
func defaultConfig() config {
	return config{
		levelTau:     day,
		scaleTau:     3 * day,
		dailyDays:    7,
		weeklyWks:    3,
		hwWeeks:      5,
		hwStart:      day,
		fastTau:      3600,
		slowTau:      3 * 3600,
		clip:         3,
		avgClip:      3,
		avgFloor:     math.Log(3),
		minScale:     0.05,
		warmup:       day,
		threshold:    7,
		fastThresh:   3,
		minRise:      math.Log(1.5),
		dropThresh:   4,
		minDrop:      math.Log(1.5),
		dropFor:      3 * 3600,
		alpha:        1e-6,
		minRate:      1.0 / 3600,
		recordFactor: 2,
		recordTau:    30 * day,
		endZ:         2,
		quiet:        3600,
		refractory:   day,
	}
}

// Update feeds one bucket (its start time in unix seconds and its count)
// and returns the score and whether a new burst starts here. Buckets must
// come in time order; a bucket not after the previous one is scored but
// not learnt from.
func (s *State) Update(unix int64, value float64) Result {
	cfg := defaultConfig()
	return s.update(&cfg, unix, value)
}

func gain(dt, tau float64) float64 {
	if dt <= 0 {
		return 0
	}
	return -math.Expm1(-dt / tau)
}

// slotPos returns the two neighbouring slots and the weight of the second
// for a periodic profile of n slots over period seconds, with slot i
// centred at (i+0.5)*period/n.
func slotPos(t, period int64, n int) (int, int, float64) {
	m := t % period
	if m < 0 {
		m += period
	}
	ph := float64(m)/float64(period)*float64(n) - 0.5
	if ph < 0 {
		ph += float64(n)
	}
	i := int(ph)
	w := ph - float64(i)
	i %= n
	return i, (i + 1) % n, w
}

// addHW moves one hour-of-week slot by d log units, saturating.
func (s *State) addHW(i int, d float64) {
	v := float64(s.hw[i]) + math.Round(d*hwUnit)
	s.hw[i] = int16(math.Max(math.MinInt16, math.Min(math.MaxInt16, v)))
}

// ewmaScale is one step of a robust scale: the EWMA of |x| (x clipped at
// clip scales) times sqrt(pi/2).
func ewmaScale(scale *float32, x, g, clip, floor float64) {
	sc := math.Max(float64(*scale), floor)
	xc := math.Max(-clip*sc, math.Min(clip*sc, x))
	*scale = float32(float64(*scale) + g*(math.Abs(xc)*1.2533-float64(*scale)))
}

// Baseline is the count the detector expects at unix for a series in
// state s, without updating it: the seasonal forecast of the same model.
func (s *State) Baseline(unix int64) float64 {
	if s.n == 0 {
		return 0
	}
	mu0 := math.Max(0, math.Expm1(float64(s.level)+s.season(unix)))
	return mu0 * s.rho()
}

func (s *State) season(t int64) float64 {
	di, dj, dw := slotPos(t, 86400, dailySlots)
	wi, wj, ww := slotPos(t, 7*86400, weeklySlots)
	hi, hj, hw := slotPos(t, 7*86400, hwSlots)
	return float64(s.daily[di])*(1-dw) + float64(s.daily[dj])*dw +
		float64(s.weekly[wi])*(1-ww) + float64(s.weekly[wj])*ww +
		(float64(s.hw[hi])*(1-hw)+float64(s.hw[hj])*hw)/hwUnit
}

// rho is the long-run ratio of counts to exp(baseline)-1, which is a
// geometric-type mean and sits below the arithmetic mean of sparse counts.
func (s *State) rho() float64 {
	if s.cm > 0 {
		return math.Max(0.5, math.Min(4, float64(s.cx)/float64(s.cm)))
	}
	return 1
}

// Scale is the learnt one-bucket residual scale in log units: how far a
// normal bucket strays from the baseline.
func (s *State) Scale() float64 { return float64(s.scale) }

func (s *State) update(cfg *config, t int64, value float64) Result {
	// Counts are finite and non-negative; anything else must not poison
	// a state that lives for months.
	if !(value >= 0) {
		value = 0
	}
	value = math.Min(value, maxCount)
	y := math.Log1p(value)
	// The profiles are keyed on UTC time since the epoch; any fixed origin
	// works because the profiles are learnt, not assumed.
	season := s.season(t)

	if s.n == 0 {
		s.first, s.last = t, t
		s.level = float32(y)
		s.scale = float32(math.Max(cfg.minScale, 0.5))
		s.fscale = float32(math.Max(cfg.minScale, 0.5))
		s.sscale = float32(math.Max(cfg.minScale, 0.5))
		s.n = 1
		s.peak = float32(value)
		return Result{}
	}
	dt := float64(t - s.last)
	age := float64(t - s.first)

	pred := float64(s.level) + season
	scale := math.Max(float64(s.scale), cfg.minScale)
	r := y - pred
	z := r / scale

	mu0 := math.Max(0, math.Expm1(pred))
	mu := math.Max(mu0*s.rho(), cfg.minRate*math.Max(dt, 1))

	// Learning, with residuals clipped so that a burst barely moves the
	// baseline it is measured against.
	rc := math.Max(-cfg.clip*scale, math.Min(cfg.clip*scale, r))
	if dt > 0 {
		warm := math.Max(age, dt)
		gl := gain(dt, math.Min(cfg.levelTau, warm))
		gs := gain(dt, math.Min(cfg.scaleTau, warm))
		di, dj, dw := slotPos(t, 86400, dailySlots)
		wi, wj, ww := slotPos(t, 7*86400, weeklySlots)
		slotW := day / dailySlots
		gd := gain(dt, slotW*math.Min(cfg.dailyDays, math.Max(1, age/day)))
		wslotW := week / weeklySlots
		gw := gain(dt, wslotW*math.Min(cfg.weeklyWks, math.Max(1, age/week)))
		gf := gain(dt, cfg.fastTau)
		gsl := gain(dt, cfg.slowTau)

		s.level += float32(gl * rc)
		s.daily[di] += float32(gd * (1 - dw) * rc)
		s.daily[dj] += float32(gd * dw * rc)
		if age >= day {
			s.weekly[wi] += float32(gw * (1 - ww) * rc)
			s.weekly[wj] += float32(gw * ww * rc)
		}
		if cfg.hwWeeks > 0 && age >= cfg.hwStart {
			// Each hour of the week is seen once a week, so its memory
			// counts in visits; early on it is shortened to the weeks seen.
			hi, hj, hwt := slotPos(t, 7*86400, hwSlots)
			gh := gain(dt, 3600*math.Min(cfg.hwWeeks, math.Max(1, age/week)))
			s.addHW(hi, gh*(1-hwt)*rc)
			s.addHW(hj, gh*hwt*rc)
		}
		ewmaScale(&s.scale, rc, gs, math.Inf(1), 0)
		// The averages of residuals are not clipped: a collapse to zero
		// or a sustained doubling must show its full size. Their scales
		// are learnt from clipped values.
		ra := r
		if cfg.avgClip > 0 {
			c := math.Max(cfg.avgClip*scale, cfg.avgFloor)
			ra = math.Max(-c, math.Min(c, r))
		}
		s.fast = float32(float64(s.fast) + gf*(ra-float64(s.fast)))
		ewmaScale(&s.fscale, float64(s.fast), gs, cfg.clip, cfg.minScale/4)
		s.slow = float32(float64(s.slow) + gsl*(ra-float64(s.slow)))
		ewmaScale(&s.sscale, float64(s.slow), gs, cfg.clip, cfg.minScale/4)
		s.xf = float32(float64(s.xf) + gf*(value-float64(s.xf)))
		s.mf = float32(float64(s.mf) + gf*(mu-float64(s.mf)))
		s.xs = float32(float64(s.xs) + gsl*(value-float64(s.xs)))
		s.ms = float32(float64(s.ms) + gsl*(mu-float64(s.ms)))
		s.cx = float32(float64(s.cx) + gs*(math.Min(value, 3*mu+3)-float64(s.cx)))
		s.cm = float32(float64(s.cm) + gs*(mu0-float64(s.cm)))
		s.last = t
	}
	if s.n < math.MaxUint32 {
		s.n++
	}

	// The sustained-rise statistic is the hour-long average residual over
	// its own learnt scale: residuals are autocorrelated (the profile is
	// never exact), so the textbook sqrt(g/(2-g)) shrinkage would be too
	// optimistic. It is rescaled so both statistics share one threshold.
	zf := float64(s.fast) / math.Max(float64(s.fscale), cfg.minScale/4) * cfg.threshold / cfg.fastThresh
	if float64(s.fast) < cfg.minRise {
		zf = math.Min(zf, cfg.endZ)
	}
	// Both statistics measure size against the series' own variability;
	// a burst must also be unlikely as Poisson counts, or a term with a
	// handful of mentions a day would alert on every coincidence.
	if z >= cfg.endZ && !poissonRare(value, mu, cfg.alpha) {
		z = cfg.endZ
	}
	if zf >= cfg.endZ && dt > 0 {
		gf := gain(dt, cfg.fastTau)
		n := (2 - gf) / gf // buckets whose Poisson sum has the EWMA's variance
		if !poissonRare(n*float64(s.xf), n*float64(s.mf), cfg.alpha) {
			zf = cfg.endZ
		}
	}
	// A collapse is the mirror of a sustained rise over a longer average,
	// and it must last: a feed that drops out for an hour or two is not
	// news, a working day run like a Sunday is.
	zd := 0.0
	if cfg.dropThresh > 0 {
		zd = -float64(s.slow) / math.Max(float64(s.sscale), cfg.minScale/4) * cfg.threshold / cfg.dropThresh
		if -float64(s.slow) < cfg.minDrop {
			zd = math.Min(zd, cfg.endZ)
		}
		if zd >= cfg.endZ && dt > 0 {
			g := gain(dt, cfg.slowTau)
			n := (2 - g) / g
			if !poissonRareLow(n*float64(s.xs), n*float64(s.ms), cfg.alpha) {
				zd = cfg.endZ
			}
		}
	}
	// A new record by a wide margin is a burst whatever the scale says: in
	// sparse series Poisson noise inflates the log scale, so a forty-fold
	// spike can sit below the z threshold.
	if cfg.recordFactor > 0 {
		pk := float64(s.peak) * math.Exp(-math.Max(dt, 0)/cfg.recordTau)
		if pk > 0 && value >= cfg.recordFactor*pk && poissonRare(value, mu, cfg.alpha) {
			z = math.Max(z, cfg.threshold)
		}
		if dt > 0 {
			s.peak = float32(math.Max(pk, value))
		}
	}
	zz := math.Max(z, zf)
	score := 0.0
	if zz > 0 {
		score = zz * zz / (zz*zz + cfg.threshold*cfg.threshold)
	}
	res := Result{Score: score, Expected: mu0 * s.rho(), z: z, zf: zf, zd: zd, mu: mu}
	if zd >= cfg.threshold {
		if s.lowFrom == 0 {
			s.lowFrom = t
		}
	} else {
		s.lowFrom = 0
	}
	if age < cfg.warmup {
		return res
	}
	if s.flags&flagInEvent != 0 {
		cur := zz
		if s.flags&flagDrop != 0 {
			cur = zd
		}
		if cur < cfg.endZ {
			if s.quietFrom == 0 {
				s.quietFrom = t
			}
			if float64(t-s.quietFrom) >= cfg.quiet {
				s.flags &^= flagInEvent | flagDrop
				s.quietFrom = 0
			}
		} else {
			s.quietFrom = 0
		}
		return res
	}
	if s.lastAlert != 0 && float64(t-s.lastAlert) < cfg.refractory {
		return res
	}
	pending := s.flags&flagPending != 0
	s.flags &^= flagPending
	switch {
	case zf >= cfg.threshold || (zz >= cfg.threshold && cfg.confirm == 0) || (pending && math.Max(z, zf) >= cfg.confirm):
		s.flags |= flagInEvent
		res.Alert = true
	case z >= cfg.threshold:
		s.flags |= flagPending
		return res
	case s.lowFrom != 0 && float64(t-s.lowFrom) >= cfg.dropFor:
		s.flags |= flagInEvent | flagDrop
		res.Drop = true
	default:
		return res
	}
	s.lastAlert = t
	s.quietFrom = 0
	return res
}

// poissonRareLow reports whether P(X <= x) <= alpha for X ~ Poisson(mu),
// by the Chernoff bound exp(-mu + x + x ln(mu/x)), which is never below the
// tail: a collapse it calls rare is rare.
func poissonRareLow(x, mu, alpha float64) bool {
	if x >= mu || mu <= 0 {
		return false
	}
	lb := -mu + x
	if x > 0 {
		lb += x * math.Log(mu/x)
	}
	return lb <= math.Log(alpha)
}

// poissonRare reports whether P(X >= x) <= alpha for X ~ Poisson(mu), with
// x allowed to be fractional (the regularised lower incomplete gamma
// P(x, mu) is that tail for integer x and interpolates between).
func poissonRare(x, mu, alpha float64) bool {
	if x <= 0 {
		return false
	}
	if mu <= 0 {
		return true
	}
	// Within three standard deviations the tail is far above any alpha
	// worth using; skipping saves the series below.
	if x-mu < 3*math.Sqrt(mu) {
		return false
	}
	// Series for P(a, m) with a = x > m: e^-m m^a / Gamma(a+1) * sum_k m^k / ((a+1)...(a+k)).
	lg, _ := math.Lgamma(x + 1)
	logHead := -mu + x*math.Log(mu) - lg
	sum, term := 1.0, 1.0
	for k := 1; k < 5000; k++ {
		term *= mu / (x + float64(k))
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return logHead+math.Log(sum) <= math.Log(alpha)
}
