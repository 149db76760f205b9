package search

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

// TestTimeRangeMatchesTheClock checks time ranges against the posts'
// own times, not against another query: bounds inside a day, on the
// nanosecond either side of a post, open on either end, across days and
// outside every day. Only the sort keys answer (the time is not indexed).
func TestTimeRangeMatchesTheClock(t *testing.T) {
	s := openSet(t, t.TempDir(), jieba.AnalyzerIndex, jieba.AnalyzerQuery)
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var docs []shards.Doc
	for i, off := range []time.Duration{0, time.Nanosecond, 9*time.Hour + 30*time.Minute, 9*time.Hour + 30*time.Minute + time.Nanosecond,
		23*time.Hour + 59*time.Minute + 59*time.Second + 999999999, 24 * time.Hour, 33 * time.Hour, 50 * time.Hour, 71 * time.Hour} {
		docs = append(docs, shards.Doc{ID: fmt.Sprintf("p%d", i), Source: "news", Title: "火灾通报", Body: "北湖镇发生火灾，消防赶到。",
			PublishedAt: base.Add(off)})
	}
	if err := indexAll(s, context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	sr := newSearcher(t, s)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"inside one day, both bounds on posts", at(9*time.Hour + 30*time.Minute), at(9*time.Hour + 30*time.Minute + time.Nanosecond)},
		{"a nanosecond after a post to a nanosecond before the next", at(time.Nanosecond + 1), at(9*time.Hour + 30*time.Minute - 1)},
		{"from inside the first day, open end", at(time.Nanosecond), time.Time{}},
		{"open start, to inside the second day", time.Time{}, at(33 * time.Hour)},
		{"across three days with edges inside the first and last", at(9 * time.Hour), at(50*time.Hour + time.Minute)},
		{"whole middle day", at(24 * time.Hour), at(48*time.Hour - time.Nanosecond)},
		{"last nanosecond of a day", at(24*time.Hour - time.Nanosecond), at(24*time.Hour - time.Nanosecond)},
		{"before every post", at(-48 * time.Hour), at(-time.Nanosecond)},
		{"after every post", at(72 * time.Hour), at(96 * time.Hour)},
		{"a gap inside a day", at(10 * time.Hour), at(20 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, d := range docs {
				if (tc.from.IsZero() || !d.PublishedAt.Before(tc.from)) && (tc.to.IsZero() || !d.PublishedAt.After(tc.to)) {
					want = append(want, d.ID)
				}
			}
			res, err := sr.Search(context.Background(), Request{Query: "火灾", From: tc.from, To: tc.to, Size: 50})
			if err != nil {
				t.Fatal(err)
			}
			got := ids(res)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || res.Total != uint64(len(want)) {
				t.Errorf("got %v (total %d), want %v", got, res.Total, want)
			}
		})
	}
}
