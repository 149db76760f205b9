package chinesedate

import (
	"errors"
	"testing"
	"time"
)

var cst = time.FixedZone("CST", 8*3600)

// now is a fixed clock: 2026-11-28 16:30:00 in China.
var now = time.Date(2026, 11, 28, 16, 30, 0, 0, cst)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		layout string
		want   time.Time
	}{
		{"2026年11月28日 14:05", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"发布时间：2026年11月28日14:05", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"2026年11月28日 14时05分", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"2026年11月28日 下午2:05", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"２０２６年１１月２８日　１４：０５", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"2026年11月28日", "", time.Date(2026, 11, 28, 0, 0, 0, 0, cst)},
		{"3小时前", "", now.Add(-3 * time.Hour)},
		{"15分钟前", "", now.Add(-15 * time.Minute)},
		{"半小时前", "", now.Add(-30 * time.Minute)},
		{"2天前", "", now.AddDate(0, 0, -2)},
		{"刚刚", "", now},
		{"昨天 10:20", "", time.Date(2026, 11, 27, 10, 20, 0, 0, cst)},
		{"前天 08:00:30", "", time.Date(2026, 11, 26, 8, 0, 30, 0, cst)},
		{"今天 09:15", "", time.Date(2026, 11, 28, 9, 15, 0, 0, cst)},
		{"2026-11-28 14:05", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"2026/11/28 14:05:09", "", time.Date(2026, 11, 28, 14, 5, 9, 0, cst)},
		{"2026-11-28", "", time.Date(2026, 11, 28, 0, 0, 0, 0, cst)},
		{"11月27日 22:10", "", time.Date(2026, 11, 27, 22, 10, 0, 0, cst)},
		{"12月30日 22:10", "", time.Date(2025, 12, 30, 22, 10, 0, 0, cst)},
		{"发表于 11-28 09:01", "", time.Date(2026, 11, 28, 9, 1, 0, 0, cst)},
		{"Sat, 28 Nov 2026 06:05:00 GMT", "", time.Date(2026, 11, 28, 6, 5, 0, 0, time.UTC)},
		{"Sat, 28 Nov 2026 14:05:00 +0800", "", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
		{"2026-11-28T06:05:00Z", "", time.Date(2026, 11, 28, 6, 5, 0, 0, time.UTC)},
		{"28.11.2026 14h05", "02.01.2006 15h04", time.Date(2026, 11, 28, 14, 5, 0, 0, cst)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLayout(tt.in, tt.layout, now, cst)
			if err != nil {
				t.Fatalf("ParseLayout(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseLayout(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		in     string
		noDate bool
	}{
		{"", true},
		{"作者：张三", true},
		{"2026年13月28日", false},
		{"2026年2月30日", false},
		{"2026-11-28 25:00", false},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in, now, cst)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error", tt.in)
			continue
		}
		if got := errors.Is(err, ErrNoDate); got != tt.noDate {
			t.Errorf("Parse(%q) err = %v, ErrNoDate = %v want %v", tt.in, err, got, tt.noDate)
		}
	}
}

// FuzzParse feeds arbitrary page text to the parser: it must not panic, and
// any instant it returns must survive a round trip through the canonical
// Chinese format, which catches out-of-range fields slipping through.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2026年11月28日 14:05", "3小时前", "昨天 10:20", "2026-11-28 14:05",
		"Sat, 28 Nov 2026 06:05:00 GMT", "11-28 09:01", "12月30日", "下午2:05", "９９９９年"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s, now, cst)
		if err != nil {
			return
		}
		if got.IsZero() {
			t.Fatalf("Parse(%q) returned zero time without error", s)
		}
		local := got.In(cst)
		if local.Year() < 1 || local.Year() > 9999 {
			return // relative forms may reach far; the canonical form has 4-digit years
		}
		canon := local.Format("2006年1月2日 15:04:05")
		back, err := Parse(canon, now, cst)
		if err != nil {
			if local.Year() < 1970 || local.Year() > 2200 {
				return // outside the absolute range the parser accepts, by design
			}
			t.Fatalf("round trip of %q via %q: %v", s, canon, err)
		}
		if !back.Equal(local.Truncate(time.Second)) {
			t.Fatalf("round trip of %q: %v != %v", s, back, local)
		}
	})
}
