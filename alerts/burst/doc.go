// Package burst detects bursts in per-term mention counts, online: one
// pass in time order, no look-ahead, a small fixed-size state per series
// that can be saved and resumed without re-alerting.
package burst
