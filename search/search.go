package search

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/registry"
	blevesearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/search/shards"
)

// Index is what the searcher needs from the day-sharded index.
type Index interface {
	Snapshot(from, to time.Time) *shards.Snapshot
	QueryAnalyzer() string
	Location() *time.Location // where days begin
	// Texts is where the bodies are when the index does not store them
	// (a lean index); nil when it does.
	Texts() shards.Texts
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

	day     int    // index of its day in the snapshot; -1: not known
	sortKey string // FieldSortKey, when ranked by time
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
	idx      Index
	timeout  time.Duration
	parallel int // days searched at once
	sources  sourceTables
	latency  *prometheus.HistogramVec
}

// NewSearcher returns a searcher over idx whose searches stop after timeout.
// reg may be nil.
func NewSearcher(idx Index, timeout time.Duration, reg prometheus.Registerer) (*Searcher, error) {
	s := &Searcher{
		idx:      idx,
		timeout:  timeout,
		parallel: runtime.GOMAXPROCS(0),
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
	rangeFrom, rangeTo := cutRange(req.From, req.To, s.idx.Location())
	q := BuildQuery(clauses, s.idx.QueryAnalyzer(), rangeFrom, rangeTo)

	snap := s.idx.Snapshot(req.From, req.To)
	defer snap.Release()
	out := &Result{Page: req.Page, Hits: []Hit{}}
	if req.Facets {
		out.Facets = &Facets{Source: []Bucket{}, Day: []Bucket{}}
	}
	if len(snap.Days) == 0 {
		return out, nil // no day in range, or a fresh install
	}
	if req.From.IsZero() && req.To.IsZero() {
		// Every live day is in the snapshot: a good moment to drop the
		// source tables of retired ones.
		live := make(map[bleve.Index]bool, len(snap.Indexes))
		for _, idx := range snap.Indexes {
			live[idx] = true
		}
		s.sources.forget(live)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// Rank: each day returns its own top from+size, merged here. With
	// collapsing, a window wider than the page is ranked, cluster ids are
	// loaded for it, and the page is cut after folding.
	from, size := (req.Page-1)*req.Size, req.Size
	if req.Collapse {
		from, size = 0, min(req.Page*req.Size*3+20, MaxWindow)
	}
	r, err := s.rank(ctx, snap, q, from+size, req)
	if err != nil {
		return nil, err
	}
	out.Total = r.total
	if req.Facets {
		out.Facets = r.facets(snap.Days)
	}
	page := r.hits[min(from, len(r.hits)):min(from+size, len(r.hits))]
	if len(page) == 0 {
		return out, nil
	}
	if req.Collapse {
		if page, err = s.Load(ctx, snap, q, page, false); err != nil {
			return nil, err
		}
		page = Collapse(page)
		lo := min((req.Page-1)*req.Size, len(page))
		page = page[lo:min(lo+req.Size, len(page))]
		if len(page) == 0 {
			return out, nil
		}
	}
	if page, err = s.Load(ctx, snap, q, page, true); err != nil {
		return nil, err
	}
	out.Hits = append(out.Hits, page...)
	return out, nil
}

// hitFields are the stored fields a hit shows.
var hitFields = []string{shards.FieldTitle, shards.FieldSource, shards.FieldAuthor, shards.FieldURL,
	shards.FieldPublished, shards.FieldCluster}

// Pass is one search of a query over the days of a snapshot, as Search runs
// it, before paging, folding and loading.
type Pass struct {
	Hits    []Hit          // the best, ranked: ID, Score and SortKey only (see Load)
	Total   uint64         // every match
	Days    map[string]int // matches per day (YYYYMMDD), for days with any
	Sources map[string]int // matches per source, when facets were asked for
}

// RunPass ranks q over the days of snap the way Search does (each day on
// its own, newest first when ranked by time) and keeps the best want hits.
// Cluster search runs it on each node, with q wrapped in cluster-wide
// scoring figures; facets come back whole, not trimmed.
func (s *Searcher) RunPass(ctx context.Context, snap *shards.Snapshot, q query.Query, want int, sortTime, facets bool) (*Pass, error) {
	p := &Pass{Days: map[string]int{}, Sources: map[string]int{}}
	if len(snap.Days) == 0 {
		return p, nil
	}
	r, err := s.rank(ctx, snap, q, want, Request{SortTime: sortTime, Facets: facets})
	if err != nil {
		return nil, err
	}
	p.Hits, p.Total, p.Sources = r.hits[:min(want, len(r.hits))], r.total, r.sources
	for i, n := range r.perDay {
		if n > 0 {
			p.Days[snap.Days[i]] = int(n)
		}
	}
	return p, nil
}

// Load fills in hits that RunPass found on the same snapshot: every field
// and highlighted fragments when full, the cluster id alone otherwise.
func (s *Searcher) Load(ctx context.Context, snap *shards.Snapshot, q query.Query, hits []Hit, full bool) ([]Hit, error) {
	if !full {
		return s.load(ctx, snap, q, hits, []string{shards.FieldCluster}, false)
	}
	return s.load(ctx, snap, q, hits, hitFields, true)
}

// LoadIDs loads, with every field and highlighted fragments, the posts with
// these ids that match q, from whichever days of snap hold them.
func (s *Searcher) LoadIDs(ctx context.Context, snap *shards.Snapshot, q query.Query, ids []string) ([]Hit, error) {
	hits := make([]Hit, len(ids))
	for i, id := range ids {
		hits[i] = Hit{ID: id, day: -1}
	}
	return s.load(ctx, snap, q, hits, hitFields, true)
}

// SortKey is the hit's place when ranked by time (empty when ranked by
// relevance): posts sort newest first by it.
func (h Hit) SortKey() string { return h.sortKey }

// SortOrder is the Bleve sort of a search: by score alone (a tie-break on
// a field would read its doc values for every match, which costs more than
// the scoring), or newest first by the sort key, which ends in the post id
// and so never ties.
func SortOrder(byTime bool) []string {
	if byTime {
		return []string{"-" + shards.FieldSortKey}
	}
	return []string{"-_score"}
}

// ranked is the merged answer of every day before loading.
type ranked struct {
	hits    []Hit // best first; Hit.day says where each lives
	total   uint64
	perDay  []uint64 // matches per snapshot day: the day facet for free
	sources map[string]int
}

func (r *ranked) facets(days []string) *Facets {
	f := &Facets{Source: []Bucket{}, Day: []Bucket{}}
	for term, n := range r.sources {
		f.Source = append(f.Source, Bucket{Term: term, Count: n})
	}
	// Bleve's facet order: count, then term.
	sort.Slice(f.Source, func(i, j int) bool {
		if f.Source[i].Count != f.Source[j].Count {
			return f.Source[i].Count > f.Source[j].Count
		}
		return f.Source[i].Term < f.Source[j].Term
	})
	f.Source = f.Source[:min(len(f.Source), sourceFacetSize)]
	for i, n := range r.perDay {
		if n > 0 {
			f.Day = append(f.Day, Bucket{Term: days[i], Count: int(n)})
		}
	}
	return f
}

// sourceFacetSize is how many sources the answer shows; every source is
// counted in every day, so the merged top is exact.
const sourceFacetSize = 20

// rank asks the days for their best want hits and merges them. Ranked by
// relevance, every day is asked at once. Ranked by time, days are asked
// newest first, a few at a time, until the page is full: older days cannot
// reach it, so they only count their matches (and sources), which skips
// reading a sort key for each of them.
func (s *Searcher) rank(ctx context.Context, snap *shards.Snapshot, q query.Query, want int, req Request) (*ranked, error) {
	n := len(snap.Days)
	r := &ranked{perDay: make([]uint64, n), sources: map[string]int{}}
	daySources := make([]map[string]int, n)
	ask := func(days []int, size int) error {
		return s.eachDay(ctx, snap, days, func(i int, ctx context.Context) (context.Context, *bleve.SearchRequest) {
			sr := bleve.NewSearchRequestOptions(q, size, 0, false)
			if size > 0 {
				sr.SortBy(SortOrder(req.SortTime))
			}
			if req.SortTime || size == 0 {
				sr.Score = "none"
			}
			if req.Facets {
				daySources[i] = map[string]int{}
				ctx = s.sources.countSources(ctx, snap.Indexes[i], daySources[i])
			}
			return ctx, sr
		}, func(i int, res *bleve.SearchResult) {
			r.total += res.Total
			r.perDay[i] = res.Total
			for term, c := range daySources[i] {
				r.sources[term] += c
			}
			for _, h := range res.Hits {
				r.hits = append(r.hits, Hit{ID: h.ID, Score: h.Score, day: i, sortKey: sortKey(h)})
			}
		})
	}
	all := make([]int, n)
	for i := range all {
		all[i] = n - 1 - i // newest first
	}
	if !req.SortTime {
		if err := ask(all, want); err != nil {
			return nil, err
		}
	} else {
		step := s.parallel
		done := 0
		for done < n && len(r.hits) < want {
			wave := all[done:min(done+step, n)]
			if err := ask(wave, want); err != nil {
				return nil, err
			}
			done += len(wave)
		}
		if done < n {
			if err := ask(all[done:], 0); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(r.hits, func(i, j int) bool {
		a, b := r.hits[i], r.hits[j]
		if req.SortTime {
			return a.sortKey > b.sortKey
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return a.ID < b.ID
	})
	return r, nil
}

// sortKey is the hit's FieldSortKey. A day built before the key existed
// (until the re-index at start rebuilds it) has none, and Bleve fills in a
// high marker that would sort its posts first; they go last instead.
func sortKey(h *blevesearch.DocumentMatch) string {
	if len(h.Sort) == 0 || h.Sort[0] == "" || h.Sort[0][0] < '0' || h.Sort[0][0] > '9' {
		return ""
	}
	return h.Sort[0]
}

// eachDay runs the request mk makes on each of the given snapshot days, at
// most s.parallel at a time, and hands every answer to got (serially).
func (s *Searcher) eachDay(ctx context.Context, snap *shards.Snapshot, days []int,
	mk func(day int, ctx context.Context) (context.Context, *bleve.SearchRequest), got func(day int, res *bleve.SearchResult)) error {
	type answer struct {
		day int
		res *bleve.SearchResult
		err error
	}
	ctx, cancel := context.WithCancel(ctx) // the first error stops the rest
	defer cancel()
	ch := make(chan answer, len(days))
	sem := make(chan struct{}, s.parallel)
	for _, d := range days {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			dctx, sr := mk(d, ctx)
			res, err := snap.Indexes[d].SearchInContext(dctx, sr)
			ch <- answer{d, res, err}
		}()
	}
	var first error
	for range days {
		a := <-ch
		switch {
		case first != nil:
		case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
			first = fmt.Errorf("%w (limit %s)", ErrTimeout, s.timeout)
		case a.err != nil:
			first = fmt.Errorf("search posts of %s: %w", snap.Days[a.day], a.err)
			cancel()
		default:
			got(a.day, a.res)
		}
	}
	return first
}

// load fetches the ranked hits' fields (and highlights), asking only the
// days that hold them, and keeps the ranking's order and scores; a post
// replaced meanwhile drops out.
func (s *Searcher) load(ctx context.Context, snap *shards.Snapshot, q query.Query, hits []Hit, fields []string, withHighlight bool) ([]Hit, error) {
	byDay := map[int][]string{}
	var days []int
	add := func(d int, id string) {
		if byDay[d] == nil {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], id)
	}
	for _, h := range hits {
		if h.day >= 0 {
			add(h.day, h.ID)
			continue
		}
		for d := range snap.Days { // the day is not known: ask them all
			add(d, h.ID)
		}
	}
	got := make(map[string]*blevesearch.DocumentMatch, len(hits))
	gotDay := make(map[string]int, len(hits))
	err := s.eachDay(ctx, snap, days, func(d int, ctx context.Context) (context.Context, *bleve.SearchRequest) {
		ids := byDay[d]
		sr := bleve.NewSearchRequestOptions(query.NewConjunctionQuery([]query.Query{q, query.NewDocIDQuery(ids)}), len(ids), 0, false)
		sr.Fields = fields
		sr.Score = "none"
		if withHighlight {
			highlight(sr)
		}
		return ctx, sr
	}, func(d int, res *bleve.SearchResult) {
		for _, h := range res.Hits {
			got[h.ID], gotDay[h.ID] = h, d
		}
	})
	if err != nil {
		return nil, err
	}
	if texts := s.idx.Texts(); withHighlight && texts != nil && len(got) > 0 {
		if err := highlightBodies(ctx, texts, got); err != nil {
			return nil, err
		}
	}
	out := make([]Hit, 0, len(hits))
	for _, h := range hits {
		if dm, ok := got[h.ID]; ok {
			g := toHit(dm)
			g.day = gotDay[h.ID]
			g.Score, g.Duplicates, g.sortKey = h.Score, h.Duplicates, h.sortKey
			out = append(out, g)
		}
	}
	return out, nil
}

// highlightBodies marks the page's hits in their bodies, which a lean index
// does not store: the bodies come from texts in one request, and Bleve's
// own highlighter marks the locations the query matched in the index (so
// nothing is analysed again). A body that changed since it was indexed
// keeps only the marks that still fall inside it.
func highlightBodies(ctx context.Context, texts shards.Texts, hits map[string]*blevesearch.DocumentMatch) error {
	ids := make([]string, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	bodies, err := texts.PostBodies(ctx, ids)
	if err != nil {
		return fmt.Errorf("bodies for highlighting: %w", err)
	}
	hl, err := bleve.Config.Cache.HighlighterNamed(highlightStyle)
	if err != nil {
		return err
	}
	for id, dm := range hits {
		body, ok := bodies[id]
		if !ok {
			continue
		}
		for term, locs := range dm.Locations[shards.FieldBody] {
			kept := locs[:0]
			for _, l := range locs {
				if l.End <= uint64(len(body)) && l.Start <= l.End {
					kept = append(kept, l)
				}
			}
			dm.Locations[shards.FieldBody][term] = kept
		}
		doc := document.NewDocument(id)
		doc.AddField(document.NewTextFieldWithIndexingOptions(shards.FieldBody, nil, []byte(body), index.StoreField))
		if frags := hl.BestFragmentsInField(dm, doc, shards.FieldBody, 1); len(frags) > 0 {
			if dm.Fragments == nil {
				dm.Fragments = blevesearch.FieldFragmentMap{}
			}
			dm.Fragments[shards.FieldBody] = frags
		}
	}
	return nil
}

// cutRange returns the ends of [from, to] that cut a day. The snapshot
// already holds only the days in range; a range query is needed only for an
// end inside a day, and it is not cheap (numeric range terms over every
// match).
func cutRange(from, to time.Time, loc *time.Location) (time.Time, time.Time) {
	if !from.IsZero() && dayStart(from, loc) {
		from = time.Time{}
	}
	if !to.IsZero() && dayStart(to.Add(time.Nanosecond), loc) {
		to = time.Time{}
	}
	return from, to
}

// dayStart reports whether t is the first instant of its day in loc.
func dayStart(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// highlightStyle is Bleve's highlighter for fragments: HTML-escaped text
// with <mark> around the matches.
const highlightStyle = "html"

func highlight(sr *bleve.SearchRequest) {
	sr.Highlight = bleve.NewHighlightWithStyle(highlightStyle)
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

// Collapse keeps the first (best) hit of each near-duplicate cluster and
// counts the others in its Duplicates; cluster 0 means unclustered and is
// never folded. It reuses hits' storage.
func Collapse(hits []Hit) []Hit {
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
	if len(must) == 0 {
		must = append(must, query.NewMatchAllQuery())
	}
	var q query.Query = query.NewBooleanQuery(must, nil, mustNot)
	if len(must) == 1 && len(mustNot) == 0 {
		q = must[0] // spares a conjunction searcher around every hit
	}
	if !from.IsZero() || !to.IsZero() {
		q = TimeRange(q, from, to)
	}
	return q
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
		return &phraseQuery{text: c.Text, field: field, analyzer: analyzer, boost: boost}
	}
	m := query.NewMatchQuery(c.Text)
	m.SetField(field)
	m.Analyzer = analyzer
	m.SetOperator(query.MatchQueryOperatorAnd)
	m.SetBoost(boost)
	return m
}
