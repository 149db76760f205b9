package main

import (
	"context"
	"io"

	"github.com/netpulse/netpulse/bench"
)

// runBench runs `netpulse bench` with serve's real defaults and runtime
// settings, so that the figures are those of the shipped configuration.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("bench", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		return err
	}
	tuneRuntime(cfg)
	return bench.Run(ctx, args, stdout, stderr, bench.Defaults{BatchRows: cfg.BatchRows, BatchDelay: cfg.BatchDelay, Location: chinaTime})
}
