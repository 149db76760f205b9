// Package burst detects bursts (and collapses) in count series such as
// per-term mentions, online: one pass in time order, no look-ahead, and a
// small fixed-size State per series that is saved and resumed without
// re-alerting.
//
// # Model
//
// Counts are taken as y = log(1+count), where bursts are multiplicative and
// the daily rhythm of a term is a shape rather than an offset. The expected
// y of a bucket is
//
//	level + daily(time of day) + weekly(day of week) + hourOfWeek(hour of the week)
//
// learnt online in the manner of additive Holt-Winters: the level is an
// exponentially weighted mean with a one-day memory, the daily profile has
// 24 hourly slots (linearly interpolated, so the expectation has no steps
// on the hour) remembering about a week of days, the weekly profile has 7
// daily slots remembering about three weeks. The hour-of-week profile (168
// interpolated slots, five weeks of memory, one visit a week) carries what
// the week does to the shape of a day: a Saturday night is busy and a
// Sunday has no morning rush. Without it a series with a strong weekly
// shape alerts every weekend (a taxi-like series: 46 alerts for 5 events).
// All components learn from the same clipped residual, the fast ones first,
// so a new series starts with the daily shape and grows the weekly one.
// Time constants are in seconds and each update's weight is
// 1-exp(-dt/tau), so the bucket size is whatever the timestamps say (5
// minutes, an hour, gaps after an outage) and no parameter is per-bucket.
// Early on, every memory is shortened to the data seen, so that a new
// series is usable after a day.
//
// Robustness: every residual is clipped at 3 scales before it is learnt,
// so a burst moves the baseline it is measured against only a little and a
// single outlier hardly at all; scales are mean absolute residuals (times
// sqrt(pi/2), which equals the standard deviation for normal noise),
// a robust and cheaply updated cousin of the MAD.
//
// # What it says
//
// Every bucket is explained by three numbers: the expected count
// (Result.Expected, the baseline above as a count; State.Baseline gives it
// for any time, which is the forecast of the same model), how far above it
// this is in units of the series' own variability, and why that is rare:
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
//     burst. The averaged residuals are clipped at 3 scales, but never
//     closer than a factor of 3, so the average measures persistence (one
//     huge bucket is z's business) and still shows the full size of a
//     doubling in a very regular series.
//   - a collapse: the residual averaged over three hours, below the
//     baseline by at least a factor 1.5 and by 4 of its own scales (the
//     same rescaling puts it on the z scale, threshold 7), for three hours
//     on end. A feed that drops out for an hour or two is not news; a
//     working day run like a Sunday, a storm or an intake outage is. It is
//     reported as Result.Drop, not as Alert: topic alerts are about terms
//     rising, while `netpulse trends eval` writes either as an alert (an
//     event in the series).
//
// Each must also be rare as Poisson counts against the expected count (P
// <= 1e-6, upper tail for rises, the Chernoff bound of the lower tail for
// collapses; about one chance alert per ten term-years at 5-minute
// buckets), with the expected count floored at one mention an hour. This is
// what stops a term with a handful of mentions a day from alerting on
// coincidences: log counts of sparse series are too coarse for z alone.
//
// A fourth, simpler rule covers what the others miss in sparse series,
// where Poisson noise inflates the log scale so much that a forty-fold spike
// can stay below z = 7: a bucket at least twice the series' peak (a maximum
// that decays over a month) is a burst, if it is also Poisson-rare.
//
// Score is zz^2/(zz^2+7^2) with zz = max(z, zf*7/3): 0 at or below the
// baseline, 0.5 at the alert threshold, approaching 1 for large bursts.
//
// # One event, one alert
//
// An alert starts an event. The event lasts until its statistic has stayed
// below 2 for an hour (the same hour that defines "sustained"), and a new
// alert of either kind needs at least a day since the last one, so a burst
// that rises, dips and rises again over an afternoon is one alert, and a
// term in the news all day is one alert a day. No alert is raised during
// the first day of a series (there is no baseline yet).
//
// # Parameters
//
// All constants are in defaultConfig; there is one configuration for all
// series and nothing is fitted per series. The memories (a day, three
// days, a week, three and five weeks, a month), the hour, three hours,
// 1.5x, 2x, 3x and 1e-6 come from the reasoning above. The thresholds (7,
// 3 and 4), the one-day refractory period and the one-hour quiet period
// were picked from a coarse grid of round values on the two sets below
// together, preferring the middle of a plateau to the best single point.
//
// # Quality
//
// Two sets, both scored with nab_score.py (NAB standard profile):
//
//   - nab-tweets, seven real mention series: 80.4 (was 80.0 before the
//     weekly shape and collapses): AAPL 85.2, AMZN 63.1, CRM 89.0, CVS 82.7,
//     FB 78.1, KO 82.4, PFE 84.1 (before: 85.2, 64.5, 87.2, 76.6, 84.5,
//     83.4, 82.8).
//   - five generated seasonal count series (seasonal_test.go: daily shapes
//     that differ by day type, a weekly level, labelled holidays, a slow
//     trend, a level shift, day-to-day weather, negative-binomial noise, 2-3
//     injected events each of known size): 91.5: taxi-like 30 min 91.7,
//     deliveries 1 h 92.8, traffic 5 min 88.6, a weather word 10 min 91.4,
//     a venue 30 min 92.8 (before: 8.7, 46.2, 27.7, 75.1, 7.2; pooled
//     32.5). The same specifications drawn with five other seeds score
//     90.2 to 91.6.
//
// Leave one series out (TestLeaveOneOut): pick the thresholds from a 3x3x3
// grid (z 6/7/8, zf 2.5/3/3.5, collapse 3/4/5) on the eleven other series,
// score the one left out. By the best grid point: nab-tweets 73.8, seasonal
// 91.5; by the best plateau (mean over grid neighbours): 76.6 and 91.8.
// The seasonal figure is stable; the mention figure is not: two series
// (CRM, KO) lose 15 to 30 points when the held-out choice moves one grid
// step, because each window there is worth 8 to 17 points and the labels
// leave out many real spikes. Starting the nab-tweets series 100 to 550
// buckets later gives 76.3 to 80.4 (mean 78.3). The evaluation tests pin
// every per-series score.
//
// # Outlook
//
// State.Outlook forecasts the next hours from the same model: the seasonal
// baseline for each coming bucket times the last hour's excess over it
// (counts over expected counts), the excess halving every hour, with an
// 80% interval whose log-width combines the scale of three-hour residuals
// and the size of the excess. Its direction compares the last hour's
// excess with the last three hours': 上升 (rising) above 1.2 times, 回落
// (fading) below 1/1.2, 高位持平 (peaking) between. Measured over every hour
// after the first week, three hours ahead (TestForecast), against the
// naive seasonal forecast (the same hours a week earlier), mean |log
// error|: nab-tweets 0.313 vs 0.462, and in the six hours after an alert
// 0.361 vs 0.597; seasonal series 0.101 vs 0.140, after an alert 0.396 vs
// 0.546. The 80% interval covered 77.9% / 82.6% (nab-tweets, where its
// width was set) and 91.1% / 82.7% (seasonal).
//
// # State
//
// The zero State is ready to use; a State is not safe for concurrent use
// (the owner of a term's state updates it). State is a fixed-size value
// with no pointers (560 bytes in memory, 558 serialised; the hour-of-week
// profile is kept as int16 in 1/4096 log units), so 200,000 tracked terms
// cost about 110 MB and one bucket for all of them takes about 70 ms on one
// core. MarshalBinary / UnmarshalBinary round-trip it bit for bit: the
// learnt values are kept in the State itself, so a restored detector
// continues exactly as the saved one would have, including an event in
// progress (no re-alert). Version-1 records (before the hour-of-week
// profile) are still read: the new parts start at rest.
package burst
