package scatter

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/blevesearch/bleve/v2"
	blevesearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/netpulse/netpulse/search"
	"github.com/netpulse/netpulse/search/shards"
)

// Internal endpoints a process node serves to the api role. They take the
// cluster token as a bearer token and are not meant for browsers.
const (
	PathStats = "/internal/v1/search/stats"
	PathHits  = "/internal/v1/search/hits"
)

// facetSize is the per-node facet width. Nodes return every term (up to
// this many) so that the coordinator's sums are exact; the coordinator
// trims to the width the single-node search shows.
const facetSize = 10000

// Shape is the part of a search every phase repeats.
type Shape struct {
	Query string    `json:"q"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
}

// HitsRequest asks a node for one phase of a search.
type HitsRequest struct {
	Shape
	SortTime bool     `json:"sort_time,omitempty"`
	Offset   int      `json:"offset"`
	Size     int      `json:"size"`
	IDs      []string `json:"ids,omitempty"`    // only these posts (the page of a collapsed search)
	Full     bool     `json:"full,omitempty"`   // load fields and highlight
	Facets   bool     `json:"facets,omitempty"` // count sources and days
	Stats    *Stats   `json:"stats,omitempty"`  // cluster-wide scoring figures
}

// NodeHit is one hit as a node returns it.
type NodeHit struct {
	ID        string              `json:"id"`
	Score     float64             `json:"score"`
	Sort      []string            `json:"sort"`
	Fields    map[string]any      `json:"fields,omitempty"`
	Fragments map[string][]string `json:"fragments,omitempty"`
}

// NodeFacet is one facet's full counts on a node.
type NodeFacet struct {
	Terms   map[string]int `json:"terms"`
	Total   int            `json:"total"`
	Missing int            `json:"missing"`
}

// HitsResponse is a node's answer.
type HitsResponse struct {
	Total  uint64                `json:"total"`
	Hits   []NodeHit             `json:"hits"`
	Facets map[string]*NodeFacet `json:"facets,omitempty"`
}

// Node answers the coordinator from this node's shards.
type Node struct {
	idx   search.Index
	token string
	log   *slog.Logger
	db    Store   // with ix, for the repair endpoints (WithRepair)
	ix    Indexer // this node's shards
}

// NewNode serves idx to coordinators that present token.
func NewNode(idx search.Index, token string, log *slog.Logger) *Node {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{idx: idx, token: token, log: log}
}

// Routes mounts the internal endpoints.
func (n *Node) Routes(mux *http.ServeMux) {
	mux.Handle("POST "+PathStats, n.guard(http.HandlerFunc(n.serveStats)))
	mux.Handle("POST "+PathHits, n.guard(http.HandlerFunc(n.serveHits)))
	n.repairRoutes(mux)
}

func (n *Node) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "Bearer " + n.token
		if n.token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
			http.Error(w, "cluster token required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (n *Node) serveStats(w http.ResponseWriter, r *http.Request) {
	var s Shape
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&s); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	st, err := n.Stats(r.Context(), s)
	reply(w, n.log, st, err)
}

func (n *Node) serveHits(w http.ResponseWriter, r *http.Request) {
	var req HitsRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	res, err := n.Hits(r.Context(), req)
	reply(w, n.log, res, err)
}

func reply(w http.ResponseWriter, log *slog.Logger, v any, err error) {
	var qe *search.QueryError
	switch {
	case errors.As(err, &qe):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		log.Error("cluster search", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// build makes the query package search's Searcher makes for s: the day
// snapshot already limits the days, so a range clause (which takes part in
// scoring) is added only for an end that cuts a day.
func (n *Node) build(s Shape) (query.Query, error) {
	clauses, err := search.ParseQuery(s.Query)
	if err != nil {
		return nil, err
	}
	loc := n.idx.Location()
	from, to := s.From, s.To
	if !from.IsZero() && dayStart(from, loc) {
		from = time.Time{}
	}
	if !to.IsZero() && dayStart(to.Add(time.Nanosecond), loc) {
		to = time.Time{}
	}
	return search.BuildQuery(clauses, n.idx.QueryAnalyzer(), from, to), nil
}

func dayStart(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// Stats runs the query for its scoring figures only.
func (n *Node) Stats(ctx context.Context, s Shape) (*Stats, error) {
	q, err := n.build(s)
	if err != nil {
		return nil, err
	}
	snap := n.idx.Snapshot(s.From, s.To)
	defer snap.Release()
	if len(snap.Days) == 0 {
		return &Stats{Days: map[string]*DayStats{}}, nil
	}
	sq, col := collectQuery(q)
	sr := bleve.NewSearchRequestOptions(sq, 0, 0, false)
	if _, err := snap.Alias.SearchInContext(ctx, sr); err != nil {
		return nil, fmt.Errorf("search stats: %w", err)
	}
	return col.stats(), nil
}

// Hits runs one phase of a search with the cluster's figures.
func (n *Node) Hits(ctx context.Context, req HitsRequest) (*HitsResponse, error) {
	q, err := n.build(req.Shape)
	if err != nil {
		return nil, err
	}
	out := &HitsResponse{Hits: []NodeHit{}}
	snap := n.idx.Snapshot(req.From, req.To)
	defer snap.Release()
	if len(snap.Days) == 0 {
		return out, nil
	}
	if len(req.IDs) > 0 {
		q = query.NewConjunctionQuery([]query.Query{q, query.NewDocIDQuery(req.IDs)})
	}
	var bq query.Query = q
	if req.Stats != nil {
		bq = applyQuery(q, req.Stats)
	}
	sr := bleve.NewSearchRequestOptions(bq, req.Size, req.Offset, false)
	sr.SortBy(sortOrder(req.SortTime))
	if req.SortTime || len(req.IDs) > 0 {
		// As on one node: ranked by time, or loading a page already
		// ranked, nothing needs a score.
		sr.Score = "none"
	}
	if req.Facets {
		sr.AddFacet("source", bleve.NewFacetRequest(shards.FieldSource, facetSize))
		sr.AddFacet("day", bleve.NewFacetRequest(shards.FieldDay, facetSize))
	}
	if req.Full {
		sr.Fields = []string{shards.FieldTitle, shards.FieldSource, shards.FieldAuthor, shards.FieldURL,
			shards.FieldPublished, shards.FieldCluster}
		sr.Highlight = bleve.NewHighlightWithStyle("html")
		sr.Highlight.AddField(shards.FieldTitle)
		sr.Highlight.AddField(shards.FieldBody)
	} else {
		sr.Fields = []string{shards.FieldCluster}
	}
	res, err := snap.Alias.SearchInContext(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("search hits: %w", err)
	}
	out.Total = res.Total
	for _, h := range res.Hits {
		out.Hits = append(out.Hits, NodeHit{ID: h.ID, Score: h.Score, Sort: h.Sort, Fields: h.Fields, Fragments: h.Fragments})
	}
	if req.Facets {
		out.Facets = map[string]*NodeFacet{}
		for name, f := range res.Facets {
			out.Facets[name] = nodeFacet(f)
		}
	}
	return out, nil
}

func nodeFacet(f *blevesearch.FacetResult) *NodeFacet {
	nf := &NodeFacet{Terms: map[string]int{}, Total: f.Total, Missing: f.Missing}
	if f.Terms != nil {
		for _, t := range f.Terms.Terms() {
			nf.Terms[t.Term] = t.Count
		}
	}
	return nf
}

// sortOrder is the single-node searcher's order.
func sortOrder(byTime bool) []string { return search.SortOrder(byTime) }
