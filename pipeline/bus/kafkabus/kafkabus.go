// Package kafkabus implements the bus seam (package bus) over Apache Kafka
// with github.com/segmentio/kafka-go, for the scaled-out deployment.
//
// Semantics match the embedded journal so that both pass package bustest:
//
//   - Publish returns once every in-sync replica has the messages
//     (RequiredAcks = all). A broker that cannot be reached or cannot take
//     the write yields an error wrapping bus.ErrUnavailable.
//   - Keys map to partitions with bus.PartitionFor (FNV-1a modulo the
//     partition count), the same function the journal uses, so a key lands on
//     the same partition number in both. kafka.Hash is deliberately not used:
//     it folds the hash differently and would disagree for some keys.
//   - Consumers are consumer-group members that commit only when told to
//     (no auto-commit), and never move a committed offset backwards: a
//     consumer starts from the group's stored offsets and skips commits
//     below them. (Two members of one group committing the same partition
//     at once could still race; the group protocol gives each partition to
//     one member, so that takes a rebalance in between.)
//   - Topics are created from one spec, deploy/kafka/topics.yaml (Options.
//     Topics, see EnsureTopics), with their configs, because brokers should
//     run with auto.create.topics.enable=false (a typo must not create a
//     topic) and a broker's defaults (min.insync.replicas=1) would otherwise
//     decide durability.
//   - Every message carries headers naming its schema, schema version and
//     producing node (docs/topics.md), so that other teams can read it.
//   - A publish takes at most Options.PublishTimeout; past it the caller
//     gets bus.ErrUnavailable and answers 503 with Retry-After. The
//     messages may still land: consumers absorb the repeat by id.
//   - A consumer rides out broker outages without falling behind them:
//     kafka-go's partition readers retry on their own and queue their
//     errors, which Fetch notes and skips (reporting one error per
//     errorReportEvery while they last) instead of handing each to the
//     caller to back off on; a reader that has seen nothing but errors for
//     resetAfter is replaced, dropping whatever connections it held.
package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// Options configure a Bus. Zero values take the documented defaults.
type Options struct {
	Brokers []string // host:port of one or more brokers; required
	// Topics is the spec of every topic (ParseTopics of
	// deploy/kafka/topics.yaml). Topics it does not name are created with
	// Partitions and ReplicationFactor and no configs.
	Topics []TopicSpec
	// Partitions overrides the spec's count for topics marked scales; for
	// topics outside the spec it defaults to 4.
	Partitions int
	// ReplicationFactor overrides the spec's; outside the spec it defaults
	// to 1.
	ReplicationFactor int
	ClientID          string // shown in broker logs and quotas; default "netpulse"
	// Node names this process in the netpulse-node header of every
	// message it publishes; default ClientID.
	Node string
	// PublishTimeout bounds one Publish; default 5s.
	PublishTimeout time.Duration
	Logger         *slog.Logger
}

// defaultPartitions is the partition count of topics outside the spec.
const defaultPartitions = 4

// Bus implements bus.Bus against a Kafka cluster.
type Bus struct {
	opts      Options
	log       *slog.Logger
	addr      net.Addr
	transport *kafka.Transport
	client    *kafka.Client
	writer    *kafka.Writer

	mu      sync.Mutex
	topics  map[string]bool // topics known to exist with live leaders
	readers map[*consumer]struct{}
	closed  bool
}

// batchTimeout bounds how long the writer waits to fill a batch. kafka-go's
// default of one second would make every synchronous Publish of a few
// messages take a second. A sync Publish that does not fill a batch always
// waits the whole timeout, so it is kept at a millisecond: in
// BenchmarkProduce that doubled single-message throughput against 5ms, and
// concurrent publishers still share produce requests.
const batchTimeout = time.Millisecond

// fillWait is how long Fetch keeps collecting messages that are already on
// their way after the first one arrived. It is short on purpose: Fetch hands
// over what is available rather than waiting for a full batch.
const fillWait = 5 * time.Millisecond

