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

	z, zf, pred float64 // diagnostics for tests
}

// State is the whole per-series memory of the detector. It is a fixed-size
// value (no pointers, no slices) so that 200,000 of them fit in a few tens
// of megabytes and serialise to a fixed-length record.
type State struct {
	first     int64 // unix seconds of the first bucket seen
	last      int64 // unix seconds of the latest bucket seen
	lastAlert int64 // unix seconds of the last alert; 0 if none
	quietFrom int64 // unix seconds since which the score has stayed low; 0 while high
	n         uint32
	flags     uint8 // flagInEvent

	level  float32 // log-domain level after removing the seasonal profile
	scale  float32 // robust scale of one-bucket residuals (EWMA of |r|)
	fast   float32 // short EWMA of residuals, for sustained rises
	fscale float32 // robust scale of fast (EWMA of |fast|)
	recent float32 // decaying count of recent alerts

	daily  [dailySlots]float32  // time-of-day profile, log domain, interpolated
	weekly [weeklySlots]float32 // day-of-week profile, log domain, interpolated
}

const flagInEvent = 1

const (
	dailySlots  = 24
	weeklySlots = 7
	day         = 86400.0
	week        = 7 * day
)

// config holds the detector's tunable constants. Production uses
// defaultConfig only; the struct exists so tests can study sensitivity.
type config struct {
	levelTau   float64 // seconds: memory of the deseasonalised level
	scaleTau   float64 // seconds: memory of the residual scale
	dailyDays  float64 // days of memory of each time-of-day slot
	weeklyWks  float64 // weeks of memory of each day-of-week slot
	fastTau    float64 // seconds: memory of the sustained-rise average
	clip       float64 // residuals are clipped at clip*scale before learning
	fclip      float64
	rms        bool
	fatigue    float64
	offset     float64
	fatigueTau float64
	minScale   float64 // floor of the residual scale, log units
	warmup     float64 // seconds of data before any alert
	threshold  float64 // z at which score = 0.5 and an event starts
	fastThresh float64 // threshold on the sustained-rise z
	endZ       float64 // an event ends once z stays below this ...
	quiet      float64 // ... for this many seconds
	refractory float64 // seconds after an alert before another may fire
}

func defaultConfig() config {
	return config{
		levelTau:   day,
		scaleTau:   3 * day,
		dailyDays:  7,
		weeklyWks:  3,
		fastTau:    3600,
		clip:       3,
		fclip:      3,
		fatigue:    0,
		offset:     1,
		fatigueTau: 7 * day,
		minScale:   0.05,
		warmup:     day,
		threshold:  7,
		fastThresh: 3,
		endZ:       2,
		quiet:      3 * 3600,
		refractory: 6 * 3600,
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
func slotPos(t int64, period float64, n int) (int, int, float64) {
	ph := math.Mod(float64(t), period) / period * float64(n)
	ph -= 0.5
	if ph < 0 {
		ph += float64(n)
	}
	i := int(ph)
	w := ph - float64(i)
	i %= n
	return i, (i + 1) % n, w
}

func (s *State) update(cfg *config, t int64, value float64) Result {
	if value < 0 || math.IsNaN(value) {
		value = 0
	}
	y := math.Log(value + cfg.offset)
	// Weekly profile keyed on days since the epoch (a Thursday); any fixed
	// origin works since the profile is learnt.
	wt := t
	di, dj, dw := slotPos(t, day, dailySlots)
	wi, wj, ww := slotPos(wt, week, weeklySlots)
	season := float64(s.daily[di])*(1-dw) + float64(s.daily[dj])*dw +
		float64(s.weekly[wi])*(1-ww) + float64(s.weekly[wj])*ww

	if s.n == 0 {
		s.first, s.last = t, t
		s.level = float32(y)
		s.scale = float32(math.Max(cfg.minScale, 0.5))
		s.fscale = float32(math.Max(cfg.minScale, 0.5))
		s.n = 1
		return Result{}
	}
	dt := float64(t - s.last)
	age := float64(t - s.first)

	pred := float64(s.level) + season
	scale := math.Max(float64(s.scale), cfg.minScale)
	r := y - pred
	z := r / scale

	// Learning, with residuals clipped so that a burst barely moves the
	// baseline it is measured against.
	rc := math.Max(-cfg.clip*scale, math.Min(cfg.clip*scale, r))
	if dt > 0 {
		warm := math.Max(age, dt)
		gl := gain(dt, math.Min(cfg.levelTau, warm))
		gs := gain(dt, math.Min(cfg.scaleTau, warm))
		slotW := day / dailySlots
		gd := gain(dt, slotW*math.Min(cfg.dailyDays, math.Max(1, age/day)))
		wslotW := week / weeklySlots
		gw := gain(dt, wslotW*math.Min(cfg.weeklyWks, math.Max(1, age/week)))
		gf := gain(dt, cfg.fastTau)

		s.level += float32(gl * rc)
		s.daily[di] += float32(gd * (1 - dw) * rc)
		s.daily[dj] += float32(gd * dw * rc)
		if age >= day {
			s.weekly[wi] += float32(gw * (1 - ww) * rc)
			s.weekly[wj] += float32(gw * ww * rc)
		}
		s.scale = float32(float64(s.scale) + gs*(math.Abs(rc)*1.2533-float64(s.scale)))
		s.fast = float32(float64(s.fast) + gf*(rc-float64(s.fast)))
		fs := math.Max(float64(s.fscale), cfg.minScale/4)
		fc := math.Max(-cfg.fclip*fs, math.Min(cfg.fclip*fs, float64(s.fast)))
		if cfg.rms {
			s.fscale = float32(math.Sqrt(fs*fs + gs*(fc*fc-fs*fs)))
		} else {
			s.fscale = float32(float64(s.fscale) + gs*(math.Abs(fc)*1.2533-float64(s.fscale)))
		}
		s.last = t
	}
	if s.n < math.MaxUint32 {
		s.n++
	}

	// The sustained-rise statistic: an EWMA of z over fastTau has, for
	// independent residuals, a standard deviation of sqrt(g/(2-g)) per unit z.
	zf := float64(s.fast) / math.Max(float64(s.fscale), cfg.minScale/4) * cfg.threshold / cfg.fastThresh
	if dt > 0 {
		s.recent = float32(float64(s.recent) * math.Exp(-dt/cfg.fatigueTau))
	}
	zz := math.Max(z, zf) / (1 + cfg.fatigue*float64(s.recent))
	score := 0.0
	if zz > 0 {
		score = zz * zz / (zz*zz + cfg.threshold*cfg.threshold)
	}
	res := Result{Score: score, z: z, zf: zf, pred: pred}
	if age < cfg.warmup {
		return res
	}
	if s.flags&flagInEvent != 0 {
		if zz < cfg.endZ {
			if s.quietFrom == 0 {
				s.quietFrom = t
			}
			if float64(t-s.quietFrom) >= cfg.quiet {
				s.flags &^= flagInEvent
				s.quietFrom = 0
			}
		} else {
			s.quietFrom = 0
		}
		return res
	}
	if zz >= cfg.threshold && (s.lastAlert == 0 || float64(t-s.lastAlert) >= cfg.refractory) {
		s.flags |= flagInEvent
		s.lastAlert = t
		s.quietFrom = 0
		s.recent++
		res.Alert = true
	}
	return res
}
