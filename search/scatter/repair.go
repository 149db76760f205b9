package scatter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/netpulse/netpulse/search"
	"github.com/netpulse/netpulse/search/shards"
)

// Repair endpoints: a process node lists the post ids its shards hold, and
// indexes posts it reads from the store by id. The coordinator's Repair
// puts them together to rebuild, from the shared store, the shards of a
// node that is gone for good.
const (
	PathIDs   = "/internal/v1/search/ids"
	PathIndex = "/internal/v1/search/index"
)

// Store reads posts back; *store.DB satisfies it.
type Store interface {
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// Indexer writes posts into this node's shards; *shards.Set satisfies it.
type Indexer interface {
	Index(ctx context.Context, docs []shards.Doc) error
}

// Span is a time range of posts by publication time, both ends inclusive.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// IndexRequest names posts to index from the store.
type IndexRequest struct {
	IDs []string `json:"ids"`
}

// WithRepair lets the node answer the repair endpoints, reading posts from
// db and writing them with ix.
func (n *Node) WithRepair(db Store, ix Indexer) *Node {
	n.db, n.ix = db, ix
	return n
}

func (n *Node) repairRoutes(mux *http.ServeMux) {
	if n.db == nil || n.ix == nil {
		return
	}
	mux.Handle("POST "+PathIDs, n.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s Span
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&s); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		ids, err := n.IDs(r.Context(), s)
		reply(w, r, n.log, map[string][]string{"ids": ids}, err)
	})))
	mux.Handle("POST "+PathIndex, n.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req IndexRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		k, err := n.IndexFromStore(r.Context(), req.IDs)
		reply(w, r, n.log, map[string]int{"indexed": k}, err)
	})))
}

// IDs lists the ids of the posts published in s that this node's shards
// hold, in id order.
func (n *Node) IDs(ctx context.Context, s Span) ([]string, error) {
	snap := n.idx.Snapshot(s.From, s.To)
	defer snap.Release()
	ids := []string{}
	if len(snap.Days) == 0 {
		return ids, nil
	}
	dr := search.TimeRange(query.NewMatchAllQuery(), s.From, s.To)
	const page = 10000
	var after []string
	for {
		sr := bleve.NewSearchRequestOptions(dr, page, 0, false)
		sr.SortBy([]string{"_id"})
		sr.Score = "none"
		sr.SearchAfter = after
		res, err := snap.Alias.SearchInContext(ctx, sr)
		if err != nil {
			return nil, fmt.Errorf("list indexed posts: %w", err)
		}
		for _, h := range res.Hits {
			ids = append(ids, h.ID)
		}
		if len(res.Hits) < page {
			return ids, nil
		}
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
}

// storedPost is a post as the store returns it for indexing.
type storedPost struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	URL         string    `json:"url"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	Author      string    `json:"author"`
	PublishedAt time.Time `json:"published_at"`
	ClusterID   uint64    `json:"cluster_id,string"`
}

// IndexFromStore reads the posts ids from the store and indexes them here.
func (n *Node) IndexFromStore(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var rows []storedPost
	if err := n.db.Select(ctx, &rows, "SELECT id, source, url, title, body, author, published_at, toString(cluster_id) AS cluster_id "+
		"FROM netpulse.posts FINAL WHERE has(?, id)", ids); err != nil {
		return 0, fmt.Errorf("read posts to index: %w", err)
	}
	docs := make([]shards.Doc, len(rows))
	for i, p := range rows {
		docs[i] = shards.Doc{ID: p.ID, Source: p.Source, URL: p.URL, Title: p.Title, Body: p.Body, Author: p.Author,
			PublishedAt: p.PublishedAt, ClusterID: p.ClusterID}
	}
	if err := n.ix.Index(ctx, docs); err != nil {
		return 0, fmt.Errorf("index posts from the store: %w", err)
	}
	return len(docs), nil
}

// RepairResult says what Repair found and did.
type RepairResult struct {
	Stored  int    `json:"stored"`  // posts of the span in the store
	Indexed int    `json:"indexed"` // of those, held by some node's shards
	Rebuilt int    `json:"rebuilt"` // indexed now from the store
	Node    string `json:"node,omitempty"`
}

// Repair re-indexes, from the shared store, every post published in s that
// no node's shards hold (their node is gone for good), on the node that
// holds the fewest posts. Run it after replacing a lost process node.
func (c *Coordinator) Repair(ctx context.Context, db Store, s Span) (*RepairResult, error) {
	peers, err := c.peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list search nodes: %w", err)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("no search node is up")
	}
	var stored []struct {
		ID string `json:"id"`
	}
	if err := db.Select(ctx, &stored, "SELECT DISTINCT id FROM netpulse.posts WHERE published_at >= ? AND published_at <= ?",
		s.From, s.To); err != nil {
		return nil, fmt.Errorf("list stored posts: %w", err)
	}
	held := make([]map[string][]string, len(peers))
	if err := c.each(ctx, peers, PathIDs, func(int) any { return s }, func(i int) any {
		held[i] = map[string][]string{}
		return &held[i]
	}); err != nil {
		return nil, err
	}
	in := map[string]bool{}
	target, fewest := 0, -1
	for i, h := range held {
		for _, id := range h["ids"] {
			in[id] = true
		}
		if fewest < 0 || len(h["ids"]) < fewest {
			target, fewest = i, len(h["ids"])
		}
	}
	res := &RepairResult{Stored: len(stored), Node: peers[target]}
	var missing []string
	for _, p := range stored {
		if in[p.ID] {
			res.Indexed++
		} else {
			missing = append(missing, p.ID)
		}
	}
	for chunk := range slices.Chunk(missing, 1000) {
		var got map[string]int
		if err := c.post(ctx, peers[target]+PathIndex, IndexRequest{IDs: chunk}, &got); err != nil {
			return res, fmt.Errorf("rebuild on %s: %w", peers[target], err)
		}
		res.Rebuilt += got["indexed"]
	}
	return res, nil
}
