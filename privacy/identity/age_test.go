package identity

import (
	"testing"
	"time"
)

func TestAgeAt(t *testing.T) {
	cst := func(s string) time.Time {
		at, err := time.ParseInLocation("2006-01-02 15:04", s, ChinaTime)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	day := func(s string) time.Time { b, _ := time.Parse("2006-01-02", s); return b }
	cases := []struct {
		name  string
		birth string
		at    time.Time
		age   int
	}{
		{"day before 18th birthday", "2008-03-10", cst("2026-03-09 23:59"), 17},
		{"18th birthday itself is still 17", "2008-03-10", cst("2026-03-10 12:00"), 17},
		{"18th birthday, last minute", "2008-03-10", cst("2026-03-10 23:59"), 17},
		{"day after 18th birthday", "2008-03-10", cst("2026-03-11 00:00"), 18},
		{"UTC evening is the next China day", "2008-03-10", time.Date(2026, 3, 10, 16, 0, 0, 0, time.UTC), 18},
		{"UTC 15:59 is still the birthday", "2008-03-10", time.Date(2026, 3, 10, 15, 59, 0, 0, time.UTC), 17},
		{"29 Feb child on 28 Feb of a common year", "2008-02-29", cst("2026-02-28 10:00"), 17},
		{"29 Feb child on 1 Mar of a common year", "2008-02-29", cst("2026-03-01 00:00"), 18},
		{"29 Feb child on 29 Feb of a leap year", "2008-02-29", cst("2028-02-29 10:00"), 19},
		{"29 Feb child on 1 Mar of a leap year", "2008-02-29", cst("2028-03-01 10:00"), 20},
		{"28 Feb child in a leap year", "2008-02-28", cst("2028-02-29 10:00"), 20},
		{"31 Dec child on new year", "2007-12-31", cst("2026-01-01 00:00"), 18},
		{"adult long ago", "1970-06-01", cst("2026-12-05 10:00"), 56},
		{"born today", "2026-12-05", cst("2026-12-05 10:00"), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := AgeAt(day(c.birth), c.at); got != c.age {
				t.Errorf("AgeAt(%s, %s) = %d, want %d", c.birth, c.at.In(ChinaTime), got, c.age)
			}
		})
	}
}

func TestBirthDate(t *testing.T) {
	n := SyntheticBorn("420199", time.Date(2008, 2, 29, 0, 0, 0, 0, time.UTC), 3)
	if err := ValidateResident(n, time.Now()); err != nil {
		t.Fatalf("SyntheticBorn made an invalid number %s: %v", n, err)
	}
	b, ok := BirthDate(n)
	if !ok || b.Format("2006-01-02") != "2008-02-29" {
		t.Errorf("BirthDate(%s) = %v %v", n, b, ok)
	}
	if _, ok := BirthDate("42019920080230991X"); ok {
		t.Error("30 February accepted")
	}
}
