package shards

import (
	"context"

	"github.com/netpulse/netpulse/pipeline/posts"
)

// IndexPosts indexes a batch of pipeline posts; it makes a Set the index
// that the posts consumer writes to (posts.Index), a seam the pipeline owns.
func (s *Set) IndexPosts(ctx context.Context, ps []posts.Post) error {
	docs := make([]Doc, len(ps))
	for i := range ps {
		p := &ps[i]
		docs[i] = Doc{ID: p.ID, Source: p.Source, URL: p.URL, Title: p.Title, Body: p.Body, Author: p.Author,
			PublishedAt: p.PublishedAt, ClusterID: p.ClusterID, Cut: p.Cut}
	}
	return s.Index(ctx, docs)
}
