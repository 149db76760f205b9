package search

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

// Reloader keeps the index in step with the domain dictionary: it reloads
// the dictionary file when it changes and re-indexes the days built with the
// previous dictionary (or analyser version), swapping each in when done.
//
// Between a reload and the end of the re-index, queries are cut with the new
// dictionary while some days still hold the old tokens, so a newly added
// word may briefly miss in those days; nothing else changes for searchers.
type Reloader struct {
	Seg      *jieba.Segmenter
	Index    *shards.Set
	Path     string        // the domain dictionary file
	Interval time.Duration // how often to look at the file; default 30s
	Log      *slog.Logger
}

// Run re-indexes stale days at start, then polls the dictionary until ctx
// ends. A change is acted on once the file has stopped changing for one
// Interval.
func (r *Reloader) Run(ctx context.Context) error {
	if r.Interval <= 0 {
		r.Interval = 30 * time.Second
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	last, settling := stamp(r.Path), ""
	if err := r.reindex(ctx); err != nil {
		r.Log.Error("re-index stale search days", "err", err)
	}
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := stamp(r.Path)
		if now == last {
			settling = ""
			continue
		}
		// A changed file is read once it has stayed the same for one
		// look: read while an editor or a copy is still writing it, it
		// would lose words (CI once caught the dictionary half written,
		// and the index was rebuilt without the shipped words).
		if now != settling {
			settling = now
			continue
		}
		last, settling = now, ""
		if _, err := r.Reload(ctx); err != nil {
			r.Log.Error("reload jieba dictionary", "path", r.Path, "err", err)
		}
	}
}

// Reload loads the dictionary now and re-indexes if it changed the tokens.
func (r *Reloader) Reload(ctx context.Context) (changed bool, err error) {
	changed, err = r.Seg.LoadUserDict(r.Path)
	if err != nil {
		return false, err
	}
	if !changed {
		return false, nil
	}
	r.Log.Info("jieba dictionary changed; re-indexing", "fingerprint", r.Seg.Fingerprint())
	return true, r.reindex(ctx)
}

func (r *Reloader) reindex(ctx context.Context) error {
	days, err := r.Index.Reindex(ctx)
	if len(days) > 0 {
		r.Log.Info("re-indexed search days", "days", len(days))
	}
	if err != nil {
		return fmt.Errorf("re-index: %w", err)
	}
	return nil
}

func stamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}
