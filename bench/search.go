package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/netpulse/netpulse/search"
	"github.com/netpulse/netpulse/search/shards"
)

// benchSearch builds a post index of the scale's size (30 days, the
// pipeline's batch size, jieba analysers) and measures the latency
// percentiles of post search (search.Searcher, as the API runs it) for each
// kind of query. The reference of each is Bleve alone running the same
// query through one IndexAlias over the same days: top 20 ids, no stored
// fields, no highlighting, no cluster folding, no time sort. It bounds
// what loading and highlighting cost; for faceted and newest-first queries
// the searcher, which asks each day on its own, is faster than it.
func benchSearch(ctx context.Context, env *benchEnv) ([]benchRow, error) {
	n := env.scale.SearchPosts
	dir := filepath.Join(env.dir, "index")
	set, err := benchPostSet(env, dir, "")
	if err != nil {
		return nil, err
	}
	defer set.Close()
	env.progress(fmt.Sprintf("search: index %d posts", n), n)
	gen := newBenchPostGen("bs-", 30)
	t0 := time.Now()
	for done := 0; done < n; {
		chunk := gen.take(min(env.defaults.BatchRows, n-done))
		docs := make([]shards.Doc, len(chunk))
		for i := range chunk {
			docs[i] = benchDoc(&chunk[i])
		}
		if err := set.Index(ctx, docs); err != nil {
			return nil, err
		}
		done += len(chunk)
		env.step(len(chunk))
	}
	build := time.Since(t0)
	size := float64(shards.DirBytes(dir)) / (1 << 20)
	// serve rebuilds each day in one pass once it has ended and gone quiet
	// (shards.Set.Compact, from Set.Run); the queries run on what it
	// leaves, as they would a day later. An hour on, every bench day has
	// ended and gone quiet.
	t1 := time.Now()
	if _, err := set.Compact(ctx, time.Now().Add(time.Hour)); err != nil {
		return nil, err
	}
	compactTook := time.Since(t1)
	compacted := float64(shards.DirBytes(dir)) / (1 << 20)
	sr, err := search.NewSearcher(set, 30*time.Second, nil)
	if err != nil {
		return nil, err
	}
	mid := benchEpoch.Add(14 * 24 * time.Hour)
	kinds := []struct {
		name string
		reqs []search.Request
	}{
		{"term", []search.Request{{Query: "诈骗"}, {Query: "火灾"}, {Query: "刷单"}, {Query: "长江"}, {Query: "毒品"}}},
		{"phrase", []search.Request{{Query: `"电信诈骗"`}, {Query: `"交通事故"`}, {Query: `"兼职刷单"`}, {Query: `"消防救援人员"`}}},
		{"filtered", []search.Request{{Query: "诈骗 source:weibo", From: mid, To: mid.Add(72 * time.Hour)},
			{Query: "火灾 -电动车", From: mid, To: mid.Add(7 * 24 * time.Hour)}, {Query: "洪水 source:news", SortTime: true}}},
		{"faceted", []search.Request{{Query: "诈骗", Facets: true, Collapse: true}, {Query: "火灾", Facets: true, Collapse: true},
			{Query: "临江区", Facets: true, Collapse: true, SortTime: true}}},
	}
	q := env.scale.Queries
	env.progress("search: queries", len(kinds)*q*2)
	var rows []benchRow
	for _, k := range kinds {
		prod := make([]time.Duration, 0, q)
		raw := make([]time.Duration, 0, q)
		for i := 0; i < q; i++ {
			req := k.reqs[i%len(k.reqs)]
			start := time.Now()
			res, err := sr.Search(ctx, req)
			if err != nil {
				return nil, fmt.Errorf("search %q: %w", req.Query, err)
			}
			if res.Total == 0 {
				return nil, fmt.Errorf("search %q found nothing in the bench corpus", req.Query)
			}
			prod = append(prod, time.Since(start))
			d, err := benchRawSearch(ctx, set, req)
			if err != nil {
				return nil, err
			}
			raw = append(raw, d)
			env.step(2)
		}
		slices.Sort(prod)
		slices.Sort(raw)
		for _, p := range []int{50, 95, 99} {
			rows = append(rows, benchRow{Metric: fmt.Sprintf("%s query p%d", k.name, p), Value: ms(pct(prod, p)), Unit: "ms",
				Ceiling: "Bleve IndexAlias, same query", CeilingVal: ms(pct(raw, p)), LowerBetter: true,
				Description: fmt.Sprintf("%d queries over %d posts", q, n)})
		}
	}
	rows = append(rows,
		benchRow{Metric: fmt.Sprintf("index build, %d posts", n), Value: build.Seconds(), Unit: "s"},
		benchRow{Metric: "index build rate", Value: float64(n) / build.Seconds(), Unit: "posts/s"},
		benchRow{Metric: "index size on disk", Value: size, Unit: "MiB", Description: "as written, before compacting"},
		benchRow{Metric: "index size on disk, compacted", Value: compacted, Unit: "MiB", Description: "each day rebuilt in one pass, as serve does once it ended"},
		benchRow{Metric: "compacting every day", Value: compactTook.Seconds(), Unit: "s"},
	)
	return rows, nil
}

// benchRawSearch runs req's query as Bleve alone would: the query that
// post search builds, on the same days, top 20, ids and facets only.
func benchRawSearch(ctx context.Context, set *shards.Set, req search.Request) (time.Duration, error) {
	start := time.Now()
	clauses, err := search.ParseQuery(req.Query)
	if err != nil {
		return 0, err
	}
	snap := set.Snapshot(req.From, req.To)
	defer snap.Release()
	sr := bleve.NewSearchRequestOptions(search.BuildQuery(clauses, set.QueryAnalyzer(), req.From, req.To), 20, 0, false)
	if req.Facets {
		sr.AddFacet("source", bleve.NewFacetRequest(shards.FieldSource, 20))
		sr.AddFacet("day", bleve.NewFacetRequest(shards.FieldDay, 400))
	}
	if _, err := snap.Alias.SearchInContext(ctx, sr); err != nil {
		return 0, fmt.Errorf("raw search %q: %w", req.Query, err)
	}
	return time.Since(start), nil
}

// pct is the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
