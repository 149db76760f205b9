package identity

import (
	"fmt"
	"time"
)

// ChinaTime is the civil time in which ages are counted: a birthday begins
// at local midnight, whatever the zone a record's times are written in.
var ChinaTime = time.FixedZone("CST", 8*3600)

// AdultAge is the age of majority (Civil Code art. 17).
const AdultAge = 18

// BirthDate returns the birth date a resident ID number carries (GB 11643,
// characters 7 to 14), as midnight UTC of that date, and whether it is a
// real date.
func BirthDate(n string) (time.Time, bool) {
	if len(n) != 18 {
		return time.Time{}, false
	}
	b, err := time.Parse("20060102", n[6:14])
	if err != nil || b.Year() < 1900 {
		return time.Time{}, false
	}
	return b, true
}

// AgeAt is the age in full years (周岁) at the moment at, counted on the
// calendar in China time the way the courts count it: a year of age is
// complete only from the day after its birthday (Supreme People's Court,
// 法释〔2006〕1号 art. 2: "从周岁生日的第二天起算"). So on the 18th birthday
// itself a person is still 17. A birthday that does not exist in a year (29
// February in a common year) falls on the last day of that month (Civil
// Code art. 202), so a 29 February child is 18 from 1 March.
func AgeAt(birth, at time.Time) int {
	day := at.In(ChinaTime)
	y, m, d := day.Date()
	age := y - birth.Year()
	if !dateAfter(y, m, d, anniversary(birth, y)) {
		age--
	}
	return max(age, 0)
}

// IsMinorAt reports whether someone born on birth is under AdultAge at at.
func IsMinorAt(birth, at time.Time) bool { return AgeAt(birth, at) < AdultAge }

// anniversary is birth's month and day in year y, moved to the month's last
// day when the month is shorter that year.
func anniversary(birth time.Time, y int) [2]int {
	m, d := birth.Month(), birth.Day()
	if last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day(); d > last {
		d = last
	}
	return [2]int{int(m), d}
}

func dateAfter(_ int, m time.Month, d int, ann [2]int) bool {
	if int(m) != ann[0] {
		return int(m) > ann[0]
	}
	return d > ann[1]
}

// SyntheticBorn is Synthetic with a chosen birth date, for demo minors.
func SyntheticBorn(area string, birth time.Time, n int) string {
	s := fmt.Sprintf("%s%s99%d", area, birth.Format("20060102"), n%10)
	return s + string(CheckDigit(s))
}
