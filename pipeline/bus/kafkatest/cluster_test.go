package kafkatest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
)

// cluster is one three-node KRaft cluster shared by the tests of this
// file: starting it takes most of their time.
var cluster *kafkatest.Cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kafkatest-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		c, err := kafkatest.NewCluster(dir, 3)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
		defer c.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := time.Now()
		if err := c.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: start the cluster:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "three-node cluster up in %v\n", time.Since(start).Round(100*time.Millisecond))
		cluster = c
		return m.Run()
	}()
	os.Exit(code)
}

func specs(t *testing.T) []kafkabus.TopicSpec {
	t.Helper()
	s, err := kafkabus.ParseTopics(deploy.KafkaTopics())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openBus(t *testing.T, o kafkabus.Options) *kafkabus.Bus {
	t.Helper()
	o.Brokers = cluster.Brokers()
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := kafkabus.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestTopicsAsSpecified creates every topic of deploy/kafka/topics.yaml on
// brokers left at Kafka's defaults (min.insync.replicas=1,
// compression.type=producer, max.message.bytes=1 MiB) and reads back what
// the brokers hold: every config, partition count and replication factor
// must be the spec's, and a second start must find no drift.
func TestTopicsAsSpecified(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := specs(t)
	b := openBus(t, kafkabus.Options{Topics: spec})
	drift, err := b.EnsureTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) > 0 {
		t.Fatalf("fresh topics differ from the spec: %v", drift)
	}
	client := &kafka.Client{Addr: kafka.TCP(cluster.Brokers()...), Timeout: 10 * time.Second}
	req := &kafka.DescribeConfigsRequest{}
	names := make([]string, len(spec))
	for i, s := range spec {
		names[i] = s.Name
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name})
	}
	res, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Each broker learns of new topics a moment after the controller.
	var md *kafka.MetadataResponse
	for {
		md, err = client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil && !slices.ContainsFunc(md.Topics, func(t kafka.Topic) bool { return len(t.Partitions) == 0 }) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("metadata of the new topics: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range spec {
		t.Run(s.Name, func(t *testing.T) {
			var got map[string]string
			for _, r := range res.Resources {
				if r.ResourceName == s.Name {
					got = map[string]string{}
					for _, e := range r.ConfigEntries {
						got[e.ConfigName] = e.ConfigValue
					}
				}
			}
			if got == nil {
				t.Fatal("no configs described")
			}
			for _, k := range slices.Sorted(maps.Keys(s.Config)) {
				if got[k] != s.Config[k] {
					t.Errorf("%s = %q, spec %q", k, got[k], s.Config[k])
				}
			}
			for _, mt := range md.Topics {
				if mt.Name != s.Name {
					continue
				}
				if len(mt.Partitions) != s.Partitions {
					t.Errorf("%d partitions, spec %d", len(mt.Partitions), s.Partitions)
				}
				for _, p := range mt.Partitions {
					if len(p.Replicas) != s.ReplicationFactor {
						t.Errorf("partition %d has %d replicas, spec %d", p.ID, len(p.Replicas), s.ReplicationFactor)
					}
				}
			}
		})
	}
	// The durability settings above are the spec's own, not the
	// brokers': a topic created without them shows the defaults.
	if err := createBare(ctx, client, "bare.defaults"); err != nil {
		t.Fatal(err)
	}
	drift, err = openBus(t, kafkabus.Options{Topics: []kafkabus.TopicSpec{{Name: "bare.defaults", Partitions: 1,
		ReplicationFactor: 3, Config: map[string]string{"min.insync.replicas": "2", "compression.type": "zstd"}}}}).EnsureTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var weaker, other int
	for _, d := range drift {
		if d.Weaker {
			weaker++
		} else {
			other++
		}
	}
	if weaker != 1 || other != 1 {
		t.Fatalf("a bare topic on default brokers: want min.insync.replicas weaker and compression.type different, got %v", drift)
	}
	again, err := openBus(t, kafkabus.Options{Topics: spec}).EnsureTopics(ctx)
	if err != nil || len(again) > 0 {
		t.Fatalf("second start: drift %v, err %v", again, err)
	}
}

func createBare(ctx context.Context, c *kafka.Client, topic string) error {
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 3}}})
	if err != nil {
		return err
	}
	return res.Errors[topic]
}