// Open returns a Bus for opts.Brokers. It does not contact the brokers; use
// Ready for that.
func Open(opts Options) (*Bus, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("open kafka bus: no brokers given")
	}
	if opts.ClientID == "" {
		opts.ClientID = "netpulse"
	}
	if opts.Node == "" {
		opts.Node = opts.ClientID
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("component", "kafkabus")
	addr := kafka.TCP(opts.Brokers...)
	tr := &kafka.Transport{
		ClientID:    opts.ClientID,
		DialTimeout: 5 * time.Second,
		// Metadata is refreshed on demand when a topic is missing; a short
		// TTL only matters for noticing moved leaders after a restart.
		MetadataTTL: 5 * time.Second,
	}
	b := &Bus{
		opts:      opts,
		log:       log,
		addr:      addr,
		transport: tr,
		client:    &kafka.Client{Addr: addr, Transport: tr, Timeout: 10 * time.Second},
		topics:    map[string]bool{},
		readers:   map[*consumer]struct{}{},
	}
	b.writer = &kafka.Writer{
		Addr:            addr,
		Balancer:        kafka.BalancerFunc(balance),
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    batchTimeout,
		BatchSize:       500,
		MaxAttempts:     5,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		// The topics are zstd (topics.yaml); compressing here spares the
		// brokers recompressing every batch.
		Compression: kafka.Zstd,
		Transport:   tr,
		// Write errors reach the caller of Publish, who answers 503 and
		// counts them; logging each retry too would only be noise.
		Logger:      kafkaLogger(log, slog.LevelDebug),
		ErrorLogger: kafkaLogger(log, slog.LevelDebug),
	}
	return b, nil
}

// balance picks the partition exactly as the journal does. partitions is
// the sorted list of the topic's partition ids.
func balance(msg kafka.Message, partitions ...int) int {
	return partitions[bus.PartitionFor(msg.Key, len(partitions))]
}

func kafkaLogger(log *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		log.Log(context.Background(), level, fmt.Sprintf(msg, args...))
	})
}

// Header names of every message (docs/topics.md).
const (
	HeaderSchema        = "netpulse-schema"         // e.g. netpulse.access-record
	HeaderSchemaVersion = "netpulse-schema-version" // e.g. 1
	HeaderNode          = "netpulse-node"           // the producing node
	HeaderContentType   = "content-type"            // application/json
)

// Publish writes msgs and returns once the cluster acknowledged all of
// them, or fails with bus.ErrUnavailable after Options.PublishTimeout.
func (b *Bus) Publish(ctx context.Context, topic string, msgs ...bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := b.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, b.opts.PublishTimeout,
		fmt.Errorf("publish took longer than %v: %w", b.opts.PublishTimeout, bus.ErrUnavailable))
	defer cancel()
	err := b.publish(ctx, topic, msgs)
	if err != nil && errors.Is(context.Cause(ctx), bus.ErrUnavailable) {
		return fmt.Errorf("publish to %s: %w", topic, context.Cause(ctx))
	}
	return err
}

func (b *Bus) publish(ctx context.Context, topic string, msgs []bus.Message) error {
	if err := b.ensureTopic(ctx, topic); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	hdrs := b.headers(topic)
	now := time.Now()
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		ts := m.Time
		if ts.IsZero() {
			ts = now
		}
		kms[i] = kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Time: ts, Headers: hdrs}
	}
	if err := b.writer.WriteMessages(ctx, kms...); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, classify(err))
	}
	return nil
}

// headers are the same for every message of a topic: the schema comes from
// the topic's spec ("name/vN"), the node from Options.
func (b *Bus) headers(topic string) []kafka.Header {
	h := []kafka.Header{{Key: HeaderNode, Value: []byte(b.opts.Node)}}
	if v := b.specFor(topic).Value; strings.Contains(v, "/v") {
		name, ver, _ := strings.Cut(v, "/v")
		h = append(h, kafka.Header{Key: HeaderSchema, Value: []byte(name)},
			kafka.Header{Key: HeaderSchemaVersion, Value: []byte(ver)},
			kafka.Header{Key: HeaderContentType, Value: []byte("application/json")})
	}
	return h
}

// classify marks errors that mean "the cluster cannot take this right now"
// with bus.ErrUnavailable, so callers answer 503 and retry. Errors that a
// retry cannot fix (a message too large, an invalid topic) and the caller's
// own cancellation pass through unmarked.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && permanent(e) {
				return err
			}
		}
		return fmt.Errorf("%w: %w", bus.ErrUnavailable, err)
	}
	if permanent(err) {
		return err
	}
	return fmt.Errorf("%w: %w", bus.ErrUnavailable, err)
}

func permanent(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && !ke.Temporary()
}

