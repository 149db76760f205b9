package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
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

// NumberRuns finds the runs in s that look like identity numbers: at least
// minNumberRun ASCII or full-width digits, optionally ending in X. It
// returns byte offsets [start, end) of each run.
func NumberRuns(s string) [][2]int {
	var out [][2]int
	start, digits := -1, 0
	flush := func(end int) {
		if start >= 0 && digits >= minNumberRun {
			out = append(out, [2]int{start, end})
		}
		start, digits = -1, 0
	}
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= '０' && r <= '９':
			if start < 0 {
				start = i
			}
			digits++
		case (r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ') && start >= 0:
			digits++
			flush(i + utf8.RuneLen(r))
		default:
			flush(i)
		}
	}
	flush(len(s))
	return out
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
		n := Normalize(norm.NFKC.String(s[r[0]:r[1]])) // full-width digits to ASCII
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
		n := Normalize(norm.NFKC.String(s[r[0]:r[1]]))
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
