package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/collectors/feeds"
	"github.com/netpulse/netpulse/collectors/feeds/demo"
)

// wireFeeds starts the feed collector: the source registry and health API
// (admin only), and the scheduler that crawls every enabled source and
// publishes to raw.posts. With --demo it also serves the demo sites on
// loopback and registers their sources.
func (a *app) wireFeeds(ctx context.Context, seg *jieba.Segmenter) (err error) {
	log := a.log.With("part", "feeds")
	st, err := feeds.OpenStore(filepath.Join(a.cfg.Data, "feeds"))
	if err != nil {
		return err
	}
	// seg (jieba for SimHash) is the process's one segmenter, owned and
	// closed by wirePosts.
	var site *demo.Site
	defer func() {
		if err != nil {
			if site != nil {
				site.Close()
			}
			st.Close()
		}
	}()
	if len(a.cfg.Kafka) > 0 {
		// Every crawl node needs every source: the sources are spread over
		// the nodes by partition (cluster.go), not by copying files.
		l, err := a.share(ctx, feeds.StateTable, st.StateTable())
		if err != nil {
			return err
		}
		st.Share(l)
	}
	health, err := feeds.NewHealth(st, a.reg, 3)
	if err != nil {
		return err
	}
	// Runs go to netpulse.crawl_runs, which the reports and every node's
	// health API read; the bbolt copy is this node's cache.
	health.ShareRuns(a.db, a.advertise())
	if a.alerts != nil {
		health.OnFailing(func(ctx context.Context, sh feeds.SourceHealth) error {
			// Health calls this once per failing streak, at the run that
			// made the source failing; that run's time names the alert.
			_, _, err := a.alerts.Raise(ctx, lifecycle.Signal{
				ID:   "feeds-failing:" + sh.Source + ":" + sh.LastErrorAt.UTC().Format(time.RFC3339Nano),
				Rule: "feed-source-failing", Kind: "source", Key: "source:" + sh.Source, Unit: a.monitorUnit,
				Severity: lifecycle.SeverityWarning, At: sh.LastErrorAt, Payload: sh,
				Title: fmt.Sprintf("采集源 %s 连续 %d 次抓取失败：%s", sh.Source, sh.ConsecutiveFailures, sh.LastError),
			})
			return err
		})
	}
	allow := append([]string(nil), a.cfg.CrawlAllow...)
	if a.cfg.Demo {
		if site, err = demo.Start(ctx, demo.Options{Logger: log}); err != nil {
			return fmt.Errorf("feeds demo: %w", err)
		}
		// The demo site listens on a new port each start: re-register.
		if err = st.PutSources(ctx, site.Sources()...); err != nil {
			return fmt.Errorf("feeds demo sources: %w", err)
		}
		// The crawler may reach exactly the demo site's address and port,
		// besides what crawl-allow names; nothing else on loopback.
		allow = append(allow, strings.TrimPrefix(site.BaseURL, "http://"))
	}
	crawler, err := feeds.NewCrawler(feeds.Config{UserAgent: a.cfg.UserAgent, SeenRetention: a.cfg.SeenRetention, Logger: log, Allow: allow},
		st, health, a.bus, seg, a.reg)
	if err != nil {
		return err
	}
	pruner, err := feeds.NewSeenPruner(st, feeds.PruneConfig{MaxAge: a.cfg.SeenRetention, Logger: log}, a.reg)
	if err != nil {
		return err
	}
	a.sourceTitles = func(context.Context) (map[string]string, error) {
		srcs, err := st.Sources()
		m := make(map[string]string, len(srcs))
		for _, s := range srcs {
			if s.Title != "" {
				m[s.Name] = s.Title
			}
		}
		return m, err
	}
	h := access.Require(a.access, access.RoleAdmin)(feeds.Handler(st, health, a.log.With("part", "sources")))
	a.mux.Handle("/api/v1/sources", h)
	a.mux.Handle("/api/v1/sources/", h)

	sctx, scancel := context.WithCancel(ctx)
	a.group.Add(func() error {
		// In a cluster each crawl node runs the sources it owns (cluster.go).
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = pruner.Run(sctx) // returns nil when sctx ends; failures are logged
		}()
		runErr := a.runCrawl(sctx, func(ctx context.Context, owns func(string) bool) error {
			// The node's share of the sources may have just changed: take
			// over their failure streaks from the shared run log.
			if err := health.Sync(ctx); err != nil {
				log.Warn("source health not synced from the run log; streaks restart here", "err", err)
			}
			return feeds.NewScheduler(feeds.SchedulerConfig{Logger: log, Owns: owns}, st, crawler).Run(ctx)
		})
		scancel()
		wg.Wait()
		if site != nil {
			site.Close()
		}
		return errors.Join(runErr, st.Close())
	}, func(error) { scancel() })
	return nil
}
