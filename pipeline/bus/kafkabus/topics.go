package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// TopicSpec is one topic of deploy/kafka/topics.yaml.
type TopicSpec struct {
	Name              string `yaml:"name"`
	Partitions        int    `yaml:"partitions"`
	ReplicationFactor int    `yaml:"replication_factor"`
	// Scales marks topics whose partition count follows
	// Options.Partitions (--kafka-partitions) when that is set.
	Scales bool              `yaml:"scales"`
	Key    string            `yaml:"key"`
	Value  string            `yaml:"value"`
	Config map[string]string `yaml:"config"`
}

// ParseTopics reads a topics file ({topics: [...]}) and checks that every
// entry is complete and named once.
func ParseTopics(b []byte) ([]TopicSpec, error) {
	var f struct {
		Topics []TopicSpec `yaml:"topics"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse topic specs: %w", err)
	}
	seen := map[string]bool{}
	var errs []error
	for i, t := range f.Topics {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("topic %d: no name", i+1))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("topic %s: named twice", t.Name))
		case t.Partitions < 1 || t.ReplicationFactor < 1:
			errs = append(errs, fmt.Errorf("topic %s: partitions and replication_factor must be at least 1", t.Name))
		}
		for k, v := range t.Config {
			if durable[k] != nil {
				if _, err := strconv.ParseInt(v, 10, 64); err != nil && k != "unclean.leader.election.enable" {
					errs = append(errs, fmt.Errorf("topic %s: %s=%q is not a number", t.Name, k, v))
				}
			}
		}
		seen[t.Name] = true
	}
	return f.Topics, errors.Join(errs...)
}

// effective is spec as this bus creates it: Options.Partitions and
// Options.ReplicationFactor override the production values, and
// min.insync.replicas never exceeds replication-1 (at least 1), or a
// topic with fewer replicas than the spec could take no write at all.
func (b *Bus) effective(t TopicSpec) TopicSpec {
	t.Config = maps.Clone(t.Config)
	if t.Config == nil {
		t.Config = map[string]string{}
	}
	if t.Scales && b.opts.Partitions > 0 {
		t.Partitions = b.opts.Partitions
	}
	if b.opts.ReplicationFactor > 0 {
		t.ReplicationFactor = b.opts.ReplicationFactor
	}
	if v, ok := t.Config["min.insync.replicas"]; ok {
		n, _ := strconv.Atoi(v)
		if limit := max(1, t.ReplicationFactor-1); n > limit {
			t.Config["min.insync.replicas"] = strconv.Itoa(limit)
		}
	}
	return t
}

// specFor returns the effective spec of topic; a topic the spec does not
// name (tests use throw-away names) gets Options' partitions and
// replication and no configs.
func (b *Bus) specFor(topic string) TopicSpec {
	for _, t := range b.opts.Topics {
		if t.Name == topic {
			return b.effective(t)
		}
	}
	parts := b.opts.Partitions
	if parts <= 0 {
		parts = defaultPartitions
	}
	rf := b.opts.ReplicationFactor
	if rf <= 0 {
		rf = 1
	}
	return TopicSpec{Name: topic, Partitions: parts, ReplicationFactor: rf}
}

func (t TopicSpec) kafkaConfig() kafka.TopicConfig {
	tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: t.ReplicationFactor}
	for _, k := range slices.Sorted(maps.Keys(t.Config)) {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: t.Config[k]})
	}
	return tc
}

// Drift is one difference between an existing topic and its spec.
type Drift struct {
	Topic, Setting string
	Want, Have     string
	// Weaker is set when the difference lowers durability: fewer
	// replicas, a lower min.insync.replicas, a shorter retention, or
	// unclean leader election.
	Weaker bool
}

func (d Drift) String() string {
	return fmt.Sprintf("%s %s: spec %s, topic has %s", d.Topic, d.Setting, d.Want, d.Have)
}

// durable compares durability settings: it reports whether have is weaker
// than want.
var durable = map[string]func(want, have string) bool{
	"min.insync.replicas":            lessNumber,
	"retention.ms":                   lessNumber,
	"delete.retention.ms":            lessNumber,
	"unclean.leader.election.enable": func(want, have string) bool { return want == "false" && have == "true" },
}

// lessNumber compares Kafka sizes and times, where -1 means unlimited.
func lessNumber(want, have string) bool {
	w, err1 := strconv.ParseInt(want, 10, 64)
	h, err2 := strconv.ParseInt(have, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	if h == -1 {
		return false
	}
	return w == -1 || h < w
}

// EnsureTopics creates every topic of Options.Topics that is missing, with
// its configs, and compares the ones that exist with the spec. It returns
// the differences; the caller decides whether weaker ones stop it.
func (b *Bus) EnsureTopics(ctx context.Context) ([]Drift, error) {
	if len(b.opts.Topics) == 0 {
		return nil, nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range b.opts.Topics {
		req.Topics = append(req.Topics, b.effective(t).kafkaConfig())
	}
	var res *kafka.CreateTopicsResponse
	err := retry(ctx, func() error {
		var err error
		res, err = b.client.CreateTopics(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", classify(err))
	}
	var existing []TopicSpec
	var errs []error
	for _, t := range b.opts.Topics {
		switch err := res.Errors[t.Name]; {
		case err == nil:
			b.log.Info("created topic", "topic", t.Name)
		case errors.Is(err, kafka.TopicAlreadyExists):
			existing = append(existing, b.effective(t))
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// New topics have no leaders for a moment, and metadata lists no
	// partitions until they do.
	for _, t := range b.opts.Topics {
		if err := b.ensureTopic(ctx, t.Name); err != nil {
			return nil, err
		}
	}
	return b.compare(ctx, existing)
}

func (b *Bus) compare(ctx context.Context, specs []TopicSpec) ([]Drift, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	names := make([]string, len(specs))
	dreq := &kafka.DescribeConfigsRequest{}
	for i, t := range specs {
		names[i] = t.Name
		dreq.Resources = append(dreq.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t.Name,
			ConfigNames: slices.Sorted(maps.Keys(t.Config))})
	}
	md, err := b.metadataOf(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w: %w", bus.ErrUnavailable, err)
	}
	desc, err := b.client.DescribeConfigs(ctx, dreq)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w: %w", bus.ErrUnavailable, err)
	}
	have := map[string]map[string]string{}
	for _, r := range desc.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe configs of %s: %w", r.ResourceName, r.Error)
		}
		m := map[string]string{}
		for _, e := range r.ConfigEntries {
			m[e.ConfigName] = e.ConfigValue
		}
		have[r.ResourceName] = m
	}
	var drift []Drift
	for _, t := range specs {
		for _, mt := range md.Topics {
			if mt.Name != t.Name || len(mt.Partitions) == 0 {
				continue
			}
			if n := len(mt.Partitions); n != t.Partitions {
				drift = append(drift, Drift{Topic: t.Name, Setting: "partitions", Want: strconv.Itoa(t.Partitions), Have: strconv.Itoa(n)})
			}
			rf := len(mt.Partitions[0].Replicas)
			for _, p := range mt.Partitions {
				rf = min(rf, len(p.Replicas))
			}
			if rf != t.ReplicationFactor {
				drift = append(drift, Drift{Topic: t.Name, Setting: "replication factor", Want: strconv.Itoa(t.ReplicationFactor),
					Have: strconv.Itoa(rf), Weaker: rf < t.ReplicationFactor})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(t.Config)) {
			want, got := t.Config[k], have[t.Name][k]
			if want == got {
				continue
			}
			d := Drift{Topic: t.Name, Setting: k, Want: want, Have: got}
			if less := durable[k]; less != nil {
				d.Weaker = less(want, got)
			}
			drift = append(drift, d)
		}
	}
	return drift, nil
}

// metadataOf asks until every topic in names lists its partitions: each
// broker learns of new topics on its own, a moment after the controller,
// and the broker that answers may not have yet.
func (b *Bus) metadataOf(ctx context.Context, names []string) (*kafka.MetadataResponse, error) {
	for {
		md, err := b.client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil && len(md.Topics) == len(names) && !slices.ContainsFunc(md.Topics, func(t kafka.Topic) bool {
			return t.Error != nil || len(t.Partitions) == 0
		}) {
			return md, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
