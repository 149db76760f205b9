package main

import (
	"context"
	"fmt"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/dashboards/reports"
	"github.com/netpulse/netpulse/dashboards/web"
)

// wireReports mounts the leaders' performance reports: the page and its
// CSV/PDF downloads inside the web UI's frame (session and CSRF rules of
// the shell), and the JSON API for bearer tokens. The report reads only the
// store, so it has no loop of its own; in the demo its figures come from the
// demo venues, records, posts and alerts that the other subsystems stream.
func (a *app) wireReports(ctx context.Context) error {
	shell, err := web.NewShell(a.access, web.ShellOptions{Secure: a.cfg.TLSCert != "",
		Log: a.log.With("part", "reports"), Routes: a.mux})
	if err != nil {
		return fmt.Errorf("reports shell: %w", err)
	}
	h, err := reports.NewHandler(reports.Options{DB: a.db, Users: a.access, Log: a.log.With("part", "reports"), Reg: a.reg, Frame: shell})
	if err != nil {
		return err
	}
	a.mux.Handle("GET /reports/", shell.Guard(access.RoleLeader)(h))
	a.mux.Handle("GET /api/v1/reports", access.Require(a.access, access.RoleLeader)(h))
	return nil
}
