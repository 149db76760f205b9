package search

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
	blevesearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/search/shards"
)

// Index is what the searcher needs from the day-sharded index.
type Index interface {
	Snapshot(from, to time.Time) *shards.Snapshot
	QueryAnalyzer() string
	Location() *time.Location // where days begin
}

// Request is one search.
type Request struct {
	Query    string
	From, To time.Time // zero: open
	SortTime bool      // newest first instead of by relevance
	Page     int       // from 1
	Size     int       // hits per page
	Collapse bool      // one hit per near-duplicate cluster
	Facets   bool
}

// Hit is one post in the answer.
type Hit struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	Author      string    `json:"author"`
	URL         string    `json:"url"`
	PublishedAt time.Time `json:"published_at"`
	ClusterID   uint64    `json:"cluster_id,string"`
	Score       float64   `json:"score"`
	// Fragments are HTML-escaped text with matches in <mark>…</mark>.
	Fragments []string `json:"fragments"`
	// Duplicates counts hits of the same cluster folded into this one
	// (within the window the search looked at).
	Duplicates int `json:"duplicates,omitempty"`
}

// Bucket is one facet value.
type Bucket struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

// Facets are counts over all matching posts, not just the page.
type Facets struct {
	Source []Bucket `json:"source"`
	Day    []Bucket `json:"day"`
}

// Result is the answer to a Request.
type Result struct {
	Total  uint64  `json:"total"`
	Page   int     `json:"page"`
	TookMS int64   `json:"took_ms"`
	Hits   []Hit   `json:"hits"`
	Facets *Facets `json:"facets,omitempty"`
}

// Limits on paging.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxWindow       = 10000 // page*size; deeper paging must narrow the query
)

// ErrTimeout is returned when a search runs past its time limit.
var ErrTimeout = errors.New("search took too long")

// Searcher runs searches with a time limit.
type Searcher struct {
	idx     Index
	timeout time.Duration
	latency *prometheus.HistogramVec
}

// NewSearcher returns a searcher over idx whose searches stop after timeout.
// reg may be nil.
func NewSearcher(idx Index, timeout time.Duration, reg prometheus.Registerer) (*Searcher, error) {
	s := &Searcher{
		idx:     idx,
		timeout: timeout,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "netpulse_search_seconds", Help: "Post search latency by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 12)}, []string{"outcome"}),
	}
	if reg != nil {
		if err := reg.Register(s.latency); err != nil {
			return nil, fmt.Errorf("search metrics: %w", err)
		}
	}
	return s, nil
}

// Search parses and runs req. Malformed queries return a *QueryError.
func (s *Searcher) Search(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	res, err := s.search(ctx, req)
	outcome := "ok"
	var qe *QueryError
	switch {
	case errors.As(err, &qe):
		outcome = "bad_query"
	case errors.Is(err, ErrTimeout):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	}
	s.latency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if res != nil {
		res.TookMS = time.Since(start).Milliseconds()
	}
	return res, err
}