// TestKcat uses Debian's kcat (librdkafka) as an outside team would: it
// consumes what netpulse published, headers included, and produces a
// message netpulse's consumer reads.
func TestKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed; deploy/dev/install-deps.sh kcat installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := openBus(t, kafkabus.Options{Topics: specs(t), Node: "node-a"})
	if _, err := b.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	value := `{"record_id":"r-kcat-1","venue":"KC-01"}`
	if err := b.Publish(ctx, bus.TopicAccess, bus.Message{Key: []byte("KC-01"), Value: []byte(value)}); err != nil {
		t.Fatal(err)
	}
	brokers := strings.Join(cluster.Brokers(), ",")
	out, err := exec.CommandContext(ctx, kcat, "-b", brokers, "-C", "-t", bus.TopicAccess, "-o", "beginning", "-e",
		"-J", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, out)
	}
	var found bool
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var m struct {
			Key     string   `json:"key"`
			Payload string   `json:"payload"`
			Headers []string `json:"headers"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("kcat line %q: %v", line, err)
		}
		if m.Payload != value {
			continue
		}
		found = true
		h := map[string]string{}
		for i := 0; i+1 < len(m.Headers); i += 2 {
			h[m.Headers[i]] = m.Headers[i+1]
		}
		want := map[string]string{kafkabus.HeaderSchema: "netpulse.access-record", kafkabus.HeaderSchemaVersion: "1",
			kafkabus.HeaderNode: "node-a", kafkabus.HeaderContentType: "application/json"}
		if !maps.Equal(h, want) || m.Key != "KC-01" {
			t.Errorf("kcat saw key %q headers %v, want KC-01 and %v", m.Key, h, want)
		}
	}
	if !found {
		t.Fatalf("kcat did not see the published message:\n%s", out)
	}

	// kcat produces (acks=all) into raw.posts; a netpulse consumer reads it.
	post := `{"id":"kcat-post-1","source":"kcat"}`
	p := exec.CommandContext(ctx, kcat, "-b", brokers, "-P", "-t", bus.TopicPosts, "-k", "kcat",
		"-H", kafkabus.HeaderSchema+"=netpulse.post", "-H", kafkabus.HeaderSchemaVersion+"=1",
		"-X", "acks=all", "-z", "zstd")
	p.Stdin = strings.NewReader(post + "\n")
	if out, err := p.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	c, err := b.Subscribe(ctx, "kcat-test", bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		msgs, err := c.Fetch(ctx, 100)
		if err != nil {
			t.Fatalf("netpulse consumer did not get kcat's message: %v", err)
		}
		for _, m := range msgs {
			if string(m.Value) == post && string(m.Key) == "kcat" {
				return
			}
		}
	}
}

// TestConsumerRecoversAfterOutage kills two of three brokers under a
// running consumer for longer than its error queue takes to fill, starts
// them again, and requires the consumer to read new messages within 10 s of
// the partitions having leaders again: kafka-go queues an error per
// partition retry, and handing each to bus.Consume, which backs off per
// error, made recovery as slow as the outage was long.
func TestConsumerRecoversAfterOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := openBus(t, kafkabus.Options{Partitions: 12, ReplicationFactor: 3})
	const topic = "recovery.test"
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			m := bus.Message{Key: fmt.Appendf(nil, "k%d", i%12), Value: fmt.Appendf(nil, "%d", i)}
			for b.Publish(ctx, topic, m) != nil {
				if ctx.Err() != nil {
					t.Fatal(ctx.Err())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	publish(0, 60)
	c, err := b.Subscribe(ctx, "recovery", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := make(chan int, 1000)
	var fetchErrs int
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Consume(cctx, c, bus.BatchOptions{Max: 100, OnError: func(step string, err error, _ int) {
			fetchErrs++
			t.Logf("%s: %v", step, err)
		}}, func(_ context.Context, msgs []bus.Message) error {
			for _, m := range msgs {
				var v int
				fmt.Sscan(string(m.Value), &v)
				seen <- v
			}
			return nil
		})
	}()
	defer func() { stop(); <-done }()
	got := map[int]bool{}
	wait := func(n int, within time.Duration) time.Duration {
		start := time.Now()
		deadline := time.After(within)
		for len(got) < n {
			select {
			case v := <-seen:
				got[v] = true
			case <-deadline:
				t.Fatalf("consumed %d of %d within %v", len(got), n, within)
			}
		}
		return time.Since(start)
	}
	wait(60, time.Minute)

	// kill -9: no controlled shutdown moves the leaderships first, and
	// with the quorum lost the last broker keeps naming dead leaders, so
	// every partition reader fails to dial and queues errors.
	down := cluster.Nodes[:2]
	for _, n := range down {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Second)
	for _, n := range down {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.WaitBrokers(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// The clock starts when every partition has a leader and enough
	// in-sync replicas to take writes again (killed brokers recover
	// their logs first).
	client := &kafka.Client{Addr: kafka.TCP(cluster.Brokers()...), Timeout: 2 * time.Second}
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && len(md.Topics[0].Partitions) > 0 &&
			!slices.ContainsFunc(md.Topics[0].Partitions, func(p kafka.Partition) bool {
				return p.Error != nil || p.Leader.ID < 0 || len(p.Isr) < 2
			}) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("partitions without leaders:", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	leadersAt := time.Now()
	// A fresh producer, so that what is measured is the consumer.
	b = openBus(t, kafkabus.Options{Partitions: 12, ReplicationFactor: 3})
	publish(60, 60)
	published := time.Since(leadersAt)
	consumed := wait(120, time.Minute)
	// With the controller quorum lost, the surviving broker's metadata
	// keeps naming the dead leaders, so the moment the partitions have
	// leaders again is only known for sure once the publishes succeed:
	// the consumer's clock starts there.
	t.Logf("after 20 s with two of three brokers killed: the new messages were acknowledged %v after the metadata showed leaders, and consumed %v after that; %d errors reported",
		published.Round(100*time.Millisecond), consumed.Round(100*time.Millisecond), fetchErrs)
	if consumed > 10*time.Second {
		t.Errorf("consumer took %v to read messages acknowledged after the outage; want under 10s", consumed.Round(100*time.Millisecond))
	}
}
