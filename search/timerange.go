package search

import (
	"context"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2/mapping"
	blevesearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/netpulse/netpulse/search/shards"
)

// TimeRange matches what q matches among the posts published in
// [from, to], both ends included; a zero bound is open.
//
// The index keeps no date-time terms for this (mapping v4): Bleve indexes
// a date as 16 prefix-coded terms per post, a sixth of the index on disk
// and nearly a third of its build time, for ranges that matter only on a
// range's first and last day, since whole days are chosen by shard (see
// docs/performance.md). Instead each day index answers from its sort keys
// (shards.SortKey: the time in fixed-width nanoseconds, then the id): a day
// wholly inside the range answers q unchanged, a day wholly outside
// nothing, and only an edge day checks each of q's matches' sort-key doc
// value.
//
// It wraps the query it restricts rather than joining it as one more
// clause, so that a day wholly inside the range runs the query as it is
// (no extra searcher in the conjunction, no score of its own).
func TimeRange(q query.Query, from, to time.Time) query.Query {
	return &timeRange{q: q, from: from, to: to}
}

type timeRange struct {
	q        query.Query
	from, to time.Time
}

func (q *timeRange) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, opts blevesearch.SearcherOptions) (blevesearch.Searcher, error) {
	lo, hi := "", ""
	if !q.from.IsZero() {
		lo = shards.SortKeyTime(q.from)
	}
	if !q.to.IsZero() {
		hi = shards.SortKeyTime(q.to)
	}
	first, err := firstTerm(r, shards.FieldSortKey, nil)
	if err != nil {
		return nil, err
	}
	if first == "" || (hi != "" && first[:min(len(first), shards.SortKeyTimeLen)] > hi) {
		return searcher.NewMatchNoneSearcher(r) // empty, or every post after the range
	}
	before := lo != "" && first < lo
	after := false
	if hi != "" {
		// Any key whose time part is past hi: the first at or after the
		// next nanosecond's prefix.
		next, err := firstTerm(r, shards.FieldSortKey, []byte(shards.SortKeyTime(q.to.Add(time.Nanosecond))))
		if err != nil {
			return nil, err
		}
		after = next != ""
	}
	all, err := q.q.Searcher(ctx, r, m, opts)
	if err != nil {
		return nil, err
	}
	if !before && !after {
		return all, nil
	}
	dv, err := r.DocValueReader([]string{shards.FieldSortKey})
	if err != nil {
		return nil, fmt.Errorf("time range: sort keys: %w", err)
	}
	return searcher.NewFilteringSearcher(ctx, all, func(_ *blevesearch.SearchContext, d *blevesearch.DocumentMatch) bool {
		var key string
		if err := dv.VisitDocValues(d.IndexInternalID, func(_ string, term []byte) { key = string(term) }); err != nil || len(key) < shards.SortKeyTimeLen {
			return false
		}
		t := key[:shards.SortKeyTimeLen]
		return (lo == "" || t >= lo) && (hi == "" || t <= hi)
	}), nil
}

// firstTerm is the smallest term of field at or after from ("" for the
// first of all), or "" when there is none.
func firstTerm(r index.IndexReader, field string, from []byte) (string, error) {
	var d index.FieldDict
	var err error
	if from == nil {
		d, err = r.FieldDict(field)
	} else {
		d, err = r.FieldDictRange(field, from, nil)
	}
	if err != nil {
		return "", fmt.Errorf("time range: terms of %s: %w", field, err)
	}
	defer d.Close()
	e, err := d.Next()
	if err != nil || e == nil {
		return "", err
	}
	return e.Term, nil
}