func (s *Searcher) search(ctx context.Context, req Request) (*Result, error) {
	clauses, err := ParseQuery(req.Query)
	if err != nil {
		return nil, err
	}
	if !req.From.IsZero() && !req.To.IsZero() && req.To.Before(req.From) {
		return nil, &QueryError{Msg: "time range ends before it starts"}
	}
	if req.Page < 1 {
		req.Page = 1
	}
	if req.Size <= 0 {
		req.Size = DefaultPageSize
	}
	if req.Size > MaxPageSize {
		req.Size = MaxPageSize
	}
	if req.Page*req.Size > MaxWindow {
		return nil, &QueryError{Msg: fmt.Sprintf("page %d is beyond the first %d hits; narrow the query", req.Page, MaxWindow)}
	}
	// The snapshot already holds only the days in range; a range query is
	// needed only for an end that cuts a day, and it is not cheap (numeric
	// range terms over every match).
	loc := s.idx.Location()
	rangeFrom, rangeTo := req.From, req.To
	if !rangeFrom.IsZero() && dayStart(rangeFrom, loc) {
		rangeFrom = time.Time{}
	}
	if !rangeTo.IsZero() && dayStart(rangeTo.Add(time.Nanosecond), loc) {
		rangeTo = time.Time{}
	}
	q := BuildQuery(clauses, s.idx.QueryAnalyzer(), rangeFrom, rangeTo)

	// Score alone: a tie-break on a field would load its doc values for
	// every match, which costs more than the whole scoring on big days.
	sortOrder := []string{"-_score"}
	if req.SortTime {
		sortOrder = []string{"-" + shards.FieldPublished, "_id"}
	}
	fields := []string{shards.FieldTitle, shards.FieldSource, shards.FieldAuthor, shards.FieldURL,
		shards.FieldPublished, shards.FieldCluster}

	snap := s.idx.Snapshot(req.From, req.To)
	defer snap.Release()
	if len(snap.Days) == 0 {
		// No day in range (or a fresh install): Bleve refuses an empty alias.
		out := &Result{Page: req.Page, Hits: []Hit{}}
		if req.Facets {
			out.Facets = &Facets{Source: []Bucket{}, Day: []Bucket{}}
		}
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	run := func(sr *bleve.SearchRequest) (*bleve.SearchResult, error) {
		res, err := snap.Alias.SearchInContext(ctx, sr)
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("%w (limit %s)", ErrTimeout, s.timeout)
		}
		if err != nil {
			return nil, fmt.Errorf("search posts: %w", err)
		}
		return res, nil
	}

	// The first request ranks over every day and counts facets but loads
	// nothing: through the alias, each day returns its own top from+size
	// hits, and loading or highlighting them there would be wasted on all
	// but the page. Later requests, restricted to the ids on show, load
	// fields and highlights. With collapsing, the first request ranks a
	// window wider than the page; cluster ids are loaded for the window,
	// and the page is cut after folding.
	from, size := (req.Page-1)*req.Size, req.Size
	if req.Collapse {
		from, size = 0, min(req.Page*req.Size*3+20, MaxWindow)
	}
	sr := bleve.NewSearchRequestOptions(q, size, from, false)
	sr.SortBy(sortOrder)
	if req.SortTime {
		sr.Score = "none" // ranked by time: skip scoring every match
	}
	if req.Facets {
		sr.AddFacet("source", bleve.NewFacetRequest(shards.FieldSource, 20))
		sr.AddFacet("day", bleve.NewFacetRequest(shards.FieldDay, 400))
	}
	res, err := run(sr)
	if err != nil {
		return nil, err
	}
	out := &Result{Total: res.Total, Page: req.Page, Hits: []Hit{}}
	if req.Facets {
		out.Facets = &Facets{Source: buckets(res.Facets["source"]), Day: buckets(res.Facets["day"])}
		sort.Slice(out.Facets.Day, func(i, j int) bool { return out.Facets.Day[i].Term < out.Facets.Day[j].Term })
	}
	// load fetches the hits with the given ids, keeping the ranking's order
	// and scores; a post replaced meanwhile drops out.
	load := func(ranked []Hit, fieldList []string, withHighlight bool) ([]Hit, error) {
		ids := make([]string, len(ranked))
		for i, h := range ranked {
			ids[i] = h.ID
		}
		sr := bleve.NewSearchRequestOptions(query.NewConjunctionQuery([]query.Query{q, query.NewDocIDQuery(ids)}), len(ids), 0, false)
		sr.Fields = fieldList
		sr.Score = "none"
		if withHighlight {
			highlight(sr)
		}
		res, err := run(sr)
		if err != nil {
			return nil, err
		}
		got := make(map[string]Hit, len(res.Hits))
		for _, h := range res.Hits {
			got[h.ID] = toHit(h)
		}
		out := make([]Hit, 0, len(ranked))
		for _, h := range ranked {
			if g, ok := got[h.ID]; ok {
				g.Score, g.Duplicates = h.Score, h.Duplicates
				out = append(out, g)
			}
		}
		return out, nil
	}
	page := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		page = append(page, Hit{ID: h.ID, Score: h.Score})
	}
	if len(page) == 0 {
		return out, nil
	}
	if req.Collapse {
		if page, err = load(page, []string{shards.FieldCluster}, false); err != nil {
			return nil, err
		}
		page = collapse(page)
		lo := min((req.Page-1)*req.Size, len(page))
		page = page[lo:min(lo+req.Size, len(page))]
		if len(page) == 0 {
			return out, nil
		}
	}
	if page, err = load(page, fields, true); err != nil {
		return nil, err
	}
	out.Hits = append(out.Hits, page...)
	return out, nil
}

