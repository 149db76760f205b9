package faults

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// TestKafkaWeakTopicsRefused starts serve on a broker that already holds
// raw.access, created by someone else with a one-hour retention where the
// spec (deploy/kafka/topics.yaml) keeps a week: records acknowledged to a
// venue could be deleted before a longer outage of the pipeline ends. serve
// must refuse to start and name the setting; with --kafka-allow-weak-topics
// it starts and logs the difference at WARN.
func TestKafkaWeakTopicsRefused(t *testing.T) {
	b := startKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 10 * time.Second}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: bus.TopicAccess, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Errors[bus.TopicAccess]; err != nil {
		t.Fatal(err)
	}

	data := t.TempDir()
	flags := []string{"--kafka", b.Addr(), "--kafka-partitions", "3", "--kafka-replication", "1",
		"--cluster-token", "faults-cluster-token-0123456789"}
	runCtx, runCancel := context.WithTimeout(ctx, 90*time.Second)
	defer runCancel()
	args := append([]string{"serve", "--data", data, "--listen", freeAddr(t)}, flags...)
	out, err := exec.CommandContext(runCtx, binary(t), args...).CombinedOutput()
	switch {
	case runCtx.Err() != nil:
		t.Fatalf("serve kept running on a raw.access topic that keeps records for an hour (spec: 7 days); want a refusal at start:\n%s", tail(string(out), 2000))
	case err == nil:
		t.Fatalf("serve exited 0 on a weaker raw.access topic; want a failure:\n%s", tail(string(out), 2000))
	}
	for _, want := range []string{"less durable", "raw.access retention.ms: spec 604800000, topic has 3600000", "--kafka-allow-weak-topics"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve's refusal does not say %q:\n%s", want, tail(string(out), 2000))
		}
	}

	s := startServer(t, data, append(flags, "--kafka-allow-weak-topics")...)
	var drift []string
	for _, l := range warnLines(s.logText()) {
		if strings.Contains(l, "differs from deploy/kafka/topics.yaml") && strings.Contains(l, "retention.ms") {
			drift = append(drift, l)
		}
	}
	if len(drift) == 0 {
		t.Errorf("serve started with --kafka-allow-weak-topics but logged no WARN about raw.access's retention:\n%s", tail(s.logText(), 3000))
	}
}

// waitProbe asks path until it answers want, for at most d.
func waitProbe(t *testing.T, s *server, path string, want int, d time.Duration) {
	t.Helper()
	var last reply
	for deadline := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := s.call(ctx, "GET", path, "", nil)
		cancel()
		if err == nil && r.code == want {
			return
		}
		last = r
		if time.Now().After(deadline) {
			t.Errorf("%s answers %v (err %v), want %d within %v", path, last, err, want, d)
			return
		}
	}
}
