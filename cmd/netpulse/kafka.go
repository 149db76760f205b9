package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
)

// kafkaStartAttempts bounds how long serve waits for a broker at start
// (about 7 s each).
const kafkaStartAttempts = 5

// openKafkaBus connects the scaled-out bus. The client id names the node in
// broker logs, so that a rebalance can be traced to a host.
func openKafkaBus(ctx context.Context, cfg *Config, log *slog.Logger) (bus.Bus, error) {
	host, _ := os.Hostname()
	b, err := kafkabus.Open(kafkabus.Options{
		Brokers:           cfg.Kafka,
		Partitions:        cfg.KafkaPartitions,
		ReplicationFactor: cfg.KafkaReplication,
		ClientID:          "netpulse-" + host,
		Logger:            log.With("part", "kafka"),
	})
	if err != nil {
		return nil, fmt.Errorf("open kafka bus %v: %w", cfg.Kafka, err)
	}
	// Wiring subscribes and joins groups, which wait for the brokers without
	// end; a node that cannot reach any broker says so and exits instead, and
	// its supervisor (systemd, Kubernetes) starts it again.
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = b.Ready(rctx)
		cancel()
		if err == nil {
			return b, nil
		}
		if attempt == kafkaStartAttempts || ctx.Err() != nil {
			b.Close()
			return nil, fmt.Errorf("kafka brokers %v unreachable at start: %w", cfg.Kafka, err)
		}
		log.Warn("kafka not reachable yet; retrying", "brokers", cfg.Kafka, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}
