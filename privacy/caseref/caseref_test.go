package caseref

import (
	"strings"
	"testing"

	"github.com/netpulse/netpulse/privacy/identity"
)

func TestCheck(t *testing.T) {
	def, _ := New(0, 0, "")
	pat, err := New(0, 0, `[A-Z]{2,6}-\d{4}-\d{1,6}`)
	if err != nil {
		t.Fatal(err)
	}
	num := identity.Synthetic("420106", 42)
	tests := []struct {
		name string
		rule Rule
		in   string
		ok   bool
	}{
		{"plain", def, "AUD-1", true},
		{"chinese", def, "江岸刑侦2026第12号", true},
		{"inner space", def, "case 12", true},
		{"composed accent", def, "caf\u00e9", true},
		{"64 visible", def, strings.Repeat("案", 64), true},
		{"empty", def, "", false},
		{"65 visible", def, strings.Repeat("a", 65), false},
		{"100000 chars", def, strings.Repeat("a", 100000), false},
		{"invalid utf8", def, "AUD-\xff\xfe", false},
		{"not NFC", def, "cafe\u0301", false},
		{"newline", def, "AUD\n1", false},
		{"tab", def, "AUD\t1", false},
		{"nul", def, "AUD\x001", false},
		{"DEL", def, "AUD\x7f", false},
		{"C1 control", def, "AUD\u0085", false},
		{"RLO bidi override", def, "AUD-\u202e1", false},
		{"LRI isolate", def, "AUD-\u20661", false},
		{"zero width space", def, "AUD\u200b-1", false},
		{"zero width joiner", def, "AUD\u200d-1", false},
		{"BOM", def, "\ufeffAUD-1", false},
		{"word joiner", def, "AUD\u2060-1", false},
		{"soft hyphen", def, "AUD\u00ad-1", false},
		{"hangul filler", def, "AUD\u3164", false},
		{"variation selector", def, "AUD\ufe0f", false},
		{"line separator", def, "AUD\u20281", false},
		{"private use", def, "AUD\ue000", false},
		{"leading space", def, " AUD-1", false},
		{"only marks", def, "\u0301\u0301", false},
		// A case reference is kept in clear in the audit log: a resident
		// number in it, however spelled, is refused; long case numbers
		// (digit strings with no valid number in them) stay.
		{"resident number", def, num, false},
		{"resident number inside", def, "案-" + num + "-查", false},
		{"resident number spaced", def, num[:6] + " " + num[6:14] + " " + num[14:], false},
		{"resident number full-width", def, strings.Map(func(r rune) rune { return r - '0' + '０' }, num), false},
		{"resident number in a longer run", def, "J" + num + "0001", false},
		{"long case number", def, "J4201000000002026120500001", true},
		{"case number with date", def, "江公(网)立字[2026]120500017号", true},
		{"pattern ok", pat, "JA-2026-17", true},
		{"pattern miss", pat, "anything", false},
		{"pattern not anchored inside", pat, "x JA-2026-17 y", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Check(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("Check(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"AUD-1", "\xff", "a\u202eb", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	r, _ := New(0, 0, "")
	f.Fuzz(func(t *testing.T, s string) {
		if r.Check(s) != nil {
			return
		}
		// What passes is stored as sent: valid UTF-8, bounded, no controls.
		if len(s) > DefaultMax*4 || strings.ContainsAny(s, "\x00\n\r\u202e\u200b") {
			t.Fatalf("accepted %q", s)
		}
	})
}
