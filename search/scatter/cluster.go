// Package scatter searches the post shards of every process node of a
// cluster and merges the answers into the one a single index holding all
// those posts would give.
//
// Each process node indexes the posts of its raw.posts partitions into its
// own day shards (package shards) and serves them on two internal
// endpoints (Node). The api role's Coordinator runs a search in two
// rounds over HTTP:
//
//  1. stats: every node builds the query's searchers (without running them)
//     on a reader that records what TF-IDF scoring reads — per day, the document count and each looked-up
//     term's document frequency (and the terms a date range enumerates).
//     The coordinator sums them.
//  2. hits: every node runs the query again with the sums in place of its
//     own figures, so its scores are those of one index holding every
//     node's posts of that day; it returns its first from+size hits with
//     their sort keys and its full facet counts. The coordinator merges with
//     Bleve's own sort comparison, sums facets, and pages.
//
// Collapsed searches (near-duplicate clusters folded) rank a window first
// and then load the page's fields and highlights in a third round, exactly
// as package search does on one node.
//
// Each node runs its phases with the single-node searcher's per-day passes
// (search.Searcher.RunPass, Load, LoadIDs), so it ranks, counts and loads
// exactly as one node alone does. Facet counts are exact sums of every
// node's full counts, trimmed to the single-node width.
//
// A post indexed by two nodes (its partition moved between the index write
// and the offset commit) is returned once; its counts are then doubled in
// the stats of that day until the old copy ages out (see docs/sizing.md).
package scatter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	blevesearch "github.com/blevesearch/bleve/v2/search"

	"github.com/netpulse/netpulse/search"
)

// Peers lists the base URLs (http://host:port) of the process nodes.
type Peers func(ctx context.Context) ([]string, error)

// Coordinator runs cluster-wide searches.
type Coordinator struct {
	peers   Peers
	token   string
	client  *http.Client
	timeout time.Duration
}

// NewCoordinator searches the nodes peers lists, presenting token.
func NewCoordinator(peers Peers, token string, timeout time.Duration) *Coordinator {
	return &Coordinator{peers: peers, token: token, timeout: timeout,
		client: &http.Client{Timeout: timeout}}
}

