package main

import (
	"context"

	"github.com/netpulse/netpulse/alerts/compliance"
	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// wire connects the subsystems to the bus, the store and the HTTP mux, and
// adds their loops to the run group. Each subsystem gets one wireX method.
//
// Roles (--roles) decide what runs on this node:
//
//	intake   venue and post intake APIs (stateless; behind a load balancer)
//	crawl    the feed scheduler, over the sources this node owns
//	process  the pipeline consumers (records, posts, term counts) in their
//	         consumer groups, this node's post shards, and a bid for the
//	         leader lease that runs the detector and the rules
//	api      the web UI, reports, record and post search (across every
//	         process node), and the alerts API
//
// Subsystems that mix roles gate their parts inside their wireX.
func (a *app) wire(ctx context.Context) error {
	if a.cfg.hasRole("intake") || a.cfg.hasRole("process") || a.cfg.hasRole("api") {
		if err := a.wireIntake(ctx); err != nil {
			return err
		}
	}
	if a.cfg.hasRole("api") {
		if err := a.wireWeb(ctx); err != nil {
			return err
		}
		if err := a.wireReports(ctx); err != nil {
			return err
		}
	}
	// Every role but a pure crawler needs posts; the crawler still needs
	// the process's one jieba segmenter, which wirePosts opens.
	seg, err := a.wirePosts(ctx)
	if err != nil {
		return err
	}
	// Alerts before feeds: the feed collector raises failing-source alerts
	// through a.alerts, which wireAlerts sets.
	if a.cfg.hasRole("process") || a.cfg.hasRole("api") {
		if err := a.wireAlerts(ctx, seg); err != nil {
			return err
		}
		if err := a.wireCompliance(ctx); err != nil {
			return err
		}
	}
	if a.cfg.hasRole("crawl") {
		if a.alerts == nil {
			// A crawl-only node has no alert board, but a source it
			// crawls that keeps failing must still reach the duty
			// officers: it raises the alert into the store, where every
			// api node's board follows it (and the leader escalates it).
			mgr, err := lifecycle.Open(ctx, lifecycle.Options{DB: a.db, Log: a.log.With("part", "alerts"), Reg: a.reg, Subject: compliance.Subject})
			if err != nil {
				return err
			}
			cfg, err := loadAlertsConfig(a.cfg.AlertsConfig)
			if err != nil {
				return err
			}
			a.alerts, a.monitorUnit = mgr, a.ownerUnit(cfg)
		}
		if err := a.wireFeeds(ctx, seg); err != nil {
			return err
		}
	}
	a.startLeader(ctx)
	return nil
}