// dayStart reports whether t is the first instant of its day in loc.
func dayStart(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

func highlight(sr *bleve.SearchRequest) {
	sr.Highlight = bleve.NewHighlightWithStyle("html")
	sr.Highlight.AddField(shards.FieldTitle)
	sr.Highlight.AddField(shards.FieldBody)
}

func buckets(f *blevesearch.FacetResult) []Bucket {
	out := []Bucket{}
	if f == nil {
		return out
	}
	for _, t := range f.Terms.Terms() {
		out = append(out, Bucket{Term: t.Term, Count: t.Count})
	}
	return out
}

// collapse keeps the first (best) hit of each cluster; cluster 0 means
// unclustered and is never folded.
func collapse(hits []Hit) []Hit {
	seen := map[uint64]int{}
	out := hits[:0]
	for _, h := range hits {
		if h.ClusterID != 0 {
			if i, ok := seen[h.ClusterID]; ok {
				out[i].Duplicates++
				continue
			}
			seen[h.ClusterID] = len(out)
		}
		out = append(out, h)
	}
	return out
}

func toHit(h *blevesearch.DocumentMatch) Hit {
	str := func(k string) string { v, _ := h.Fields[k].(string); return v }
	hit := Hit{
		ID: h.ID, Title: str(shards.FieldTitle), Source: str(shards.FieldSource), Author: str(shards.FieldAuthor),
		URL: str(shards.FieldURL), Score: h.Score, Fragments: []string{},
	}
	hit.PublishedAt, _ = time.Parse(time.RFC3339Nano, str(shards.FieldPublished))
	hit.ClusterID, _ = strconv.ParseUint(str(shards.FieldCluster), 10, 64)
	hit.Fragments = append(hit.Fragments, h.Fragments[shards.FieldBody]...)
	if len(hit.Fragments) == 0 {
		hit.Fragments = append(hit.Fragments, h.Fragments[shards.FieldTitle]...)
	}
	return hit
}

// BuildQuery turns parsed clauses into a Bleve query. Text is analysed with
// analyzer (jieba's precise mode); every word of a clause must appear in
// the title or in the body; phrases must appear in order.
func BuildQuery(clauses []Clause, analyzer string, from, to time.Time) query.Query {
	var must, mustNot []query.Query
	var cache *registry.Cache
	for _, c := range clauses {
		if c.Phrase && c.Field != "source" && c.Field != "author" {
			// A phrase that is one word (most quoted Chinese terms are) needs
			// no position check: a term match gives the same hits without
			// decoding term vectors for each of them.
			if cache == nil {
				cache = registry.NewCache()
			}
			if a, err := cache.AnalyzerNamed(analyzer); err == nil && positions(a.Analyze([]byte(c.Text))) == 1 {
				c.Phrase = false
			}
		}
		q := clauseQuery(c, analyzer)
		if c.Occur == MustNot {
			mustNot = append(mustNot, q)
		} else {
			must = append(must, q)
		}
	}
	if !from.IsZero() || !to.IsZero() {
		incl := true
		dr := query.NewDateRangeInclusiveQuery(from, to, &incl, &incl)
		dr.SetField(shards.FieldPublished)
		must = append(must, dr)
	}
	if len(must) == 0 {
		must = append(must, query.NewMatchAllQuery())
	}
	if len(must) == 1 && len(mustNot) == 0 {
		return must[0] // spares a conjunction searcher around every hit
	}
	return query.NewBooleanQuery(must, nil, mustNot)
}

func positions(ts analysis.TokenStream) int {
	seen := map[int]bool{}
	for _, t := range ts {
		seen[t.Position] = true
	}
	return len(seen)
}

func clauseQuery(c Clause, analyzer string) query.Query {
	switch c.Field {
	case "source", "author":
		t := query.NewTermQuery(c.Text)
		t.SetField(c.Field)
		return t
	case "title", "body":
		return textQuery(c, c.Field, analyzer, 1)
	}
	return query.NewDisjunctionQuery([]query.Query{
		textQuery(c, shards.FieldTitle, analyzer, 2),
		textQuery(c, shards.FieldBody, analyzer, 1),
	})
}

func textQuery(c Clause, field, analyzer string, boost float64) query.Query {
	if c.Phrase {
		p := query.NewMatchPhraseQuery(c.Text)
		p.SetField(field)
		p.Analyzer = analyzer
		p.SetBoost(boost)
		return p
	}
	m := query.NewMatchQuery(c.Text)
	m.SetField(field)
	m.Analyzer = analyzer
	m.SetOperator(query.MatchQueryOperatorAnd)
	m.SetBoost(boost)
	return m
}
