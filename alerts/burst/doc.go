// Package burst detects bursts in per-term mention counts, online: one
// pass in time order, no look-ahead, and a small fixed-size State per
// series that is saved and resumed without re-alerting.
//
// # Model
//
// Counts are taken as y = log(1+count), where bursts are multiplicative and
// the daily rhythm of a term is a shape rather than an offset. The expected
// y of a bucket is
//
//	level + daily(time of day) + weekly(day of week)
//
// learnt online in the manner of additive Holt-Winters: the level is an
// exponentially weighted mean with a one-day memory, the daily profile has
// 24 hourly slots (linearly interpolated, so the expectation has no steps
// on the hour) remembering about a week of days, the weekly profile has 7
// daily slots remembering about three weeks. Time constants are in seconds
// and each update's weight is 1-exp(-dt/tau), so the bucket size is
// whatever the timestamps say (5 minutes, an hour, gaps after an outage)
// and no parameter is per-bucket. Early on, every memory is shortened to
// the data seen, so that a new series is usable after a day.
//
// Robustness: every residual is clipped at 3 scales before it is learnt,
// so a burst moves the baseline it is measured against only a little and a
// single outlier hardly at all; scales are mean absolute residuals (times
// sqrt(pi/2), which equals the standard deviation for normal noise),
// a robust and cheaply updated cousin of the MAD.
//
// # Two statistics, one threshold
//
// A burst is either sudden or sustained:
//
//   - z, one bucket's residual over the residual scale; the event threshold
//     is z >= 7. Real mention series are heavy-tailed (news), so this is
//     well above the 3-4 that Gaussian reasoning would suggest.
//   - zf, the residual averaged over about an hour (EWMA, tau = 1 h) over
//     its own learnt scale; threshold zf >= 3. The average has its own scale
//     because residuals are autocorrelated (the seasonal profile is never
//     exact), which makes the textbook shrinkage of an average too
//     optimistic. The averaged rise must also be at least log 1.5: an hour
//     at 1.5 times the usual volume is the least an officer would call a
//     burst, and it keeps very regular high-volume series from alerting on
//     statistically real but tiny shifts.
//
// Both must also be rare as Poisson counts against the expected count
// (P <= 1e-6; about one chance alert per ten term-years at 5-minute
// buckets), with the expected count floored at one mention an hour. This
// is what stops a term with a handful of mentions a day from alerting on
// coincidences: log counts of sparse series are too coarse for z alone.
//
// A third, simpler rule covers what both miss in sparse series, where
// Poisson noise inflates the log scale so much that a forty-fold spike can
// stay below z = 7: a bucket at least twice the series' peak (a maximum
// that decays over a month) is a burst, if it is also Poisson-rare.
//
// Score is zz^2/(zz^2+7^2) with zz = max(z, zf*7/3): 0 at or below the
// baseline, 0.5 at the alert threshold, approaching 1 for large bursts.
//
// # One event, one alert
//
// An alert starts an event. The event lasts until both statistics have
// stayed below 2 for an hour (the same hour that defines "sustained"), and
// a new alert needs at least a day since the last one, so a burst that
// rises, dips and rises again over an afternoon is one alert, and a term
// in the news all day is one alert a day. No alert is raised during the
// first day of a series (there is no baseline yet).
//
// # Parameters
//
// All constants are in defaultConfig; there is one configuration for all
// series and nothing is fitted per series. The memories (a day, three
// days, a week, three weeks, a month), the hour, 1.5x, 2x and 1e-6 come
// from the reasoning above. The two thresholds (7 and 3), the one-day
// refractory period and the one-hour quiet period were picked on the
// nab-tweets corpus from a coarse grid of round values, preferring the
// middle of a plateau to the best single point.
//
// # Quality
//
// On the seven nab-tweets series (NAB standard profile, scored by
// nab_score.py) this configuration scores 80.0: AAPL 85.2, AMZN 64.5,
// CRM 87.2, CVS 76.6, FB 84.5, KO 83.4, PFE 82.8; 22 of 23 windows caught
// with 67 alerts in all. The evaluation test pins that score. It is not a
// robust number: each window is worth about four points, and starting the
// series 100 to 550 buckets later (a different warm-up) gives 76 to 81
// (mean 78). Halving or doubling any one memory, the Poisson level, the
// rate floor or the quiet period keeps the total between 74 and 80. The
// steep directions are the thresholds and the clip (halving them floods
// the officers, doubling the fast threshold loses the sustained bursts:
// 50) and doubling the refractory period (61: a false alarm then hides
// the next real event). Most of the remaining false alarms are real
// spikes that the labels leave out.
//
// # State
//
// The zero State is ready to use; a State is not safe for concurrent use
// (the owner of a term's state updates it). State is a fixed-size value
// with no pointers (200 bytes in memory, 198 serialised), so 200,000
// tracked terms cost about 40 MB and one bucket for all of them takes tens
// of milliseconds on one core. MarshalBinary /
// UnmarshalBinary round-trip it bit for bit: the learnt values are kept as
// float32 in the State itself, so a restored detector continues exactly as
// the saved one would have, including an event in progress (no re-alert).
package burst
