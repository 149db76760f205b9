package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// stateCatchUp bounds how long a node waits at start to apply the shared
// state topic before it serves: a node that serves before it knows the
// cluster's venue keys would refuse them.
const stateCatchUp = 2 * time.Minute

// sharedTable is one table of the state topic kept by this process: its
// applier and how to stop it.
type sharedTable struct {
	log  *kvtopic.Log
	stop func() // cancels the applier, waits for it, drops connections; idempotent
}

// shareTable makes t this process's copy of table name in the shared state
// topic (package kvtopic): it starts the applier, merges t's local entries
// into the topic when t has never been shared (the first node seeds an
// empty topic; see kvtopic.Log.Start), and returns once t has caught up
// with the cluster.
// Each table gets its own Log: tables open at different points of wiring,
// and a reader per table over a small compacted topic costs little.
func shareTable(ctx context.Context, cfg *Config, log *slog.Logger, name string, t kvtopic.Table, join bool) (*sharedTable, error) {
	host, _ := os.Hostname()
	octx, cancel := context.WithTimeout(ctx, stateCatchUp)
	defer cancel()
	l, err := kvtopic.Open(octx, kvtopic.Options{
		Brokers:           cfg.Kafka,
		ReplicationFactor: cfg.topicReplication(kvtopic.DefaultTopic),
		ClientID:          "netpulse-" + host + "-state",
		Node:              host,
		Logger:            log.With("part", "state", "table", name),
		Join:              join,
	})
	if err != nil {
		return nil, fmt.Errorf("share table %s: %w", name, err)
	}
	l.Register(name, t)
	actx, stopApplier := context.WithCancel(context.Background())
	var once sync.Once
	st := &sharedTable{log: l, stop: func() {
		once.Do(func() {
			stopApplier()
			l.Wait()
			l.Close()
		})
	}}
	if err := l.Start(actx); err != nil {
		stopApplier()
		l.Close()
		return nil, fmt.Errorf("share table %s: %w", name, err)
	}
	if err := l.Sync(octx); err != nil {
		st.stop()
		return nil, fmt.Errorf("share table %s: catch up with the cluster: %w", name, err)
	}
	return st, nil
}

// share is shareTable for serve: the run group owns the applier, so that a
// failing applier stops the node (its supervisor restarts it) and shutdown
// stops the applier.
func (a *app) share(ctx context.Context, name string, t kvtopic.Table) (*kvtopic.Log, error) {
	st, err := shareTable(ctx, a.cfg, a.log, name, t, false)
	if err != nil {
		return nil, err
	}
	a.shared = append(a.shared, st)
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "netpulse_state_applied_offset",
		Help:        "Offset of netpulse.state below which this node has applied every change, per table; compare with the topic's end for the replication lag.",
		ConstLabels: prometheus.Labels{"table": name},
	}, func() float64 { return float64(st.log.Applied()) }))
	a.group.Add(func() error {
		if err := st.log.Wait(); err != nil {
			return fmt.Errorf("state applier %s: %w", name, err)
		}
		return nil
	}, func(error) { st.stop() })
	return st.log, nil
}
