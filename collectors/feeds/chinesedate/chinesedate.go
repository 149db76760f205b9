// Package chinesedate turns the publication times printed on Chinese news
// sites, forums and feeds into instants. Pages print absolute dates
// ("2026年11月28日 14:05", "2026-11-28 14:05", RFC 1123 in feeds) as well as
// relative ones ("3小时前", "昨天 10:20"); relative ones are resolved against a
// clock the caller passes in, so results are reproducible in tests.
package chinesedate

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNoDate is returned when no known date form is found in the text.
var ErrNoDate = errors.New("no recognisable date")

// Parse finds the first date in s. Times without a zone are read in loc
// (nil means Asia/Shanghai-like UTC+8, the zone of the sites we crawl).
// Relative forms are resolved against now. Dates without a year take now's
// year, or the previous year when that would put them more than a day in the
// future (a "12月31日" seen on 1 January).
func Parse(s string, now time.Time, loc *time.Location) (time.Time, error) {
	return ParseLayout(s, "", now, loc)
}

// ParseLayout is Parse with a site-specific Go time layout tried first.
func ParseLayout(s, layout string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = chinaZone
	}
	now = now.In(loc)
	s = normalize(s)
	if s == "" {
		return time.Time{}, ErrNoDate
	}
	if layout != "" {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	for _, l := range stdLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	for _, f := range forms {
		if m := f.re.FindStringSubmatch(s); m != nil {
			t, err := f.build(m, now, loc)
			if err != nil {
				return time.Time{}, fmt.Errorf("parse date %q: %w", s, err)
			}
			return t, nil
		}
	}
	return time.Time{}, ErrNoDate
}

// chinaZone is fixed rather than loaded so that Parse works on hosts
// without tzdata; mainland China has no daylight saving time.
var chinaZone = time.FixedZone("CST", 8*3600)

// stdLayouts are the machine formats feeds use; they must match the whole
// string, so they are tried before the searching forms.
var stdLayouts = []string{
	time.RFC1123Z, time.RFC1123, time.RFC3339Nano, time.RFC3339,
	time.RFC822Z, time.RFC822, time.RFC850, time.ANSIC,
	"Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
}

var fullWidth = strings.NewReplacer(
	"０", "0", "１", "1", "２", "2", "３", "3", "４", "4",
	"５", "5", "６", "6", "７", "7", "８", "8", "９", "9",
	"：", ":", "／", "/", "－", "-", "\u00a0", " ", "\u3000", " ",
)

func normalize(s string) string {
	s = fullWidth.Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

type form struct {
	re    *regexp.Regexp
	build func(m []string, now time.Time, loc *time.Location) (time.Time, error)
}

// Order matters: longer, more specific forms come first so that
// "2026年11月28日 14:05" is not read as "11月28日 14:05".
var forms = []form{
	{regexp.MustCompile(`(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?(?:\s*(?:[上下]午)?\s*(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*分?(?:\s*:\s*(\d{1,2})\s*秒?)?)?`), absolute(1, 2, 3, 4, 5, 6)},
	{regexp.MustCompile(`(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?`), absolute(1, 2, 3, 4, 5, 6)},
	{regexp.MustCompile(`(\d+)\s*(秒|分钟|分|小时|个小时|天|日|周|星期|个月|月|年)\s*(?:钟)?以?前`), relativeAgo},
	{regexp.MustCompile(`半\s*(?:个)?\s*小时\s*前`), func(_ []string, now time.Time, _ *time.Location) (time.Time, error) {
		return now.Add(-30 * time.Minute), nil
	}},
	{regexp.MustCompile(`刚刚|刚才`), func(_ []string, now time.Time, _ *time.Location) (time.Time, error) { return now, nil }},
	{regexp.MustCompile(`(今天|昨天|前天|大前天)\s*(?:(\d{1,2})\s*[:时点]\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?)?`), dayWord},
	{regexp.MustCompile(`(\d{1,2})\s*月\s*(\d{1,2})\s*[日号](?:\s*(\d{1,2})\s*[:时点]\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?)?`), yearless(1, 2, 3, 4, 5)},
	{regexp.MustCompile(`(?:^|[^\d])(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?`), yearless(1, 2, 3, 4, 5)},
}

func num(s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func clock(h, mi, sec string) (int, int, int, error) {
	H, M, S := num(h), num(mi), num(sec)
	if H < 0 || H > 23 || M < 0 || M > 59 || S < 0 || S > 59 {
		return 0, 0, 0, fmt.Errorf("time of day %s:%s:%s out of range", h, mi, sec)
	}
	return H, M, S, nil
}

func date(y, mo, d, H, M, S int, loc *time.Location) (time.Time, error) {
	if y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, fmt.Errorf("date %d-%d-%d out of range", y, mo, d)
	}
	t := time.Date(y, time.Month(mo), d, H, M, S, 0, loc)
	if t.Day() != d {
		return time.Time{}, fmt.Errorf("no day %d in %d-%02d", d, y, mo)
	}
	return t, nil
}

func absolute(y, mo, d, h, mi, s int) func([]string, time.Time, *time.Location) (time.Time, error) {
	return func(m []string, _ time.Time, loc *time.Location) (time.Time, error) {
		H, M, S, err := clock(m[h], m[mi], m[s])
		if err != nil {
			return time.Time{}, err
		}
		// A 下午 marker with a 12-hour clock ("下午 2:05") means 14:05.
		if strings.Contains(m[0], "下午") && H < 12 {
			H += 12
		}
		return date(num(m[y]), num(m[mo]), num(m[d]), H, M, S, loc)
	}
}

func yearless(mo, d, h, mi, s int) func([]string, time.Time, *time.Location) (time.Time, error) {
	return func(m []string, now time.Time, loc *time.Location) (time.Time, error) {
		H, M, S, err := clock(m[h], m[mi], m[s])
		if err != nil {
			return time.Time{}, err
		}
		t, err := date(now.Year(), num(m[mo]), num(m[d]), H, M, S, loc)
		if err != nil {
			return time.Time{}, err
		}
		if t.After(now.Add(24 * time.Hour)) {
			return date(now.Year()-1, num(m[mo]), num(m[d]), H, M, S, loc)
		}
		return t, nil
	}
}

func relativeAgo(m []string, now time.Time, _ *time.Location) (time.Time, error) {
	n := num(m[1])
	if n < 0 || n > 100000 {
		return time.Time{}, fmt.Errorf("relative amount %q out of range", m[1])
	}
	switch m[2] {
	case "秒":
		return now.Add(-time.Duration(n) * time.Second), nil
	case "分钟", "分":
		return now.Add(-time.Duration(n) * time.Minute), nil
	case "小时", "个小时":
		return now.Add(-time.Duration(n) * time.Hour), nil
	case "天", "日":
		return now.AddDate(0, 0, -n), nil
	case "周", "星期":
		return now.AddDate(0, 0, -7*n), nil
	case "个月", "月":
		return now.AddDate(0, -n, 0), nil
	default: // 年
		return now.AddDate(-n, 0, 0), nil
	}
}

func dayWord(m []string, now time.Time, loc *time.Location) (time.Time, error) {
	back := map[string]int{"今天": 0, "昨天": 1, "前天": 2, "大前天": 3}[m[1]]
	day := now.AddDate(0, 0, -back)
	if m[2] == "" {
		// "昨天" alone: the day is all we know; midnight keeps ordering stable.
		return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc), nil
	}
	H, M, S, err := clock(m[2], m[3], m[4])
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(day.Year(), day.Month(), day.Day(), H, M, S, 0, loc), nil
}
