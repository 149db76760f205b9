package main

import "context"

// wire connects the subsystems to the bus, the store and the HTTP mux, and
// adds their loops to the run group. Each subsystem gets one wireX method.
func (a *app) wire(ctx context.Context) error {
	if err := a.wireIntake(ctx); err != nil {
		return err
	}
	if err := a.wireWeb(ctx); err != nil {
		return err
	}
	if err := a.wireReports(ctx); err != nil {
		return err
	}
	seg, err := a.wirePosts(ctx)
	if err != nil {
		return err
	}
	if err := a.wireFeeds(ctx, seg); err != nil {
		return err
	}
	if err := a.wireAlerts(ctx, seg); err != nil {
		return err
	}
	return nil
}
