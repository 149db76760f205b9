package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/posts"
	"github.com/netpulse/netpulse/search"
	"github.com/netpulse/netpulse/search/shards"
)

// chinaTime is where the post index's days begin (China has no DST).
var chinaTime = time.FixedZone("CST", 8*3600)

// wirePosts opens the process's one jieba segmenter (returned for the feed
// crawler to share), the day-sharded post index, the posts stage
// (raw.posts → ClickHouse + index), post search, the push intake, index
// retention and the dictionary reloader. The segmenter and the index close
// after every loop using them has stopped.
func (a *app) wirePosts(ctx context.Context) (seg *jieba.Segmenter, err error) {
	log := a.log.With("part", "posts")
	if seg, err = jieba.Open(filepath.Join(a.cfg.Data, "jieba")); err != nil {
		return nil, err
	}
	// The index stores the bodies (shards.Config.Texts nil): reading the
	// page's bodies back from the embedded chDB (posts.Bodies) cost about
	// 18 ms a search in the bench, ten times the search itself; the lean
	// index waits for a faster body source.
	var set *shards.Set
	defer func() {
		if err != nil {
			if set != nil {
				set.Close()
			}
			seg.Close()
		}
	}()
	if err = jieba.Register(seg); err != nil {
		return nil, err
	}
	set, err = shards.Open(shards.Config{Dir: filepath.Join(a.cfg.Data, "search", "posts"), Retention: a.cfg.PostRetention,
		Location: chinaTime, IndexAnalyzer: jieba.AnalyzerIndex, QueryAnalyzer: jieba.AnalyzerQuery,
		Fingerprint: seg.Fingerprint, Tokens: seg, Logger: log.With("stage", "index"), Registerer: a.reg})
	if err != nil {
		return nil, err
	}
	searcher, err := search.NewSearcher(set, 5*time.Second, a.reg)
	if err != nil {
		return nil, err
	}
	// In a cluster, search spans every process node (cluster.go).
	clusterSearch, err := a.wireSearchCluster(ctx, set)
	if err != nil {
		return nil, err
	}
	if a.cfg.hasRole("api") && !clusterSearch {
		a.mux.Handle("GET /api/v1/search/posts", access.Require(a.access, access.RoleAnalyst, access.RoleAdmin)(
			search.NewHandler(searcher, log.With("stage", "search"))))
	}
	if a.cfg.hasRole("intake") {
		a.mux.Handle("POST /api/v1/intake/posts", access.Require(a.access, access.RoleAdmin)(
			&posts.Intake{Producer: a.bus, Cutter: seg, Log: log.With("stage", "intake")}))
	}
	var loops []func(context.Context) error
	if a.cfg.hasRole("process") {
		cons, err := a.bus.Subscribe(ctx, "posts", bus.TopicPosts)
		if err != nil {
			return nil, fmt.Errorf("posts: subscribe: %w", err)
		}
		stage, err := posts.NewConsumer(cons, a.db, set, seg, posts.Config{MaxBatch: a.cfg.PostsBatchRows, MaxWait: a.cfg.PostsBatchDelay,
			DeadLetter: a.dead, Analyzer: jieba.AnalyzerIndex, Logger: log.With("stage", "consumer"), Registerer: a.reg})
		if err != nil {
			cons.Close()
			return nil, err
		}
		a.watchLag("posts", bus.TopicPosts)
		reloader := &search.Reloader{Seg: seg, Index: set, Path: seg.Paths().Domain, Log: log.With("stage", "dictionary")}
		loops = append(loops,
			func(ctx context.Context) error { defer cons.Close(); return stage.Run(ctx) },
			func(ctx context.Context) error { return set.Run(ctx, time.Hour) },
			reloader.Run)
	}
	lctx, cancel := context.WithCancel(ctx)
	a.group.Add(func() error {
		var wg sync.WaitGroup
		errs := make([]error, len(loops))
		for i, loop := range loops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs[i] = loop(lctx); errs[i] != nil {
					cancel() // one failed loop stops the node, as a group actor would
				}
			}()
		}
		<-lctx.Done()
		wg.Wait()
		errs = append(errs, set.Close())
		seg.Close()
		return errors.Join(errs...)
	}, func(error) { cancel() })
	return seg, nil
}