// ensureTopic creates topic if needed and waits until every partition has a
// leader, so that the first write does not race the broker's metadata.
func (b *Bus) ensureTopic(ctx context.Context, topic string) error {
	b.mu.Lock()
	known := b.topics[topic]
	b.mu.Unlock()
	if known {
		return nil
	}
	res, err := b.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{b.specFor(topic).kafkaConfig()}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w: %w", topic, bus.ErrUnavailable, err)
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, classify(err))
	}
	for {
		ready, err := b.topicReady(ctx, topic)
		if err == nil && ready {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topic %s leaders: %w: %w", topic, bus.ErrUnavailable, errors.Join(ctx.Err(), err))
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.mu.Lock()
	b.topics[topic] = true
	b.mu.Unlock()
	return nil
}

func (b *Bus) topicReady(ctx context.Context, topic string) (bool, error) {
	parts, err := b.partitions(ctx, topic)
	if err != nil {
		return false, err
	}
	for _, p := range parts {
		if p.Leader.ID < 0 || p.Leader.Host == "" || p.Error != nil {
			return false, nil
		}
	}
	if len(parts) == 0 {
		return false, nil
	}
	// Metadata names a leader before that broker is ready to lead.
	if _, err := b.offsets(ctx, topic, parts); err != nil {
		return false, err
	}
	return true, nil
}

func (b *Bus) partitions(ctx context.Context, topic string) ([]kafka.Partition, error) {
	md, err := b.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return nil, t.Error
			}
			return t.Partitions, nil
		}
	}
	return nil, fmt.Errorf("topic %s not in metadata", topic)
}

// Subscribe joins group on topic. Offsets are committed only by Commit.
func (b *Bus) Subscribe(ctx context.Context, group, topic string) (bus.Consumer, error) {
	if group == "" {
		return nil, errors.New("subscribe: empty group name")
	}
	if err := b.checkOpen(); err != nil {
		return nil, err
	}
	if err := b.ensureTopic(ctx, topic); err != nil {
		return nil, fmt.Errorf("subscribe %s to %s: %w", group, topic, err)
	}
	// Start from what the group has already committed, so that Commit can
	// refuse to move an offset backwards even across consumer restarts.
	committed, err := b.committed(ctx, group, topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s to %s: %w", group, topic, err)
	}
	c := &consumer{b: b, group: group, topic: topic, committed: committed,
		log: b.log.With("group", group, "topic", topic)}
	c.r = c.newReader()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.r.Close()
		return nil, bus.ErrClosed
	}
	b.readers[c] = struct{}{}
	b.mu.Unlock()
	return c, nil
}

func (c *consumer) newReader() *kafka.Reader {
	b, group, topic := c.b, c.group, c.topic
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:  b.opts.Brokers,
		GroupID:  group,
		Topic:    topic,
		Dialer:   &kafka.Dialer{ClientID: b.opts.ClientID, Timeout: 5 * time.Second, DualStack: true},
		MinBytes: 1,
		MaxBytes: 8 << 20,
		MaxWait:  500 * time.Millisecond,
		// Room for a full Fetch of 1000 while the partition readers keep
		// filling the queue.
		QueueCapacity: 1000,
		StartOffset:   kafka.FirstOffset,
		// Zero means synchronous commits made only by CommitMessages;
		// kafka-go never commits on its own in FetchMessage.
		CommitInterval:    0,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ReadLagInterval:   -1,
		// kafka-go logs every retry of its partition readers, including an
		// idle fetch's i/o timeout, as an error. What lasts reaches Fetch,
		// which reports it (rate-limited); the retries are debug detail.
		Logger:      kafkaLogger(c.log, slog.LevelDebug),
		ErrorLogger: kafkaLogger(c.log, slog.LevelDebug),
	})
}

// committed returns the group's next offset to read per partition of topic;
// partitions without a commit are absent.
func (b *Bus) committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	parts, err := b.partitions(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", bus.ErrUnavailable, err)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	out := map[int]int64{}
	err = retry(ctx, func() error {
		res, err := b.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
		if err != nil {
			return err
		}
		if res.Error != nil {
			return res.Error
		}
		for _, p := range res.Topics[topic] {
			if p.Error != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, p.Error)
			}
			if p.CommittedOffset >= 0 {
				out[p.Partition] = p.CommittedOffset
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, classify(err))
	}
	return out, nil
}

