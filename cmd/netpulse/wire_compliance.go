package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/alerts/compliance"
	"github.com/netpulse/netpulse/pipeline/bus"
)

// wireCompliance connects the venue compliance checks: on process nodes a
// checker that the records writer hands every stored batch (wireIntake),
// rebuilt from the store before the writer starts, with its sweep; on the
// leader the daily registration-gap evaluation; on api nodes the venue
// page's data. It runs after wireAlerts, whose lifecycle it raises into.
func (a *app) wireCompliance(ctx context.Context) error {
	log := a.log.With("part", "compliance")
	if a.cfg.hasRole("api") {
		compliance.Mount(a.mux, access.Require(a.access, access.RoleDuty, access.RoleAdmin, access.RoleLeader),
			a.db, a.cfg.ComplianceMaxOpen, log)
	}
	if !a.cfg.hasRole("process") {
		return nil
	}
	c, err := compliance.New(compliance.Options{
		Raiser: a.alerts,
		DB:     a.db,
		Venue: func(ctx context.Context, code string) (compliance.Venue, error) {
			v, err := a.access.Venue(ctx, code)
			if err != nil {
				return compliance.Venue{}, err
			}
			return compliance.Venue{Code: v.Code, Kind: v.Kind, Name: v.Name, Unit: v.Unit}, nil
		},
		MaxOpen: a.cfg.ComplianceMaxOpen,
		Grace:   a.cfg.ComplianceGrace,
		Window:  a.cfg.ComplianceWindow,

		GapMinRows:      a.cfg.ComplianceGapRows,
		GapRejectShare:  a.cfg.ComplianceGapRefused,
		GapMissingShare: a.cfg.ComplianceGapMissing,
		Log:             log,
		Reg:             a.reg,
	})
	if err != nil {
		return err
	}
	if err := c.Load(ctx); err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	a.compliance = c
	sctx, cancel := context.WithCancel(ctx)
	a.group.Add(func() error { return c.Run(sctx, 10*time.Second, 0) }, func(error) { cancel() })
	a.runLed("registration gaps", func(ctx context.Context) error {
		t := time.NewTicker(5 * time.Minute)
		defer t.Stop()
		for {
			if err := c.Gaps(ctx); err != nil && ctx.Err() == nil {
				log.Warn("registration gaps", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	return nil
}

// afterRecords is the records writer's after-store hook: the compliance
// checks see every stored batch, and a batch they fail on is replayed.
func (a *app) afterRecords(ctx context.Context, msgs []bus.Message) error {
	if a.compliance == nil {
		return errors.New("compliance checks not wired")
	}
	return a.compliance.Store(ctx, msgs)
}
