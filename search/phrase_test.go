package search

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/netpulse/netpulse/search/shards"
)

// TestPhraseEqualsBleve checks phraseQuery against Bleve's MatchPhraseQuery
// on the same days: the same hits with the same scores, and the same
// highlighted locations.
func TestPhraseEqualsBleve(t *testing.T) {
	s := openSet(t, t.TempDir(), analyzers[0].index, analyzers[0].query)
	if err := s.Index(context.Background(), append(newPostGen(1500, 3).take(1500), fixture...)); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot(time.Time{}, time.Time{})
	defer snap.Release()
	phrases := []string{
		"消防救援人员", "兼职刷单", "电信诈骗", "诈骗电信", "共和国成立", "临江区公安分局",
		"交通事故 造成", "的诈骗", "刷单 返利", "warning 诈骗", "电信 诈骗 案", "没有 这样 的 句子",
	}
	mustHit := map[string]bool{"消防救援人员": true, "兼职刷单": true, "电信诈骗": true, "诈骗电信": true, "临江区公安分局": true}
	for _, text := range phrases {
		for _, field := range []string{shards.FieldBody, shards.FieldTitle} {
			t.Run(text+"/"+field, func(t *testing.T) {
				bq := query.NewMatchPhraseQuery(text)
				bq.SetField(field)
				bq.Analyzer = s.QueryAnalyzer()
				bq.SetBoost(2)
				ours := &phraseQuery{text: text, field: field, analyzer: s.QueryAnalyzer(), boost: 2}
				want, got := phraseHits(t, snap, bq), phraseHits(t, snap, ours)
				if len(want) == 0 && field == shards.FieldBody && mustHit[text] {
					t.Fatalf("no post holds %q: the comparison would prove nothing", text)
				}
				if len(want) != len(got) {
					t.Fatalf("%d hits, Bleve %d", len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("hit %d:\n got %s\nwant %s", i, got[i], want[i])
					}
				}
			})
		}
	}
}

// phraseHits runs q (inside a boolean with a negation, as the searcher may)
// and renders each hit as id, score and highlighted locations.
func phraseHits(t *testing.T, snap *shards.Snapshot, q query.Query) []string {
	t.Helper()
	var out []string
	for _, wrap := range []query.Query{q, query.NewBooleanQuery([]query.Query{q}, nil, []query.Query{query.NewTermQuery("nosuchterm")})} {
		sr := bleve.NewSearchRequestOptions(wrap, 10000, 0, false)
		sr.IncludeLocations = true
		res, err := snap.Alias.SearchInContext(context.Background(), sr)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			var locs []string
			for f, tl := range h.Locations {
				for term, ls := range tl {
					for _, l := range ls {
						locs = append(locs, fmt.Sprintf("%s:%s@%d[%d,%d]", f, term, l.Pos, l.Start, l.End))
					}
				}
			}
			sort.Strings(locs)
			out = append(out, fmt.Sprintf("%s %.12g %v", h.ID, h.Score, locs))
		}
	}
	sort.Strings(out)
	return out
}
