package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSeenRetention is how long a published URL is remembered.
const DefaultSeenRetention = 90 * 24 * time.Hour

// PruneConfig tunes a SeenPruner; zero fields take defaults.
type PruneConfig struct {
	// MaxAge is how long a seen URL is kept (default DefaultSeenRetention).
	// Give the crawler the same value as Config.SeenRetention: it does not
	// republish a forgotten URL whose page is dated older than that.
	MaxAge time.Duration
	// Every is the pause between prunes (default 1h); the first prune runs
	// at start.
	Every  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// SeenPruner forgets seen URLs older than MaxAge on a timer.
type SeenPruner struct {
	store  *Store
	cfg    PruneConfig
	pruned prometheus.Counter
}

// NewSeenPruner registers its metric on reg.
func NewSeenPruner(store *Store, cfg PruneConfig, reg prometheus.Registerer) (*SeenPruner, error) {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultSeenRetention
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &SeenPruner{store: store, cfg: cfg, pruned: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "netpulse", Subsystem: "feeds", Name: "seen_pruned_total",
		Help: "Seen URLs forgotten because they were published longer ago than the seen retention."})}
	if err := reg.Register(p.pruned); err != nil {
		return nil, fmt.Errorf("register seen pruner metric: %w", err)
	}
	return p, nil
}

// PruneOnce forgets the URLs seen before now minus MaxAge.
func (p *SeenPruner) PruneOnce() (int, error) {
	n, err := p.store.PruneSeen(p.cfg.Now().Add(-p.cfg.MaxAge))
	p.pruned.Add(float64(n))
	return n, err
}

// Run prunes at start and then every Every until ctx ends; it returns nil
// then. A failed prune is logged and tried again next time.
func (p *SeenPruner) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Every)
	defer t.Stop()
	for {
		n, err := p.PruneOnce()
		switch {
		case err != nil:
			p.cfg.Logger.Error("prune seen urls", "err", err)
		case n > 0:
			p.cfg.Logger.Info("seen urls pruned", "count", n, "max_age", p.cfg.MaxAge)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
