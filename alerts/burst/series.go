package burst

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is one bucket of a series as read from a CSV file. Raw keeps the
// timestamp text so that output rows repeat the input exactly.
type Point struct {
	Raw   string
	Time  time.Time
	Value float64
	// RawValue keeps the value text as given.
	RawValue string
}

// timeLayouts are the timestamp forms accepted in series files; times
// without a zone are UTC.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
}

// ParseTime reads a series timestamp: one of the timeLayouts, or unix
// seconds.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q: not a date-time or unix seconds", s)
}

// ReadSeries parses a `timestamp,value` CSV with a header row. Extra
// columns are ignored; the header may name the columns in any order.
// Errors name the 1-based line.
func ReadSeries(r io.Reader) ([]Point, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("series: empty input, want a timestamp,value header")
	}
	if err != nil {
		return nil, fmt.Errorf("series header: %w", err)
	}
	ti, vi := -1, -1
	for i, h := range head {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "timestamp", "time", "ts":
			ti = i
		case "value", "count":
			vi = i
		}
	}
	if ti < 0 || vi < 0 {
		return nil, fmt.Errorf("series header %q: want columns timestamp and value", strings.Join(head, ","))
	}
	var pts []Point
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return pts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("series: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if ti >= len(rec) || vi >= len(rec) {
			return nil, fmt.Errorf("series line %d: %d fields, want at least %d", line, len(rec), max(ti, vi)+1)
		}
		t, err := ParseTime(rec[ti])
		if err != nil {
			return nil, fmt.Errorf("series line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[vi]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("series line %d: value %q: want a finite count >= 0", line, rec[vi])
		}
		if n := len(pts); n > 0 && !t.After(pts[n-1].Time) {
			return nil, fmt.Errorf("series line %d: timestamp %s not after the previous row %s", line, rec[ti], pts[n-1].Raw)
		}
		pts = append(pts, Point{Raw: rec[ti], Time: t, Value: v, RawValue: rec[vi]})
	}
}

// WriteAlerts writes `timestamp,value,score,alert`, one row per point.
func WriteAlerts(w io.Writer, pts []Point, res []Result) error {
	if len(pts) != len(res) {
		return fmt.Errorf("write alerts: %d points but %d results", len(pts), len(res))
	}
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"timestamp", "value", "score", "alert"}); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	for i, p := range pts {
		a := "0"
		if res[i].Onset() {
			a = "1"
		}
		if err := cw.Write([]string{p.Raw, p.RawValue, strconv.FormatFloat(res[i].Score, 'f', 6, 64), a}); err != nil {
			return fmt.Errorf("write alerts: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	return nil
}

// Run feeds a whole series through a fresh detector, online and in order.
func Run(pts []Point) []Result {
	var s State
	out := make([]Result, len(pts))
	for i, p := range pts {
		out[i] = s.Update(p.Time.Unix(), p.Value)
	}
	return out
}