// retry runs op again while it fails with an error Kafka marks as
// temporary: right after a topic or group is created, and while a broker
// restarts, leaders and group coordinators are still loading. Network errors
// are not retried here; they surface as bus.ErrUnavailable at once.
func retry(ctx context.Context, op func() error) error {
	backoff := 25 * time.Millisecond
	for {
		err := op()
		var ke kafka.Error
		if err == nil || !errors.As(err, &ke) || !ke.Temporary() {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// Lag is the number of messages of topic that group has not committed.
func (b *Bus) Lag(ctx context.Context, group, topic string) (int64, error) {
	if err := b.ensureTopic(ctx, topic); err != nil {
		return 0, fmt.Errorf("lag of %s on %s: %w", group, topic, err)
	}
	parts, err := b.partitions(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("lag of %s on %s: %w: %w", group, topic, bus.ErrUnavailable, err)
	}
	offs, err := b.offsets(ctx, topic, parts)
	if err != nil {
		return 0, fmt.Errorf("lag of %s on %s: %w", group, topic, err)
	}
	committed, err := b.committed(ctx, group, topic)
	if err != nil {
		return 0, fmt.Errorf("lag of %s on %s: %w", group, topic, err)
	}
	var lag int64
	for _, po := range offs {
		from := po.FirstOffset
		if c, ok := committed[po.Partition]; ok && c > from {
			from = c
		}
		lag += max(0, po.LastOffset-from)
	}
	return lag, nil
}

// offsets lists the first and next offset of every partition. It doubles as
// a readiness probe for a new topic: only an active leader answers it.
func (b *Bus) offsets(ctx context.Context, topic string, parts []kafka.Partition) ([]kafka.PartitionOffsets, error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	var out []kafka.PartitionOffsets
	err := retry(ctx, func() error {
		res, err := b.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
		if err != nil {
			return err
		}
		out = res.Topics[topic]
		for _, po := range out {
			if po.Error != nil {
				return fmt.Errorf("partition %d: %w", po.Partition, po.Error)
			}
		}
		if len(out) != len(parts) {
			return fmt.Errorf("offsets for %d of %d partitions: %w", len(out), len(parts), kafka.LeaderNotAvailable)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, classify(err))
	}
	return out, nil
}

// Ready succeeds when at least one broker answers.
func (b *Bus) Ready(ctx context.Context) error {
	if err := b.checkOpen(); err != nil {
		return err
	}
	var errs []error
	for _, broker := range b.opts.Brokers {
		if _, err := b.client.ApiVersions(ctx, &kafka.ApiVersionsRequest{Addr: kafka.TCP(broker)}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", broker, err))
			continue
		}
		return nil
	}
	return fmt.Errorf("kafka not ready: %w: %w", bus.ErrUnavailable, errors.Join(errs...))
}

// Close flushes the writer, closes every consumer still open and drops idle
// connections. Safe to call twice.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	readers := make([]*consumer, 0, len(b.readers))
	for c := range b.readers {
		readers = append(readers, c)
	}
	b.mu.Unlock()
	var errs []error
	for _, c := range readers {
		errs = append(errs, c.Close())
	}
	errs = append(errs, b.writer.Close())
	b.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

func (b *Bus) checkOpen() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	return nil
}

type consumer struct {
	b     *Bus
	group string
	topic string
	log   *slog.Logger

	rmu sync.Mutex
	r   *kafka.Reader // replaced by reset

	// Errors seen by Fetch since the last message, for the rate-limited
	// report and the reset.
	errSince  time.Time
	errCount  int
	reported  time.Time
	mu        sync.Mutex
	committed map[int]int64 // next offset per partition, as last committed
	closeOnce sync.Once
	closed    bool
}

// errorReportEvery is how often Fetch returns an error while kafka-go
// keeps reporting them; resetAfter is how long a reader may see nothing but
// errors before it is replaced. Replacing costs a rebalance (the old member
// lingers until its session times out), which measured slower than letting
// kafka-go's own retries recover from a 20 s outage (9.8 s against 8.3 s in
// TestConsumerRecoversAfterOutage), so only a reader stuck far longer is
// replaced.
const (
	errorReportEvery = 30 * time.Second
	resetAfter       = 2 * time.Minute
)

func (c *consumer) reader() *kafka.Reader {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.r
}

// fetchOne returns the next message. Errors kafka-go queues from its
// partition readers (leader not available, a dial that failed) describe
// retries already under way, so they are noted and skipped: handing each to
// the caller, which backs off per error, made recovery as slow as the queue
// was long. While they last, one error per errorReportEvery is returned so
// that the stage logs the outage; a reader that sees only errors for
// resetAfter is replaced, which drops its connections and queued errors.
func (c *consumer) fetchOne(ctx context.Context) (kafka.Message, error) {
	for {
		r := c.reader()
		m, err := r.FetchMessage(ctx)
		if err == nil {
			c.errSince, c.errCount = time.Time{}, 0
			return m, nil
		}
		if ctx.Err() != nil || errors.Is(err, io.EOF) {
			return m, c.fetchErr(ctx, err)
		}
		now := time.Now()
		if c.errCount == 0 {
			c.errSince = now
		}
		c.errCount++
		c.log.Debug("kafka reader error", "err", err, "errors", c.errCount)
		if now.Sub(c.errSince) >= resetAfter {
			c.reset()
			c.errSince = now
		}
		if now.Sub(c.reported) >= errorReportEvery && now.Sub(c.errSince) >= time.Second {
			c.reported = now
			return m, fmt.Errorf("fetch %s: %d errors in %v, last: %w", c.topic, c.errCount, now.Sub(c.errSince).Round(time.Second), err)
		}
	}
}

// reset replaces the reader with a new one that starts from the group's
// committed offsets: the same place the old one would resume from after a
// rebalance, since nothing past them has been committed.
func (c *consumer) reset() {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	c.log.Info("replacing a kafka reader that saw only errors", "for", resetAfter)
	c.rmu.Lock()
	old := c.r
	c.r = c.newReader()
	c.rmu.Unlock()
	// Close leaves the group, which may wait for an unreachable
	// coordinator: do not hold up the new reader for it.
	go old.Close()
}

func (c *consumer) Fetch(ctx context.Context, maxMsgs int) ([]bus.Message, error) {
	if maxMsgs <= 0 {
		maxMsgs = 1
	}
	m, err := c.fetchOne(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bus.Message, 0, min(maxMsgs, 256))
	out = append(out, fromKafka(m))
	if maxMsgs == 1 {
		return out, nil
	}
	fill, cancel := context.WithTimeout(ctx, fillWait)
	defer cancel()
	r := c.reader()
	for len(out) < maxMsgs {
		m, err := r.FetchMessage(fill)
		if err != nil {
			// Whatever stopped the fill (its deadline, the caller's
			// cancellation, a transient read error that kafka-go retries),
			// the messages in hand are valid and go to the caller.
			break
		}
		out = append(out, fromKafka(m))
	}
	return out, nil
}

func (c *consumer) fetchErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.EOF):
		return bus.ErrClosed
	default:
		return fmt.Errorf("fetch %s: %w", c.topic, err)
	}
}

