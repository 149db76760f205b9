package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Names are personal data like numbers: they travel and rest as a keyed
// hash (exact search), a ciphertext (reveal) and a mask (lists), never in
// clear outside a logged reveal.

// NormalizeName canonicalises a name as typed, so that the same name typed
// twice hashes alike: NFC, surrounding space trimmed, inner runs of space
// (including the ideographic space) collapsed to one ASCII space, Latin
// letters upper-cased.
func NormalizeName(s string) string {
	s = norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD"))
	return strings.ToUpper(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// MaskName shows the first character of a name and one star (王*): the
// star does not say how long the name is.
func MaskName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(s)
	return string(r) + "*"
}

// NameHash is the lookup hash of a name, in its own domain so that a name
// never hashes like a number.
func (p *Protector) NameHash(name string) string {
	m := p.mac()
	defer p.macs.Put(m)
	m.Write([]byte("name\x00"))
	m.Write([]byte(NormalizeName(name)))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// minNumberRun is the shortest digit run treated as an identity number in
// free text: shorter runs (dates, phone extensions, room numbers) stay;
// longer ones (15- and 18-character resident numbers, most passport and
// card numbers, and partial numbers long enough to narrow a person down)
// are masked.
const minNumberRun = 12

// maxSeparators is the longest stretch of separators a number run may
// span: "4201 9919-7602 1799 23" is one number to a reader, and so is one
// with a zero-width space between digits; two numbers far apart are not.
const maxSeparators = 3

// NumberRuns finds the runs in s that look like identity numbers: at least
// minNumberRun decimal digits of any script (ASCII, full-width, Arabic-
// Indic, mathematical…), optionally ending in X, possibly broken up by
// spaces, dashes, dots, slashes or invisible format characters, which a
// reader skips. It returns byte offsets [start, end) of each run, from its
// first digit to its last digit or X.
func NumberRuns(s string) [][2]int {
	var out [][2]int
	start, end, digits, seps := -1, -1, 0, 0
	flush := func() {
		if start >= 0 && digits >= minNumberRun {
			out = append(out, [2]int{start, end})
		}
		start, end, digits, seps = -1, -1, 0, 0
	}
	for i, r := range s {
		switch {
		case unicode.IsDigit(r):
			if start < 0 {
				start = i
			}
			digits++
			end, seps = i+utf8.RuneLen(r), 0
		case isCheckX(r) && start >= 0 && seps == 0:
			digits++
			end = i + utf8.RuneLen(r)
			flush()
		case start >= 0 && numberSeparator(r) && seps < maxSeparators:
			seps++
		default:
			flush()
		}
	}
	flush()
	return out
}

func isCheckX(r rune) bool { return r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ' }

// numberSeparator reports whether r may sit between the digits of a number
// as a reader sees it: white space, dashes, dots, slashes, underscores and
// format characters (zero-width space and joiner, bidi marks, soft hyphen).
func numberSeparator(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Pd, r) ||
		strings.ContainsRune("._/·．／＿", r)
}

// runNumber is the number a run spells: its digits as ASCII whatever their
// script, a trailing X upper case, separators dropped; so a number typed
// with spaces or in full-width digits masks and hashes as the number.
func runNumber(run string) string {
	var b strings.Builder
	for _, r := range run {
		switch {
		case unicode.IsDigit(r):
			b.WriteByte('0' + digitValue(r))
		case isCheckX(r):
			b.WriteByte('X')
		}
	}
	return b.String()
}

// digitValue is the value of a decimal digit of any script: Unicode
// places each script's digits 0 to 9 in a row, so the value is the
// distance from the start of that row (rows that follow one another, as
// the mathematical digits do, count in tens).
func digitValue(r rune) byte {
	z := r
	for unicode.IsDigit(z - 1) {
		z--
	}
	return byte((r - z) % 10)
}

// Scrubbed is free text with its identity-number-like runs masked, and
// the keyed hashes of those runs (as resident numbers when they have that
// form, else as "other"), so that an auditor can still tell which person a
// filter was about without the log holding the number.
type Scrubbed struct {
	Text   string
	Hashes []string
}

// Scrub masks every run in s that looks like an identity number.
func (p *Protector) Scrub(s string) Scrubbed {
	runs := NumberRuns(s)
	if len(runs) == 0 {
		return Scrubbed{Text: s}
	}
	var b strings.Builder
	var hashes []string
	last := 0
	for _, r := range runs {
		b.WriteString(s[last:r[0]])
		n := runNumber(s[r[0]:r[1]])
		t := TypeOther
		if len(n) == 18 || len(n) == 15 {
			t = TypeResident
		}
		b.WriteString(Mask(t, n))
		hashes = append(hashes, p.Hash(t, n))
		last = r[1]
	}
	b.WriteString(s[last:])
	return Scrubbed{Text: b.String(), Hashes: hashes}
}

// MaskNumbers masks identity-number-like runs in s without hashing them,
// for listings that need no link to the person.
func MaskNumbers(s string) string {
	runs := NumberRuns(s)
	if len(runs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, r := range runs {
		b.WriteString(s[last:r[0]])
		n := runNumber(s[r[0]:r[1]])
		t := TypeOther
		if len(n) == 18 {
			t = TypeResident
		}
		b.WriteString(Mask(t, n))
		last = r[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// HoldsResidentNumber reports whether free text s spells, anywhere and
// however written (see NumberRuns), a valid resident identity number: an
// area code, a birth date and a matching check character. Fields that
// must stay readable, such as a case reference, can thus refuse a number
// without refusing the long digit strings case numbers often are.
func HoldsResidentNumber(s string, now time.Time) bool {
	for _, r := range NumberRuns(s) {
		n := runNumber(s[r[0]:r[1]])
		for i := 0; i+18 <= len(n); i++ {
			if ValidateResident(n[i:i+18], now) == nil {
				return true
			}
		}
	}
	return false
}