// Search answers req over every node, with the single-node searcher's
// rules for paging, collapsing and facets.
func (c *Coordinator) Search(ctx context.Context, req search.Request) (*search.Result, error) {
	start := time.Now()
	if _, err := search.ParseQuery(req.Query); err != nil {
		return nil, err
	}
	if !req.From.IsZero() && !req.To.IsZero() && req.To.Before(req.From) {
		return nil, &search.QueryError{Msg: "time range ends before it starts"}
	}
	if req.Page < 1 {
		req.Page = 1
	}
	if req.Size <= 0 {
		req.Size = search.DefaultPageSize
	}
	if req.Size > search.MaxPageSize {
		req.Size = search.MaxPageSize
	}
	if req.Page*req.Size > search.MaxWindow {
		return nil, &search.QueryError{Msg: fmt.Sprintf("page %d is beyond the first %d hits; narrow the query", req.Page, search.MaxWindow)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	peers, err := c.peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list search nodes: %w", err)
	}
	if len(peers) == 0 {
		return nil, errors.New("no search node is up")
	}
	shape := Shape{Query: req.Query, From: req.From, To: req.To}

	parts := make([]*Stats, len(peers))
	if err := c.each(ctx, peers, PathStats, func(int) any { return shape }, func(i int) any {
		parts[i] = &Stats{}
		return parts[i]
	}); err != nil {
		return nil, err
	}
	global := Merge(parts...)

	size := req.Page * req.Size
	if req.Collapse {
		size = min(req.Page*req.Size*3+20, search.MaxWindow)
	}
	hr := HitsRequest{Shape: shape, SortTime: req.SortTime, Size: size, Full: !req.Collapse, Facets: req.Facets, Stats: global}
	resps := make([]*HitsResponse, len(peers))
	if err := c.each(ctx, peers, PathHits, func(int) any { return hr }, func(i int) any {
		resps[i] = &HitsResponse{}
		return resps[i]
	}); err != nil {
		return nil, err
	}
	out := &search.Result{Page: req.Page, Hits: []search.Hit{}}
	merged := mergeHits(resps, req.SortTime)
	for _, r := range resps {
		out.Total += r.Total
	}
	// A post on two nodes counts once.
	out.Total -= uint64(merged.dups)
	if req.Facets {
		out.Facets = &search.Facets{Source: mergeFacet(resps, "source", 20), Day: mergeFacet(resps, "day", 400)}
		sort.Slice(out.Facets.Day, func(i, j int) bool { return out.Facets.Day[i].Term < out.Facets.Day[j].Term })
	}
	if !req.Collapse {
		lo := min((req.Page-1)*req.Size, len(merged.hits))
		for _, h := range merged.hits[lo:min(lo+req.Size, len(merged.hits))] {
			out.Hits = append(out.Hits, h.Hit)
		}
		out.TookMS = time.Since(start).Milliseconds()
		return out, nil
	}
	ranked := make([]search.Hit, 0, len(merged.hits))
	for _, h := range merged.hits {
		ranked = append(ranked, h.Hit)
	}
	ranked = search.Collapse(ranked)
	lo := min((req.Page-1)*req.Size, len(ranked))
	page := ranked[lo:min(lo+req.Size, len(ranked))]
	if len(page) == 0 {
		out.TookMS = time.Since(start).Milliseconds()
		return out, nil
	}
	ids := make([]string, len(page))
	for i, h := range page {
		ids[i] = h.ID
	}
	fr := HitsRequest{Shape: shape, Size: len(ids), IDs: ids, Full: true}
	full := make([]*HitsResponse, len(peers))
	if err := c.each(ctx, peers, PathHits, func(int) any { return fr }, func(i int) any {
		full[i] = &HitsResponse{}
		return full[i]
	}); err != nil {
		return nil, err
	}
	byID := map[string]search.Hit{}
	for _, r := range full {
		for _, h := range r.Hits {
			if _, ok := byID[h.ID]; !ok {
				byID[h.ID] = h.Hit
			}
		}
	}
	for _, h := range page {
		f, ok := byID[h.ID]
		if !ok {
			continue // replaced between the rounds
		}
		f.Score, f.Duplicates = h.Score, h.Duplicates
		out.Hits = append(out.Hits, f)
	}
	out.TookMS = time.Since(start).Milliseconds()
	return out, nil
}

// each posts body(i) to path on every peer at once and decodes into
// into(i). Any node failing fails the search: a partial answer would rank
// and count wrongly without saying so.
func (c *Coordinator) each(ctx context.Context, peers []string, path string, body func(int) any, into func(int) any) error {
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.post(ctx, strings.TrimRight(p, "/")+path, body(i), into(i)); err != nil {
				errs[i] = fmt.Errorf("search node %s: %w", p, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Coordinator) post(ctx context.Context, url string, body, into any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if resp.StatusCode == http.StatusBadRequest {
			return &search.QueryError{Msg: strings.TrimSpace(string(msg))}
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

type mergedHits struct {
	hits []NodeHit
	dups int
}

// mergeHits orders every node's hits with Bleve's comparison for the sort
// order; equal keys fall back to the id so that the order is stable.
func mergeHits(resps []*HitsResponse, byTime bool) mergedHits {
	so := blevesearch.ParseSortOrderStrings(sortOrder(byTime))
	scoring, desc := so.CacheIsScore(), so.CacheDescending()
	type item struct {
		h  NodeHit
		dm *blevesearch.DocumentMatch
	}
	var all []item
	seen := map[string]bool{}
	dups := 0
	for _, r := range resps {
		for _, h := range r.Hits {
			if seen[h.ID] {
				dups++
				continue
			}
			seen[h.ID] = true
			all = append(all, item{h, &blevesearch.DocumentMatch{ID: h.ID, Score: h.Score, Sort: h.Sort}})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if c := so.Compare(scoring, desc, all[i].dm, all[j].dm); c != 0 {
			return c < 0
		}
		return all[i].h.ID < all[j].h.ID
	})
	out := mergedHits{dups: dups}
	for _, it := range all {
		out.hits = append(out.hits, it.h)
	}
	return out
}

// mergeFacet sums a facet over nodes and keeps the top n terms in Bleve's
// order (count, then term).
func mergeFacet(resps []*HitsResponse, name string, n int) []search.Bucket {
	sum := map[string]int{}
	for _, r := range resps {
		if f := r.Facets[name]; f != nil {
			for t, c := range f.Terms {
				sum[t] += c
			}
		}
	}
	out := make([]search.Bucket, 0, len(sum))
	for t, c := range sum {
		out = append(out, search.Bucket{Term: t, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Term < out[j].Term
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Handler serves GET /api/v1/search/posts for the cluster with the
// parameters and answer of package search's handler; loc is the time zone
// of the index's days, where a bare date in from/to is read.
func Handler(c *Coordinator, loc *time.Location, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := search.ParseRequest(r, loc)
		if err != nil {
			jsonapi.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		res, err := c.Search(r.Context(), req)
		var qe *search.QueryError
		switch {
		case errors.As(err, &qe):
			jsonapi.Error(w, http.StatusBadRequest, err.Error())
			return
		case err != nil:
			jsonapi.LogFailure(log, r, slog.LevelError, "cluster search", "q", req.Query, "err", err)
			w.Header().Set("Retry-After", "5")
			jsonapi.Error(w, http.StatusServiceUnavailable, "search failed on a node; retry")
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(res)
	})
}
