package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/netpulse/netpulse/deploy"
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
	specs, err := kafkaTopics()
	if err != nil {
		return nil, err
	}
	b, err := kafkabus.Open(kafkabus.Options{
		Brokers:           cfg.Kafka,
		Topics:            specs,
		Partitions:        cfg.KafkaPartitions,
		ReplicationFactor: cfg.KafkaReplication,
		ClientID:          "netpulse-" + host,
		Node:              host,
		PublishTimeout:    cfg.PublishTimeout,
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
			if err := ensureTopics(ctx, cfg, b, log); err != nil {
				b.Close()
				return nil, err
			}
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

// kafkaTopics parses the topic spec compiled into the binary.
func kafkaTopics() ([]kafkabus.TopicSpec, error) {
	specs, err := kafkabus.ParseTopics(deploy.KafkaTopics())
	if err != nil {
		return nil, fmt.Errorf("deploy/kafka/topics.yaml: %w", err)
	}
	return specs, nil
}

// topicReplication is the replication factor topic is created with: the
// spec's unless --kafka-replication says otherwise.
func (c *Config) topicReplication(topic string) int {
	if c.KafkaReplication > 0 {
		return c.KafkaReplication
	}
	specs, _ := kafkaTopics()
	for _, t := range specs {
		if t.Name == topic {
			return t.ReplicationFactor
		}
	}
	return 1
}

// ensureTopics creates the spec's missing topics and compares the others
// with it. Every difference is logged; weaker durability stops serve
// unless --kafka-allow-weak-topics: acknowledged data on fewer disks than
// the spec promises is a decision for an operator, not a default.
func ensureTopics(ctx context.Context, cfg *Config, b *kafkabus.Bus, log *slog.Logger) error {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	drift, err := b.EnsureTopics(tctx)
	if err != nil {
		return fmt.Errorf("kafka topics: %w", err)
	}
	var weaker []string
	for _, d := range drift {
		log.Warn("kafka topic differs from deploy/kafka/topics.yaml", "topic", d.Topic, "setting", d.Setting,
			"spec", d.Want, "topic_has", d.Have, "weaker", d.Weaker)
		if d.Weaker {
			weaker = append(weaker, d.String())
		}
	}
	if len(weaker) > 0 && !cfg.KafkaAllowWeak {
		return fmt.Errorf("kafka topics are less durable than deploy/kafka/topics.yaml (%s); fix them "+
			"(kafka-configs.sh --alter, kafka-reassign-partitions.sh) or start with --kafka-allow-weak-topics",
			strings.Join(weaker, "; "))
	}
	return nil
}
