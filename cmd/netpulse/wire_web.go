package main

import (
	"context"
	"fmt"

	"github.com/netpulse/netpulse/dashboards/web"
)

// wireWeb mounts the browser UI. Its pages call the other subsystems' JSON
// APIs through a.mux in process, at request time, so it may be wired in any
// order. The demo logins come from wireIntake.
func (a *app) wireWeb(ctx context.Context) error {
	s, err := web.New(web.Options{Access: a.access, Mux: a.mux, DB: a.db,
		Log: a.log.With("part", "web"), Secure: a.cfg.TLSCert != "", DeadLetters: a.deadLetterCount,
		// Read at request time: the feeds subsystem may be wired later.
		SourceTitles: func(ctx context.Context) (map[string]string, error) {
			if a.sourceTitles == nil {
				return nil, nil
			}
			return a.sourceTitles(ctx)
		}})
	if err != nil {
		return fmt.Errorf("web UI: %w", err)
	}
	s.Register(a.mux)
	return nil
}
