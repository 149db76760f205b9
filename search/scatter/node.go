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

	"github.com/netpulse/netpulse/jsonapi"
	"github.com/netpulse/netpulse/search"
)

// Internal endpoints a process node serves to the api role. They take the
// cluster token as a bearer token and are not meant for browsers.
const (
	PathStats = "/internal/v1/search/stats"
	PathHits  = "/internal/v1/search/hits"
)

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

// NodeHit is one hit as a node returns it: the hit as one node's search
// has it (fields and fragments loaded when asked for) and, ranked by time,
// its sort key.
type NodeHit struct {
	search.Hit
	Sort []string `json:"sort,omitempty"`
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
	s     *search.Searcher // per-day passes and loading, as on one node
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
	// Without a registry NewSearcher cannot fail; the time limit is the
	// coordinator's (its request's context).
	s, _ := search.NewSearcher(idx, time.Hour, nil)
	return &Node{idx: idx, s: s, token: token, log: log}
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
	reply(w, r, n.log, st, err)
}

func (n *Node) serveHits(w http.ResponseWriter, r *http.Request) {
	var req HitsRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	res, err := n.Hits(r.Context(), req)
	reply(w, r, n.log, res, err)
}

func reply(w http.ResponseWriter, r *http.Request, log *slog.Logger, v any, err error) {
	var qe *search.QueryError
	switch {
	case errors.As(err, &qe):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		jsonapi.LogFailure(log, r, slog.LevelError, "cluster search", "err", err)
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
	// Scoring reads its figures while the searchers are being built, so
	// building them on each day is the whole round: no match is visited.
	for i, idx := range snap.Indexes {
		if err := buildSearcher(ctx, idx, sq); err != nil {
			return nil, fmt.Errorf("search stats of %s: %w", snap.Days[i], err)
		}
	}
	return col.stats(), nil
}

// buildSearcher builds q's searcher on idx's current view and closes it.
func buildSearcher(ctx context.Context, idx bleve.Index, q query.Query) error {
	ix, err := idx.Advanced()
	if err != nil {
		return err
	}
	r, err := ix.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := q.Searcher(ctx, r, idx.Mapping(), blevesearch.SearcherOptions{})
	if err != nil {
		return err
	}
	return s.Close()
}

// Hits runs one phase of a search with the cluster's figures, through the
// single-node searcher's per-day passes (search.Searcher.RunPass), so that a
// node ranks, counts and loads exactly as one node alone does.
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
	if req.Stats != nil {
		q = applyQuery(q, req.Stats)
	}
	if len(req.IDs) > 0 {
		// The page of a folded search: load it wherever it lives.
		hits, err := n.s.LoadIDs(ctx, snap, q, req.IDs)
		if err != nil {
			return nil, fmt.Errorf("search hits: %w", err)
		}
		out.Total = uint64(len(hits))
		out.Hits = nodeHits(hits, false)
		return out, nil
	}
	p, err := n.s.RunPass(ctx, snap, q, req.Offset+req.Size, req.SortTime, req.Facets)
	if err != nil {
		return nil, fmt.Errorf("search hits: %w", err)
	}
	out.Total = p.Total
	page := p.Hits[min(req.Offset, len(p.Hits)):]
	if page, err = n.s.Load(ctx, snap, q, page, req.Full); err != nil {
		return nil, fmt.Errorf("search hits: %w", err)
	}
	out.Hits = nodeHits(page, req.SortTime)
	if req.Facets {
		out.Facets = map[string]*NodeFacet{
			"source": {Terms: p.Sources, Total: int(p.Total)},
			"day":    {Terms: p.Days, Total: int(p.Total)},
		}
	}
	return out, nil
}

// nodeHits puts loaded hits in the wire form the coordinator merges.
func nodeHits(hits []search.Hit, byTime bool) []NodeHit {
	out := make([]NodeHit, 0, len(hits))
	for _, h := range hits {
		nh := NodeHit{Hit: h}
		if byTime {
			nh.Sort = []string{h.SortKey()}
		}
		out = append(out, nh)
	}
	return out
}

// sortOrder is the single-node searcher's order.
func sortOrder(byTime bool) []string { return search.SortOrder(byTime) }
