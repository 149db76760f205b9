package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	// The ceiling's analyser; Bleve registers it only when imported.
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/standard"

	"github.com/netpulse/netpulse/alerts/terms"
	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/posts"
	"github.com/netpulse/netpulse/search/shards"
)

// benchPostSet opens a day-sharded post index in dir as serve does, with
// the jieba analysers, or with analyzer for both sides if it is not empty.
func benchPostSet(env *benchEnv, dir, analyzer string) (*shards.Set, error) {
	cfg := shards.Config{Dir: dir, Location: env.defaults.Location, IndexAnalyzer: jieba.AnalyzerIndex,
		QueryAnalyzer: jieba.AnalyzerQuery, Logger: env.log}
	if analyzer != "" {
		cfg.IndexAnalyzer, cfg.QueryAnalyzer = analyzer, analyzer
	} else {
		seg, err := env.benchSeg()
		if err != nil {
			return nil, err
		}
		cfg.Fingerprint = seg.Fingerprint
		cfg.Tokens = seg
	}
	return shards.Open(cfg)
}

// benchDoc is a post as the posts stage indexes it.
func benchDoc(p *posts.Post) shards.Doc {
	return shards.Doc{ID: p.ID, Source: p.Source, URL: p.URL, Title: p.Title, Body: p.Body, Author: p.Author,
		PublishedAt: p.PublishedAt, ClusterID: p.ClusterID, Cut: p.Cut}
}

// benchPosts: posts per second from raw.posts through the posts stage
// (tokenise, store, index, commit) and the term counter (its own consumer
// group, as in serve), both running at once, until both have committed
// every post; against raw jieba cutting of the same text on every core, and
// against Bleve indexing the same posts with its standard analyser.
func benchPosts(ctx context.Context, env *benchEnv) ([]benchRow, error) {
	db, err := env.benchDB(ctx)
	if err != nil {
		return nil, err
	}
	seg, err := env.benchSeg()
	if err != nil {
		return nil, err
	}
	n := env.scale.Posts
	all := newBenchPostGen("bp-"+env.run+"-", 7).take(n)
	j, err := journal.Open(journal.Options{Dir: filepath.Join(env.dir, "journal"), Logger: env.log})
	if err != nil {
		return nil, err
	}
	defer j.Close()
	// The posts are on the bus before the clock starts, as a backlog, each
	// with the one cut the crawler or the push intake makes before
	// publishing; that cut's time is added to the stage's.
	msgs := make([]bus.Message, 0, 1000)
	var cutTime time.Duration
	for i := range all {
		tc := time.Now()
		all[i].Cut = seg.CutPost(all[i].Title, all[i].Body)
		cutTime += time.Since(tc)
		v, err := json.Marshal(&all[i])
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, bus.Message{Key: []byte(all[i].ID), Value: v, Time: all[i].FetchedAt})
		if len(msgs) == cap(msgs) || i == len(all)-1 {
			if err := j.Publish(ctx, bus.TopicPosts, msgs...); err != nil {
				return nil, err
			}
			msgs = msgs[:0]
		}
	}
	set, err := benchPostSet(env, filepath.Join(env.dir, "index"), "")
	if err != nil {
		return nil, err
	}
	defer set.Close()
	cons, err := j.Subscribe(ctx, "posts", bus.TopicPosts)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	stage, err := posts.NewConsumer(cons, db, set, seg, posts.Config{MaxBatch: env.defaults.BatchRows, MaxWait: env.defaults.BatchDelay,
		DeadLetter: j, Analyzer: jieba.AnalyzerIndex, Logger: env.log})
	if err != nil {
		return nil, err
	}
	counter, err := terms.New(terms.Options{Bus: j, DB: db, Tokenizer: seg, Cuts: seg, Log: env.log})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runErrs := make([]error, 2)
	for i, run := range []func(context.Context) error{stage.Run, counter.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); runErrs[i] = run(rctx) }()
	}
	env.progress("posts: stage + term counts", n)
	t0 := time.Now()
	err = benchWaitDrained(ctx, env.step, j, n, "posts", counter.Group())
	el := time.Since(t0) + cutTime
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(runErrs...); err != nil {
		return nil, err
	}
	if got := benchIndexed(set); got != uint64(n) {
		return nil, fmt.Errorf("posts bench: %d posts indexed, want %d", got, n)
	}
	rate := float64(n) / el.Seconds()
	env.productionDone()

	// Ceiling 1: jieba alone, cutting the same text on every core. Each
	// ceiling is the best of two passes (see benchBestOf).
	workers := runtime.GOMAXPROCS(0)
	env.progress("posts: raw jieba cut", 2*n)
	cutRate, _ := benchBestOf(2, func(int) (float64, error) {
		t1 := time.Now()
		var cw sync.WaitGroup
		for w := 0; w < workers; w++ {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for i := w; i < n; i += workers {
					seg.Cut(all[i].Title+"\n"+all[i].Body, jieba.Precise)
				}
				env.step(n / workers)
			}()
		}
		cw.Wait()
		return float64(n) / time.Since(t1).Seconds(), nil
	})

	// Ceiling 2: Bleve with its standard analyser, same posts, same batches.
	env.progress("posts: Bleve standard analyser", 2*n)
	stdRate, err := benchBestOf(2, func(pass int) (float64, error) {
		std, err := benchPostSet(env, filepath.Join(env.dir, fmt.Sprintf("standard-%d", pass)), "standard")
		if err != nil {
			return 0, err
		}
		defer std.Close()
		t2 := time.Now()
		docs := make([]shards.Doc, 0, env.defaults.BatchRows)
		for i := range all {
			docs = append(docs, benchDoc(&all[i]))
			if len(docs) == cap(docs) || i == len(all)-1 {
				if err := std.Index(ctx, docs); err != nil {
					return 0, err
				}
				env.step(len(docs))
				docs = docs[:0]
			}
		}
		return float64(n) / time.Since(t2).Seconds(), nil
	})
	if err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("%d posts of ~500 bytes, batches of %d", n, env.defaults.BatchRows)
	return []benchRow{
		{Metric: "tokenise → store → index → term counts", Value: rate, Unit: "posts/s",
			Ceiling: fmt.Sprintf("raw jieba cut, %d threads", workers), CeilingVal: cutRate, Description: desc},
		{Metric: "tokenise → store → index → term counts", Value: rate, Unit: "posts/s",
			Ceiling: "Bleve index, standard analyser", CeilingVal: stdRate, Description: desc},
	}, nil
}

// benchWaitDrained waits until every consumer group has committed all n
// messages of raw.posts, moving the progress bar with the slowest.
func benchWaitDrained(ctx context.Context, step func(int), j *journal.Journal, n int, groups ...string) error {
	done := 0
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		var worst int64
		for _, g := range groups {
			lag, err := j.Lag(ctx, g, bus.TopicPosts)
			if err != nil {
				return err
			}
			worst = max(worst, lag)
		}
		if now := n - int(worst); now > done {
			step(now - done)
			done = now
		}
		if worst == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("posts bench: groups %v not drained within 30 minutes", groups)
}

func benchIndexed(s *shards.Set) uint64 {
	n, _ := s.Alias().DocCount()
	return n
}
