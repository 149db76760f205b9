package trends_test

import (
	"strings"
	"testing"

	"github.com/netpulse/netpulse/alerts/trends"
)

// TestSummaryNamesSourcesAsPeopleRead: the impact paragraph that mail, the
// digest and the board show names the top source by its display name when
// the registry has one, and falls back to the source's identifier.
func TestSummaryNamesSourcesAsPeopleRead(t *testing.T) {
	for _, tc := range []struct {
		name        string
		im          trends.Impact
		want, never string
	}{
		{"display name", trends.Impact{Posts: 10, TopSource: "demo-forum", TopSourceTitle: "江城论坛", TopSourceShare: 1},
			"最大来源“江城论坛”占 100%", "demo-forum"},
		{"no display name", trends.Impact{Posts: 10, TopSource: "demo-forum", TopSourceShare: 0.5},
			"最大来源“demo-forum”占 50%", "“”"},
		{"no top source", trends.Impact{Posts: 0}, "影响：帖文 0 条", "最大来源"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := trends.Summary(tc.im, nil)
			if !strings.Contains(s, tc.want) || strings.Contains(s, tc.never) {
				t.Errorf("Summary = %q; want %q and no %q", s, tc.want, tc.never)
			}
		})
	}
}
