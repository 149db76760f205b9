package reports

import (
	"testing"

	"golang.org/x/image/font/sfnt"

	"github.com/netpulse/netpulse/deploy/fonts"
)

// TestCatalogueGlyphs: every character the PDF prints from its own text
// (labels, formulas, numbers, units) must have a glyph in the embedded
// font; a missing one prints as an empty box that no text extraction
// would notice.
func TestCatalogueGlyphs(t *testing.T) {
	f, err := sfnt.Parse(fonts.ReportTTF())
	if err != nil {
		t.Fatal(err)
	}
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	var buf sfnt.Buffer
	check := func(where, s string) {
		for _, r := range s {
			if r == '\n' {
				continue
			}
			if g, err := f.GlyphIndex(&buf, r); err != nil || g == 0 {
				t.Errorf("%s: no glyph for %q (U+%04X)", where, r, r)
			}
		}
	}
	check("digits and signs", "0123456789.,:%+-−—–·/()（）[]≤≥×÷Σ")
	for lang, c := range cats {
		for k, s := range c {
			check(lang+" "+k, s)
		}
	}
}
