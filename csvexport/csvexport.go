// Package csvexport writes the CSV files people download from netpulse
// (records, reports, posts) so that no cell runs as a spreadsheet formula.
// Cells come from venues, analysts, crawled pages and partners; a leader or
// analyst opens the file in Excel or WPS, where a cell starting with = + - @
// (or a tab, CR or LF, or their full-width forms, which WPS also reads as
// formula starts) would be evaluated. Such a cell gets a leading quote and
// is read as text. Every export goes through this one writer.
package csvexport

import (
	"encoding/csv"
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// BOM is the UTF-8 byte-order mark that Excel needs to read Chinese text.
const BOM = "\uFEFF"

// Writer is a csv.Writer that defuses every text cell.
type Writer struct {
	cw *csv.Writer
}

// NewWriter returns a Writer to w. With bom, the byte-order mark is
// written first.
func NewWriter(w io.Writer, bom bool) (*Writer, error) {
	if bom {
		if _, err := io.WriteString(w, BOM); err != nil {
			return nil, err
		}
	}
	return &Writer{cw: csv.NewWriter(w)}, nil
}

// Write writes one row of text cells, each defused (Cell).
func (w *Writer) Write(cells ...string) error {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = Cell(c)
	}
	return w.cw.Write(row)
}

// WriteNumbers writes a row whose cells are numbers the caller formatted
// itself (strconv); a cell that is not a plain number is defused all the
// same, so a mistake cannot open a formula.
func (w *Writer) WriteNumbers(cells ...string) error {
	row := make([]string, len(cells))
	for i, c := range cells {
		if plainNumber(c) {
			row[i] = c
		} else {
			row[i] = Cell(c)
		}
	}
	return w.cw.Write(row)
}

// WriteRow writes a row of mixed cells: text cells defused, number cells
// (flagged in numeric) passed when they are plain numbers.
func (w *Writer) WriteRow(cells []string, numeric func(i int) bool) error {
	row := make([]string, len(cells))
	for i, c := range cells {
		if numeric != nil && numeric(i) && plainNumber(c) {
			row[i] = c
		} else {
			row[i] = Cell(c)
		}
	}
	return w.cw.Write(row)
}

// Flush writes buffered rows and returns any write error.
func (w *Writer) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}

// Cell defuses one text cell: a cell whose first character, after any
// leading spaces, starts a formula gets a leading quote.
func Cell(s string) string {
	if Unsafe(s) {
		return "'" + s
	}
	return s
}

// Unsafe reports whether a spreadsheet would read s as a formula: its
// first character, past any white space (ASCII, no-break, ideographic, tab
// and line breaks included) and invisible format characters (zero-width
// space, BOM, bidi marks), which importers strip or skip, is = + - @ in any
// compatibility form (full-width ＝, small ﹦, the minus sign −), or a
// tab, carriage return or line feed.
func Unsafe(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t', r == '\r', r == '\n':
			return true
		case unicode.IsSpace(r), unicode.Is(unicode.Cf, r):
			continue
		case r == '\u2212': // minus sign, which some locales read as '-'
			return true
		}
		n := norm.NFKC.String(string(r))
		return n != "" && strings.ContainsRune("=+-@", rune(n[0]))
	}
	return false
}

// plainNumber reports a decimal number as strconv formats one (-3, 0.25,
// 1e-07): a spreadsheet reads it as the number, never as a formula.
func plainNumber(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	digits, dot, exp := 0, false, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && !exp:
			dot = true
		case (c == 'e' || c == 'E') && digits > 0 && !exp:
			exp = true
			if i+1 < len(s) && (s[i+1] == '-' || s[i+1] == '+') {
				i++
			}
			digits = 0
		default:
			return false
		}
	}
	return digits > 0
}
