package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
)

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
	return b, nil
}
