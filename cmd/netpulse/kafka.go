package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/netpulse/netpulse/pipeline/bus"
)

func openKafkaBus(ctx context.Context, cfg *Config, log *slog.Logger) (bus.Bus, error) {
	return nil, errors.New("kafka bus: not wired yet")
}