func fromKafka(m kafka.Message) bus.Message {
	return bus.Message{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Time:      m.Time.UTC(),
	}
}

// Commit commits, per partition, the newest of msgs, unless the group has
// already committed past it: Kafka itself would accept a lower offset and
// replay everything after it.
func (c *consumer) Commit(ctx context.Context, msgs ...bus.Message) error {
	next := map[int]int64{}
	for _, m := range msgs {
		if m.Topic != c.topic {
			return fmt.Errorf("commit: message from topic %q on a consumer of %q", m.Topic, c.topic)
		}
		next[m.Partition] = max(next[m.Partition], m.Offset+1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var kms []kafka.Message
	for p, off := range next {
		if off > c.committed[p] {
			// CommitMessages commits Offset+1 of the message it is given.
			kms = append(kms, kafka.Message{Topic: c.topic, Partition: p, Offset: off - 1})
		}
	}
	if len(kms) == 0 {
		return nil
	}
	if err := c.reader().CommitMessages(ctx, kms...); err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			return bus.ErrClosed
		}
		return fmt.Errorf("commit %s: %w", c.topic, classify(err))
	}
	for _, km := range kms {
		c.committed[km.Partition] = km.Offset + 1
	}
	return nil
}

// Close leaves the group, so that the partitions move to other members at
// once instead of after the session timeout.
func (c *consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		err = c.reader().Close()
		c.b.mu.Lock()
		delete(c.b.readers, c)
		c.b.mu.Unlock()
	})
	return err
}
