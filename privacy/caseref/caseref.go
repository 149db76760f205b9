// Package caseref defines the form of a case reference, the text an
// analyst states before reading personal data. The reference is written to
// the audit chain and printed in reports, so it must be one unambiguous
// string: every byte hashed is the byte stored and the byte shown.
package caseref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/netpulse/netpulse/privacy/identity"
)

// Default bounds of the visible length, in characters.
const (
	DefaultMin = 1
	DefaultMax = 64
)

// Rule is a deployment's case-reference form: visible length bounds and an
// optional pattern the whole reference must match (say `^[A-Z]{2,6}-\d{4}-\d{1,6}$`
// where cases are numbered by a case system).
type Rule struct {
	Min, Max int
	Pattern  *regexp.Regexp
}

// New builds a rule; zero bounds take the defaults and an empty pattern
// allows any reference of the right form.
func New(minLen, maxLen int, pattern string) (Rule, error) {
	r := Rule{Min: minLen, Max: maxLen}
	if r.Min <= 0 {
		r.Min = DefaultMin
	}
	if r.Max <= 0 {
		r.Max = DefaultMax
	}
	if r.Min > r.Max {
		return r, fmt.Errorf("case reference: minimum length %d above maximum %d", r.Min, r.Max)
	}
	if pattern != "" {
		// Anchored: a pattern that matches inside the reference would let
		// anything around the match through.
		re, err := regexp.Compile(`^(?:` + pattern + `)$`)
		if err != nil {
			return r, fmt.Errorf("case reference pattern: %w", err)
		}
		r.Pattern = re
	}
	return r, nil
}

// ErrMissing is an empty reference: the caller gave no case.
var ErrMissing = errors.New("a case reference is required")

// Check returns nil when s is a case reference of the rule's form, and
// otherwise says what is wrong (never quoting s, which may be junk).
func (r Rule) Check(s string) error {
	minLen, maxLen := r.Min, r.Max
	if minLen <= 0 {
		minLen = DefaultMin
	}
	if maxLen <= 0 {
		maxLen = DefaultMax
	}
	if s == "" {
		return ErrMissing
	}
	// Bytes first: no unbounded work on a huge header.
	if len(s) > maxLen*utf8.UTFMax {
		return fmt.Errorf("case reference longer than %d characters", maxLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("case reference is not valid UTF-8")
	}
	if !norm.NFC.IsNormalString(s) {
		return errors.New("case reference is not in Unicode NFC form")
	}
	if strings.TrimSpace(s) != s {
		return errors.New("case reference starts or ends with space")
	}
	visible := 0
	for _, c := range s {
		switch {
		case unicode.Is(unicode.Cc, c), unicode.Is(unicode.Cf, c):
			return fmt.Errorf("case reference holds a control or format character (U+%04X)", c)
		case invisible(c):
			return fmt.Errorf("case reference holds an invisible character (U+%04X)", c)
		case c != ' ' && !unicode.IsPrint(c):
			return fmt.Errorf("case reference holds a character that is not printable (U+%04X)", c)
		case unicode.In(c, unicode.Mn, unicode.Me):
			// combining marks add no visible character of their own
		default:
			visible++
		}
	}
	if visible < minLen || visible > maxLen {
		return fmt.Errorf("case reference must be %d to %d visible characters", minLen, maxLen)
	}
	// The case reference is kept in clear in the audit log, where a number
	// typed into it would be a store of identities outside the reveal path.
	if identity.HoldsResidentNumber(s, time.Now()) {
		return errors.New("case reference holds an identity number; give the case number")
	}
	if r.Pattern != nil && !r.Pattern.MatchString(s) {
		return errors.New("case reference does not match this deployment's case number form")
	}
	return nil
}

// invisible lists the default-ignorable code points that Unicode files
// under letters or marks rather than Cf, so IsPrint lets them through:
// fillers and variation selectors render as nothing.
func invisible(c rune) bool {
	switch {
	case c == 0x034F, c == 0x115F, c == 0x1160, c == 0x17B4, c == 0x17B5, c == 0x3164, c == 0xFFA0:
		return true
	case c >= 0x180B && c <= 0x180F, c >= 0xFE00 && c <= 0xFE0F, c >= 0xE0100 && c <= 0xE01EF:
		return true
	case c >= 0x2028 && c <= 0x202F && c != 0x202F: // separators and bidi embeddings
		return true
	}
	return false
}
