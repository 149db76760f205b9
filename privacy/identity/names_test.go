package identity

import (
	"strings"
	"testing"
)

// TestNumbersInFreeTextAreFoundAsAReaderSeesThem: an identity number typed
// into free text is masked and hashed as the number however it is spelled:
// broken up by spaces, dashes or invisible characters, in full-width,
// Arabic-Indic or mathematical digits. Short numbers (dates, phones, room
// numbers, addresses) stay.
func TestNumbersInFreeTextAreFoundAsAReaderSeesThem(t *testing.T) {
	num := Synthetic("420199", 7)
	p, err := NewProtector(Keys{IDHash: []byte("0123456789abcdef0123456789abcdef"), IDEnc: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	want := p.Hash(TypeResident, num)
	spaced := num[:6] + " " + num[6:14] + " " + num[14:]
	dashed := num[:4] + "-" + num[4:8] + "-" + num[8:12] + "-" + num[12:16] + "-" + num[16:]
	toScript := func(zero rune) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return zero + (r - '0')
			}
			return r
		}, num)
	}
	for _, tc := range []struct {
		name, in string
	}{
		{"plain", "查 " + num},
		{"spaced", "查 " + spaced},
		{"dashed", dashed + " 住客"},
		{"zero-width spaces", strings.Join(strings.Split(num, ""), "\u200b")},
		{"soft hyphens and bidi marks", num[:9] + "\u00ad\u200e" + num[9:]},
		{"ideographic and no-break spaces", num[:6] + "\u3000" + num[6:12] + "\u00a0" + num[12:]},
		{"full-width", toScript('０')},
		{"Arabic-Indic", toScript('٠')},
		{"mathematical bold", toScript('𝟎')},
		{"mathematical monospace", toScript('𝟶')},
		{"lower-case x", strings.ToLower(Synthetic("420199", 3))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(NumberRuns(tc.in)) != 1 {
				t.Fatalf("NumberRuns(%q) = %v, want one run", tc.in, NumberRuns(tc.in))
			}
			m := MaskNumbers(tc.in)
			if digits := runNumber(m); strings.Contains(digits, num[6:14]) {
				t.Errorf("MaskNumbers(%q) = %q still shows the birth date", tc.in, m)
			}
			sc := p.Scrub(tc.in)
			if tc.name != "lower-case x" && (len(sc.Hashes) != 1 || sc.Hashes[0] != want) {
				t.Errorf("Scrub(%q) hashes %v, want the number's %s", tc.in, sc.Hashes, want)
			}
		})
	}
	for _, keep := range []string{"2026-12-05 15:04:05", "027-8888 6666", "10.21.2.71", "A004 房间 1203", "52:54:00:66:03:5f",
		"2026-12-05T15:06:42Z", "电话 13907181234"} {
		if r := NumberRuns(keep); len(r) != 0 {
			t.Errorf("NumberRuns(%q) = %v, want none", keep, r)
		}
	}
}

// FuzzMaskNumbers: whatever the text, a masked text holds no number run
// any more, runs lie on character boundaries in order, and the text
// outside the runs is kept.
func FuzzMaskNumbers(f *testing.F) {
	for _, s := range []string{Synthetic("420199", 7), "a 4201 9919 7602 1799 23 b", "٤٢٠١٩٩١٩٦٥٠٩١٧٩٩٧٥", "1\u200b2\u200b3", "x\xff123456789012X9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		for _, r := range NumberRuns(s) {
			if r[0] < last || r[1] <= r[0] || r[1] > len(s) {
				t.Fatalf("NumberRuns(%q) = %v: bad run %v", s, NumberRuns(s), r)
			}
			last = r[1]
		}
		if m := MaskNumbers(s); len(NumberRuns(m)) != 0 {
			t.Fatalf("MaskNumbers(%q) = %q still holds a run %v", s, m, NumberRuns(m))
		}
	})
}
