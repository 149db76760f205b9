package search

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/netpulse/netpulse/search/shards"
)

// oracle answers a request the plain way: every match of every day through
// Bleve's IndexAlias, ranked and faceted by Bleve, then collapsed and cut
// here. The searcher asks each day for its own top and stops early when
// ranked by time; it must give the same page, total and facets.
func oracle(t *testing.T, s *shards.Set, req Request) *Result {
	t.Helper()
	clauses, err := ParseQuery(req.Query)
	if err != nil {
		t.Fatal(err)
	}
	from, to := cutRange(req.From, req.To, s.Location())
	q := BuildQuery(clauses, s.QueryAnalyzer(), from, to)
	snap := s.Snapshot(req.From, req.To)
	defer snap.Release()
	count, err := snap.Alias.SearchInContext(context.Background(), bleve.NewSearchRequestOptions(q, 0, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	sr := bleve.NewSearchRequestOptions(q, int(count.Total), 0, false)
	sr.SortBy(SortOrder(req.SortTime))
	if req.SortTime {
		sr.Score = "none" // as in the searcher: ranked by time, nothing needs a score
	}
	sr.Fields = []string{shards.FieldCluster}
	sr.AddFacet("source", bleve.NewFacetRequest(shards.FieldSource, sourceFacetSize))
	sr.AddFacet("day", bleve.NewFacetRequest(shards.FieldDay, 400))
	res, err := snap.Alias.SearchInContext(context.Background(), sr)
	if err != nil {
		t.Fatal(err)
	}
	var all []Hit
	for _, h := range res.Hits {
		all = append(all, toHit(h))
	}
	if !req.SortTime {
		// The alias leaves equal scores in any order; the searcher
		// breaks ties by id.
		sort.SliceStable(all, func(i, j int) bool {
			if all[i].Score != all[j].Score {
				return all[i].Score > all[j].Score
			}
			return all[i].ID < all[j].ID
		})
	}
	if req.Collapse {
		window := min(req.Page*req.Size*3+20, MaxWindow)
		all = Collapse(all[:min(window, len(all))])
	}
	lo := min((req.Page-1)*req.Size, len(all))
	out := &Result{Total: res.Total, Hits: all[lo:min(lo+req.Size, len(all))],
		Facets: &Facets{Source: buckets(res.Facets["source"]), Day: buckets(res.Facets["day"])}}
	sort.Slice(out.Facets.Day, func(i, j int) bool { return out.Facets.Day[i].Term < out.Facets.Day[j].Term })
	return out
}

func TestSearchEqualsOneAlias(t *testing.T) {
	s := openSet(t, t.TempDir(), analyzers[0].index, analyzers[0].query)
	g := newPostGen(3000, 12)
	if err := indexAll(s, context.Background(), g.take(3000)); err != nil {
		t.Fatal(err)
	}
	sr := newSearcher(t, s)
	mid := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	tests := []Request{
		{Query: "诈骗", Size: 20, Page: 1},
		{Query: "诈骗", Size: 20, Page: 7},
		{Query: "火灾 -电动车", Size: 10, Page: 2},
		{Query: `"兼职刷单"`, Size: 20, Page: 1},
		{Query: "诈骗 source:weibo", Size: 20, Page: 1, From: mid, To: mid.Add(72 * time.Hour)},
		{Query: "诈骗", Size: 20, Page: 1, From: mid.Add(5 * time.Hour), To: mid.Add(50 * time.Hour)},
		{Query: "临江区", Size: 20, Page: 1, SortTime: true},
		{Query: "临江区", Size: 50, Page: 9, SortTime: true},
		{Query: "洪水 source:news", Size: 20, Page: 1, SortTime: true},
		{Query: "诈骗", Size: 20, Page: 1, Collapse: true},
		{Query: "诈骗", Size: 20, Page: 3, Collapse: true, SortTime: true},
		{Query: "燃气爆炸", Size: 100, Page: 1, SortTime: true},
		{Query: "没有这个词语", Size: 20, Page: 1},
	}
	for _, req := range tests {
		req.Facets = true
		name := fmt.Sprintf("%s/page%d/time=%v/collapse=%v", req.Query, req.Page, req.SortTime, req.Collapse)
		t.Run(name, func(t *testing.T) {
			got, err := sr.Search(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			want := oracle(t, s, req)
			if got.Total != want.Total {
				t.Errorf("total %d, want %d", got.Total, want.Total)
			}
			if fmt.Sprint(got.Facets) != fmt.Sprint(want.Facets) {
				t.Errorf("facets\n got %v\nwant %v", got.Facets, want.Facets)
			}
			if len(got.Hits) != len(want.Hits) {
				t.Fatalf("%d hits, want %d", len(got.Hits), len(want.Hits))
			}
			for i := range got.Hits {
				g, w := got.Hits[i], want.Hits[i]
				if g.ID != w.ID || g.Score != w.Score || g.Duplicates != w.Duplicates {
					t.Errorf("hit %d: %s score %g dups %d, want %s score %g dups %d", i, g.ID, g.Score, g.Duplicates, w.ID, w.Score, w.Duplicates)
				}
			}
		})
	}
}

// TestNewestFirstAsksFewDays checks the point of ranking by time day by
// day: a page that the newest day fills never asks older days for hits.
func TestNewestFirstAsksFewDays(t *testing.T) {
	s := openSet(t, t.TempDir(), analyzers[0].index, analyzers[0].query)
	if err := indexAll(s, context.Background(), newPostGen(2000, 10).take(2000)); err != nil {
		t.Fatal(err)
	}
	sr := newSearcher(t, s)
	snap := s.Snapshot(time.Time{}, time.Time{})
	defer snap.Release()
	clauses, _ := ParseQuery("临江区")
	q := BuildQuery(clauses, s.QueryAnalyzer(), time.Time{}, time.Time{})
	r, err := sr.rank(context.Background(), snap, q, 20, Request{SortTime: true})
	if err != nil {
		t.Fatal(err)
	}
	asked := map[int]bool{}
	for _, h := range r.hits {
		asked[h.day] = true
	}
	if len(asked) > sr.parallel || len(asked) == 0 {
		t.Errorf("hits came from %d days, want at most %d (one wave)", len(asked), sr.parallel)
	}
	var sum uint64
	for _, n := range r.perDay {
		sum += n
	}
	if sum != r.total || r.perDay[0] == 0 {
		t.Errorf("per-day counts %v do not add up to %d or miss the oldest day", r.perDay, r.total)
	}
}

// TestFacetsFollowWrites checks that source counts follow the index: the
// per-view source tables must be rebuilt when a day gets new posts or a
// post is replaced with another source.
func TestFacetsFollowWrites(t *testing.T) {
	s := openSet(t, t.TempDir(), analyzers[0].index, analyzers[0].query)
	g := newPostGen(1200, 4)
	first := g.take(800)
	if err := indexAll(s, context.Background(), first); err != nil {
		t.Fatal(err)
	}
	sr := newSearcher(t, s)
	req := Request{Query: "诈骗", Size: 20, Page: 1, Facets: true}
	check := func(step string) {
		t.Helper()
		got, err := sr.Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		want := oracle(t, s, req)
		if got.Total != want.Total || fmt.Sprint(got.Facets) != fmt.Sprint(want.Facets) {
			t.Fatalf("%s: total %d facets %v, want %d %v", step, got.Total, got.Facets, want.Total, want.Facets)
		}
	}
	check("first")
	if err := indexAll(s, context.Background(), g.take(400)); err != nil {
		t.Fatal(err)
	}
	check("after new posts")
	moved := append([]shards.Doc(nil), first[:300]...)
	for i := range moved {
		moved[i].Source = "moved-" + moved[i].Source
	}
	if err := indexAll(s, context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	check("after replacing posts with new sources")
	got, _ := sr.Search(context.Background(), req)
	if len(got.Facets.Source) == 0 || !strings.HasPrefix(fmt.Sprint(got.Facets.Source), "[{") || !strings.Contains(fmt.Sprint(got.Facets.Source), "moved-") {
		t.Errorf("facets %v lack the moved sources", got.Facets.Source)
	}
}

// TestSearchesWhileWriting runs faceted searches from several goroutines
// while posts keep arriving: every answer must add up (each post has one
// source and one day, so both facets sum to the total) and the total can
// only grow. Run with -race, it also checks the shared source tables.
func TestSearchesWhileWriting(t *testing.T) {
	s := openSet(t, t.TempDir(), analyzers[0].index, analyzers[0].query)
	g := newPostGen(3000, 3)
	if err := indexAll(s, context.Background(), g.take(500)); err != nil {
		t.Fatal(err)
	}
	sr := newSearcher(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writeErr := make(chan error, 1)
	go func() {
		defer close(writeErr)
		for chunk := g.take(100); len(chunk) > 0; chunk = g.take(100) {
			if err := indexAll(s, ctx, chunk); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			var last uint64
			for i := 0; i < 40; i++ {
				res, err := sr.Search(ctx, Request{Query: "临江区", Facets: true, SortTime: w%2 == 1})
				if err != nil {
					errs <- err
					return
				}
				var bySource, byDay int
				for _, b := range res.Facets.Source {
					bySource += b.Count
				}
				for _, b := range res.Facets.Day {
					byDay += b.Count
				}
				if uint64(bySource) != res.Total || uint64(byDay) != res.Total || res.Total < last {
					errs <- fmt.Errorf("search %d: total %d (previous %d), sources sum %d, days sum %d", i, res.Total, last, bySource, byDay)
					return
				}
				last = res.Total
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
}
