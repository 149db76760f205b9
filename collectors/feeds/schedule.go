package feeds

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Scheduler runs every enabled source on its interval.
type Scheduler struct {
	store       *Store
	crawler     *Crawler
	concurrency int
	tick        time.Duration
	now         func() time.Time
	owns        func(source string) bool
	rng         *rand.Rand
	log         *slog.Logger
}

// SchedulerConfig tunes a Scheduler; zero fields take defaults.
type SchedulerConfig struct {
	// Concurrency is how many sources may crawl at once (default 4).
	Concurrency int
	// Tick is how often the registry is re-read and due sources started
	// (default 1s); source changes through the API apply on the next tick.
	Tick time.Duration
	// Now is the clock that decides when a source is due.
	Now func() time.Time
	// Seed makes jitter reproducible; 0 picks a random seed.
	Seed   uint64
	Logger *slog.Logger
	// Owns, when set, limits the scheduler to the sources it accepts: in a
	// cluster each crawl node owns a share of the sources (serve hands it
	// the node's crawl partitions), so that no source is crawled twice.
	Owns func(source string) bool
}

// NewScheduler returns a scheduler over the sources in store.
func NewScheduler(cfg SchedulerConfig, store *Store, crawler *Crawler) *Scheduler {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{store: store, crawler: crawler, concurrency: cfg.Concurrency, tick: cfg.Tick,
		now: cfg.Now, owns: cfg.Owns, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), log: cfg.Logger}
}

// Run starts each enabled source when due: first within its jitter after
// start, then Interval plus up to Jitter after each run ends. At most
// Concurrency sources crawl at once; a due source waits for a slot and a
// source never overlaps itself. Run returns nil when ctx ends, after the
// running crawls have stopped.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, s.concurrency)
	var mu sync.Mutex
	next := map[string]time.Time{}
	running := map[string]bool{}

	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		srcs, err := s.store.Sources()
		if err != nil {
			s.log.Error("list feed sources", "err", err)
		}
		now := s.now()
		for _, src := range srcs {
			if !src.Enabled || (s.owns != nil && !s.owns(src.Name)) {
				continue
			}
			mu.Lock()
			due, known := next[src.Name]
			if !known {
				due = now.Add(s.jitter(src.Jitter))
				next[src.Name] = due
			}
			start := !running[src.Name] && !now.Before(due)
			if start {
				select {
				case sem <- struct{}{}:
					running[src.Name] = true
				default:
					start = false // all slots busy; try again next tick
				}
			}
			mu.Unlock()
			if !start {
				continue
			}
			wg.Add(1)
			go func(src Source) {
				defer wg.Done()
				defer func() { <-sem }()
				run, err := s.crawler.Crawl(ctx, src)
				if err != nil && ctx.Err() == nil {
					s.log.Warn("feed source run failed", "source", src.Name, "posts", run.Posts, "err", err)
				}
				mu.Lock()
				running[src.Name] = false
				next[src.Name] = s.now().Add(src.WithDefaults().Interval.Std() + s.jitter(src.Jitter))
				mu.Unlock()
			}(src)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Scheduler) jitter(j Duration) time.Duration {
	if j <= 0 {
		return 0
	}
	return time.Duration(s.rng.Int64N(int64(j)))
}
