package reports

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cst is the officers' clock. China has kept UTC+8 without daylight saving
// since 1991, so a fixed zone is exact and needs no tz database.
var cst = time.FixedZone("CST", 8*3600)

// Period is a reporting week (ISO 8601, Monday to Monday) or calendar month,
// in China Standard Time, half-open: [Start, End).
type Period struct {
	Kind  string // "week" or "month"
	Year  int
	Num   int // ISO week number or month
	Start time.Time
	End   time.Time
}

// ParsePeriod reads "2026-W48" (ISO week) or "2026-11" (month).
func ParsePeriod(s string) (Period, error) {
	y, rest, ok := strings.Cut(s, "-")
	if !ok || len(y) != 4 || !digits(y) || !digits(strings.TrimPrefix(rest, "W")) {
		return Period{}, fmt.Errorf("period %q: want YYYY-Www or YYYY-MM", s)
	}
	year, err := strconv.Atoi(y)
	if err != nil || year < 2000 || year > 2999 {
		return Period{}, fmt.Errorf("period %q: year must be 2000 to 2999", s)
	}
	if strings.HasPrefix(rest, "W") {
		w, err := strconv.Atoi(rest[1:])
		if err != nil || len(rest) != 3 || w < 1 || w > isoWeeks(year) {
			return Period{}, fmt.Errorf("period %q: week must be W01 to W%02d", s, isoWeeks(year))
		}
		return Week(year, w), nil
	}
	m, err := strconv.Atoi(rest)
	if err != nil || len(rest) != 2 || m < 1 || m > 12 {
		return Period{}, fmt.Errorf("period %q: month must be 01 to 12", s)
	}
	return Month(year, time.Month(m)), nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Week returns ISO week w of year.
func Week(year, w int) Period {
	// January 4th is always in week 1.
	jan4 := time.Date(year, 1, 4, 0, 0, 0, 0, cst)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	start := monday.AddDate(0, 0, 7*(w-1))
	return Period{Kind: "week", Year: year, Num: w, Start: start, End: start.AddDate(0, 0, 7)}
}

// Month returns calendar month m of year.
func Month(year int, m time.Month) Period {
	start := time.Date(year, m, 1, 0, 0, 0, 0, cst)
	return Period{Kind: "month", Year: year, Num: int(m), Start: start, End: start.AddDate(0, 1, 0)}
}

func isoWeeks(year int) int {
	_, w := time.Date(year, 12, 28, 0, 0, 0, 0, cst).ISOWeek()
	return w
}

// Previous is the period of the same kind just before p.
func (p Period) Previous() Period {
	if p.Kind == "month" {
		prev := p.Start.AddDate(0, -1, 0)
		return Month(prev.Year(), prev.Month())
	}
	y, w := p.Start.AddDate(0, 0, -7).ISOWeek()
	return Week(y, w)
}

// LastComplete is the last whole period of kind that ended at or before now.
func LastComplete(kind string, now time.Time) Period {
	now = now.In(cst)
	if kind == "month" {
		prev := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, cst).AddDate(0, -1, 0)
		return Month(prev.Year(), prev.Month())
	}
	y, w := now.ISOWeek()
	return Week(y, w).Previous()
}

// String is the form ParsePeriod reads.
func (p Period) String() string {
	if p.Kind == "month" {
		return fmt.Sprintf("%04d-%02d", p.Year, p.Num)
	}
	return fmt.Sprintf("%04d-W%02d", p.Year, p.Num)
}

// Days lists the local dates of the period, for daily charts.
func (p Period) Days() []string {
	var out []string
	for d := p.Start; d.Before(p.End); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}
