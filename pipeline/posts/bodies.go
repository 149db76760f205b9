package posts

import (
	"context"
	"fmt"
)

// Selecter runs a read query (store.DB satisfies it).
type Selecter interface {
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// Bodies reads posts' bodies back from netpulse.posts, which keeps every
// post's text: the search index need not keep a second copy (it satisfies
// search/shards.Texts, for highlighting and re-indexing).
type Bodies struct{ DB Selecter }

// PostBodies returns the latest stored body of each id it knows.
func (b Bodies) PostBodies(ctx context.Context, ids []string) (map[string]string, error) {
	if len(ids) == 0 {
		return map[string]string{}, nil
	}
	var rows []struct {
		ID   string `json:"id"`
		Body string `json:"body"`
	}
	// The latest fetch wins, as FINAL would have it; the subquery lets the
	// primary key (id) pick the granules.
	if err := b.DB.Select(ctx, &rows, `SELECT id, argMax(body, fetched_at) AS body FROM `+Table+
		` WHERE id IN (SELECT arrayJoin(?)) GROUP BY id`, ids); err != nil {
		return nil, fmt.Errorf("read %d post bodies: %w", len(ids), err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Body
	}
	return out, nil
}
