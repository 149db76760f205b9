package maintext

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/feeds/chinesedate"
)

// TestShownDate checks the printed publication date against the date the
// annotators read off the Chinese pages (the year, month and day; pages
// without a printed date are skipped). The crawler parses TimeText with
// chinesedate, so the test does too.
func TestShownDate(t *testing.T) {
	pages, err := loadSet(filepath.Join("testdata", "eval", "zh.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var n, right, heldN, heldRight int
	for _, p := range pages {
		if len(p.Date) < 8 || strings.EqualFold(p.Date, "unknown") {
			continue
		}
		want, _, _ := strings.Cut(p.Date, " ")
		doc, err := Parse(strings.NewReader(p.HTML))
		if err != nil {
			t.Fatal(err)
		}
		a := Extract(doc, Rules{})
		got := ""
		if ts, err := chinesedate.Parse(a.TimeText, now, nil); err == nil {
			got = ts.Format("2006-01-02")
		}
		ok := normDate(got) == normDate(want)
		if p.heldOut() {
			heldN++
			if ok {
				heldRight++
			}
			continue
		}
		n++
		if ok {
			right++
		} else if *perPage {
			t.Logf("%s: got %q from %q, want %s", p.ID, got, a.TimeText, want)
		}
	}
	t.Logf("date as shown: %d/%d development pages right, %d/%d held-out", right, n, heldRight, heldN)
	if all := float64(right+heldRight) / float64(n+heldN); all < 0.8 {
		t.Errorf("date right on %.0f%% of pages, want at least 80%%", 100*all)
	}
}

// normDate turns 2005-3-1 and 2005-03-01 into the same string.
func normDate(s string) string {
	t, err := time.Parse("2006-1-2", strings.TrimSpace(s))
	if err != nil {
		return s
	}
	return t.Format("2006-01-02")
}
