// Package kvtopic provides key-value tables replicated through one compacted
// Kafka topic, so that every node of a scaled-out deployment shares the small
// state that used to live in one node's data folder: accounts, venue keys and
// sessions, idempotent intake answers, feed sources.
//
// Why Kafka and not ClickHouse: one partition of a compacted topic gives a
// total order of every write and, because a writer learns the offset of its
// write, read-your-writes (wait until the local copy has passed that offset).
// ClickHouse replication is asynchronous and has neither, and no ClickHouse
// server can run where netpulse is developed.
//
// The model:
//
//   - One topic (DefaultTopic), one partition. A message's key is
//     "<table>/<key>", its value the bytes to store; a nil value (a
//     tombstone) deletes the key. Compaction keeps the latest value per key.
//   - Each node materialises the tables into its own local files (Table);
//     those stay the read path, so reads cost no broker round trip. A Table
//     stores the offset it has applied in the same transaction as the data,
//     so a node that crashes resumes exactly where it stopped.
//   - Write produces with acks from every in-sync replica and returns once
//     this node's applier has passed the write: the writer reads its write.
//     Other nodes see it once their applier gets there (Sync waits for that).
//   - Conflicts are last-writer-wins per key, in topic order. A check made
//     before a write (does this venue code exist?) reads the local copy, so
//     two nodes racing on the same key both succeed and the later write wins.
//   - Tombstones are kept for the topic's delete.retention.ms; a node that
//     stays away longer may miss a delete and must be rebuilt (remove its
//     state files) before it rejoins.
package kvtopic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/kvtable"

	"github.com/segmentio/kafka-go"
)

// DefaultTopic is the state topic of deploy/kafka/topics.yaml.
const DefaultTopic = "netpulse.state"

// ErrTooLarge means a write is over the topic's max.message.bytes (after
// compression); nothing of it was written.
var ErrTooLarge = errors.New("too large for the state topic")

// The table contract lives in package kvtable, below every user of it, so
// that a foundation such as access can keep a replicated table without
// knowing Kafka. These aliases keep kvtopic's callers reading naturally.
type (
	Entry       = kvtable.Entry
	Table       = kvtable.Table
	Snapshotter = kvtable.Snapshotter
)

// Options configure a Log.
type Options struct {
	Brokers           []string // required
	Topic             string   // default DefaultTopic
	ReplicationFactor int      // when the topic is created here; default 1
	// Join means the topic must exist already: tools that join a running
	// cluster (netpulse admin) must not create it with their own settings.
	Join     bool
	ClientID string // default "netpulse"
	// Node names this process in the netpulse-node header of what it
	// writes, so an auditor reading the topic sees who changed a key.
	Node   string
	Logger *slog.Logger
}

// Header names and values of every state message: the same names as the
// bus's (docs/topics.md), so one reader handles every netpulse topic.
const (
	SchemaName    = "netpulse.state"
	SchemaVersion = "1"
)

// Log is the shared state topic seen from one node: it writes to it and
// applies it to the registered tables.
type Log struct {
	opts    Options
	log     *slog.Logger
	client  *kafka.Client
	headers []kafka.Header // of every record this node writes

	tables map[string]Table // fixed before Start

	mu      sync.Mutex
	applied int64         // every message below this offset is applied
	moved   chan struct{} // closed and replaced when applied moves
	done    chan struct{} // closed when the applier stops
	joined  chan struct{} // closed once the local tables are merged in (Start)
	runErr  error
	started bool
	probing *probe // the end-offset probe in flight
	queued  *probe // the probe that starts when it ends, for later callers
}

// Open connects to the brokers and creates the topic if it is missing.
func Open(ctx context.Context, opts Options) (*Log, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("open state topic: no brokers given")
	}
	if opts.Topic == "" {
		opts.Topic = DefaultTopic
	}
	if opts.ReplicationFactor <= 0 {
		opts.ReplicationFactor = 1
	}
	if opts.ClientID == "" {
		opts.ClientID = "netpulse"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tr := &kafka.Transport{ClientID: opts.ClientID, DialTimeout: 5 * time.Second, MetadataTTL: 5 * time.Second}
	l := &Log{
		opts:   opts,
		log:    opts.Logger.With("component", "kvtopic", "topic", opts.Topic),
		client: &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Transport: tr, Timeout: 10 * time.Second},
		tables: map[string]Table{},
		moved:  make(chan struct{}),
		done:   make(chan struct{}),
		joined: make(chan struct{}),
		headers: []kafka.Header{
			{Key: "netpulse-schema", Value: []byte(SchemaName)},
			{Key: "netpulse-schema-version", Value: []byte(SchemaVersion)},
			{Key: "content-type", Value: []byte("application/json")},
		},
	}
	if opts.Node != "" {
		l.headers = append(l.headers, kafka.Header{Key: "netpulse-node", Value: []byte(opts.Node)})
	}
	if err := l.ensureTopic(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return l, nil
}

func (l *Log) ensureTopic(ctx context.Context) error {
	if l.opts.Join {
		if _, err := l.end(ctx); err != nil {
			return fmt.Errorf("state topic %s (serve --kafka creates it): %w", l.opts.Topic, err)
		}
		return nil
	}
	minISR := "1"
	if l.opts.ReplicationFactor > 1 {
		minISR = "2"
	}
	res, err := l.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             l.opts.Topic,
		NumPartitions:     1, // one partition: one total order of every write
		ReplicationFactor: l.opts.ReplicationFactor,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "compact"},
			{ConfigName: "min.insync.replicas", ConfigValue: minISR},
			{ConfigName: "delete.retention.ms", ConfigValue: "604800000"},
			{ConfigName: "min.compaction.lag.ms", ConfigValue: "3600000"},
			{ConfigName: "compression.type", ConfigValue: "zstd"},
		},
	}}})
	if err != nil {
		return fmt.Errorf("create state topic %s: %w", l.opts.Topic, err)
	}
	if err := res.Errors[l.opts.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create state topic %s: %w", l.opts.Topic, err)
	}
	// A new topic has no leader for a moment; the end offset answers only
	// once it has.
	for {
		_, err := l.end(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for state topic %s: %w", l.opts.Topic, errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Register adds a table under name. Call it before Start.
func (l *Log) Register(name string, t Table) {
	if strings.Contains(name, "/") {
		panic("kvtopic: table name with a slash: " + name)
	}
	l.tables[name] = t
}

// end is the offset the next write will get.
func (l *Log) end(ctx context.Context) (int64, error) {
	res, err := l.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{l.opts.Topic: {kafka.LastOffsetOf(0)}},
	})
	if err != nil {
		return 0, fmt.Errorf("end offset of %s: %w", l.opts.Topic, err)
	}
	for _, po := range res.Topics[l.opts.Topic] {
		if po.Error != nil {
			return 0, fmt.Errorf("end offset of %s: %w", l.opts.Topic, po.Error)
		}
		return po.LastOffset, nil
	}
	return 0, fmt.Errorf("end offset of %s: no answer for partition 0", l.opts.Topic)
}

// Write sends entries of table and returns once this node has applied
// them, or when ctx ends. Entries of one call keep their order.
func (l *Log) Write(ctx context.Context, table string, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	// A write made before the merge would be overwritten by it.
	select {
	case <-l.joined:
	case <-l.done:
		return fmt.Errorf("write to %s: applier stopped", l.opts.Topic)
	case <-ctx.Done():
		return fmt.Errorf("write to %s: wait for the merge of local tables: %w", l.opts.Topic, ctx.Err())
	}
	last, err := l.produce(ctx, table, entries)
	if err != nil {
		return err
	}
	return l.waitApplied(ctx, last+1)
}

// produce sends entries and returns the offset of the last one. A retry
// after a lost answer may write them twice, which a key-value table shrugs
// off: the second copy sets the same values.
func (l *Log) produce(ctx context.Context, table string, entries []Entry) (int64, error) {
	now := time.Now()
	backoff := 100 * time.Millisecond
	for {
		// A request consumes its records' readers, so each attempt builds
		// them afresh.
		recs := make([]kafka.Record, len(entries))
		for i, e := range entries {
			recs[i] = kafka.Record{Time: now, Key: kafka.NewBytes([]byte(table + "/" + e.Key)), Value: kafka.NewBytes(e.Value), Headers: l.headers}
		}
		res, err := l.client.Produce(ctx, &kafka.ProduceRequest{
			Topic:        l.opts.Topic,
			Partition:    0,
			RequiredAcks: kafka.RequireAll,
			// Stored intake answers repeat their field names and reasons.
			Compression: kafka.Zstd,
			Records:     kafka.NewRecordReader(recs...),
		})
		if err == nil {
			err = res.Error
		}
		if err == nil {
			return res.BaseOffset + int64(len(entries)) - 1, nil
		}
		if errors.Is(err, kafka.MessageSizeTooLarge) {
			return 0, fmt.Errorf("write %d %s entries to %s: %w: %w", len(entries), table, l.opts.Topic, ErrTooLarge, err)
		}
		var ke kafka.Error
		if errors.As(err, &ke) && !ke.Temporary() {
			return 0, fmt.Errorf("write %d %s entries to %s: %w", len(entries), table, l.opts.Topic, err)
		}
		// The caller gets the last error if the retries run out; each
		// retry is detail.
		l.log.Debug("state write failed; retrying", "table", table, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("write %d %s entries to %s: %w", len(entries), table, l.opts.Topic, errors.Join(ctx.Err(), err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// waitApplied waits until every message below next is applied here.
func (l *Log) waitApplied(ctx context.Context, next int64) error {
	for {
		l.mu.Lock()
		applied, moved, done, runErr := l.applied, l.moved, l.done, l.runErr
		l.mu.Unlock()
		if applied >= next {
			return nil
		}
		select {
		case <-moved:
		case <-done:
			if runErr == nil {
				runErr = errors.New("applier stopped")
			}
			return fmt.Errorf("wait for state offset %d: %w", next, runErr)
		case <-ctx.Done():
			return fmt.Errorf("wait for state offset %d (applied %d): %w", next, applied, ctx.Err())
		}
	}
}

// Sync waits until this node has applied every write made anywhere before
// the call: what another node wrote and answered is then visible here.
// Concurrent callers share broker round trips: a caller arriving while a
// probe is in flight waits for the next one, since the one in flight may
// have read the end before that caller's call.
func (l *Log) Sync(ctx context.Context) error {
	select {
	case <-l.joined:
	case <-l.done:
		return fmt.Errorf("sync state topic: applier stopped")
	case <-ctx.Done():
		return fmt.Errorf("sync state topic: wait for the merge of local tables: %w", ctx.Err())
	}
	l.mu.Lock()
	p := l.queued
	switch {
	case l.probing == nil:
		p = &probe{done: make(chan struct{})}
		l.probing = p
		go l.runProbe(p)
	case p == nil:
		p = &probe{done: make(chan struct{})}
		l.queued = p
	}
	l.mu.Unlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("sync state topic: %w", ctx.Err())
	}
	if p.err != nil {
		return fmt.Errorf("sync state topic: %w", p.err)
	}
	return l.waitApplied(ctx, p.end)
}

// probe is one end-offset request shared by the Sync callers waiting on it.
type probe struct {
	done chan struct{}
	end  int64
	err  error
}

// runProbe asks for the end offset, then starts the queued probe, if any.
// It is bounded on its own (callers may give up; the probe ends anyway),
// and retries within that bound, because a pooled connection that the
// broker dropped fails once.
func (l *Log) runProbe(p *probe) {
	for p != nil {
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.end, p.err = l.end(pctx)
		for p.err != nil && pctx.Err() == nil {
			select {
			case <-pctx.Done():
			case <-time.After(100 * time.Millisecond):
				p.end, p.err = l.end(pctx)
			}
		}
		cancel()
		close(p.done)
		l.mu.Lock()
		p = l.queued
		l.probing, l.queued = p, nil
		l.mu.Unlock()
	}
}

// Start begins applying the topic to the registered tables in one
// goroutine, which runs until ctx ends or a table fails; Wait returns its
// error.
//
// A table that has never applied the topic and lists its local entries
// (Snapshotter) joins by merging: once the applier has read the topic as it
// stood at Start, the local entries whose keys the topic never had are
// written to it. Keys the cluster has (or has deleted) keep the cluster's
// value. So the first node of a cluster seeds the empty topic with what it
// kept alone, and nodes that each held a copy of the same registry (the way
// of releases without the state topic) add nothing twice.
func (l *Log) Start(ctx context.Context) error {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return errors.New("state applier already started")
	}
	l.started = true
	l.mu.Unlock()
	nexts := map[string]int64{}
	pending := map[string][]Entry{}
	from := int64(-1)
	for name, t := range l.tables {
		n, err := t.Next(ctx)
		if err != nil {
			return fmt.Errorf("state table %s: %w", name, err)
		}
		nexts[name] = n
		if from < 0 || n < from {
			from = n
		}
		if s, ok := t.(Snapshotter); ok && n == 0 {
			entries, err := s.Snapshot(ctx)
			if err != nil {
				return fmt.Errorf("snapshot state table %s: %w", name, err)
			}
			if len(entries) > 0 {
				pending[name] = entries
			}
		}
	}
	from = max(from, 0)
	end, err := l.end(ctx)
	if err != nil {
		return err
	}
	if from > end {
		return fmt.Errorf("state tables are at offset %d but %s ends at %d: the data folder belongs to another cluster", from, l.opts.Topic, end)
	}
	l.mu.Lock()
	l.applied = from
	l.mu.Unlock()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   l.opts.Brokers,
		Topic:     l.opts.Topic,
		Partition: 0,
		MinBytes:  1,
		MaxBytes:  8 << 20,
		// A fetch returns as soon as there is one byte; MaxWait only
		// bounds an idle long poll.
		MaxWait: 500 * time.Millisecond,
		// kafka-go logs each retry of its reader as an error, an idle
		// long poll's i/o timeout included: noise on a quiet node. An
		// outage that lasts reaches apply, which warns (rate-limited).
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) { l.log.Debug(fmt.Sprintf(msg, args...)) }),
	})
	if err := r.SetOffset(from); err != nil {
		r.Close()
		return fmt.Errorf("state applier: seek to %d: %w", from, err)
	}
	mg := &merge{end: end}
	if len(pending) > 0 {
		mg.pending, mg.seen = pending, map[string]bool{}
	} else {
		close(l.joined)
	}
	go func() {
		err := l.apply(ctx, r, nexts, mg)
		r.Close()
		if ctx.Err() != nil {
			err = nil
		}
		l.mu.Lock()
		l.runErr = err
		l.mu.Unlock()
		close(l.done)
	}()
	return nil
}

// merge is the join of never-shared tables: their local entries, and the
// keys the topic had when the node started.
type merge struct {
	pending map[string][]Entry // table → local entries; nil once merged
	end     int64              // the topic's end at start
	seen    map[string]bool    // "table/key" read below end
}

// publish writes the pending entries whose keys the topic did not have.
// Two nodes joining at once may both write a key; last writer wins.
func (l *Log) publish(ctx context.Context, m *merge) error {
	for name, entries := range m.pending {
		var fresh []Entry
		for _, e := range entries {
			if !m.seen[name+"/"+e.Key] {
				fresh = append(fresh, e)
			}
		}
		n, skipped, limit := len(fresh), 0, maxMergeBytes
		for len(fresh) > 0 {
			// Requests stay well under the broker's message size limit.
			k, size := 0, 0
			for k < len(fresh) && (k == 0 || size+len(fresh[k].Key)+len(fresh[k].Value) <= limit) {
				size += len(fresh[k].Key) + len(fresh[k].Value)
				k++
			}
			_, err := l.produce(ctx, name, fresh[:k])
			if errors.Is(err, kafka.MessageSizeTooLarge) && k == 1 {
				// One entry the topic cannot take (a huge stored answer)
				// is left behind here rather than keeping the node down.
				l.log.Warn("local entry too large for the state topic; not merged", "table", name, "key", fresh[0].Key, "bytes", size)
				skipped++
				err = nil
			} else if errors.Is(err, kafka.MessageSizeTooLarge) {
				limit = 0 // one by one from here, to find the one that is too large
				continue
			}
			if err != nil {
				return fmt.Errorf("merge local table %s into %s: %w", name, l.opts.Topic, err)
			}
			fresh = fresh[k:]
		}
		l.log.Info("merged the local table into the state topic", "table", name, "local", len(entries), "written", n-skipped, "too_large", skipped)
	}
	m.pending, m.seen = nil, nil
	close(l.joined)
	return nil
}

// Applied is the offset below which every message is applied here, for
// the replication lag metric.
func (l *Log) Applied() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// Wait blocks until the applier stops and returns why.
func (l *Log) Wait() error {
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runErr
}

// Close drops idle broker connections. Stop the applier (its context) first.
func (l *Log) Close() {
	if t, ok := l.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// maxMergeBytes bounds one request of the merge of a local table: the
// broker refuses requests over its max.message.bytes (1 MiB by default).
const maxMergeBytes = 256 << 10

// maxBatch bounds the messages applied in one table transaction.
const maxBatch = 512

func (l *Log) apply(ctx context.Context, r *kafka.Reader, nexts map[string]int64, mg *merge) error {
	var lastWarn time.Time
	for {
		if mg.pending != nil {
			l.mu.Lock()
			caughtUp := l.applied >= mg.end
			l.mu.Unlock()
			if caughtUp {
				if err := l.publish(ctx, mg); err != nil {
					return err
				}
			}
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A broker that is away (restart, network) is waited for: the
			// reader keeps its offset and reconnects, and this node keeps
			// serving from its local copy meanwhile.
			if time.Since(lastWarn) > 10*time.Second {
				l.log.Warn("state topic unreachable; serving the local copy", "err", err)
				lastWarn = time.Now()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		batch := []kafka.Message{m}
		// Take what has already arrived, so that a burst costs one
		// transaction per table rather than one per message.
		for len(batch) < maxBatch {
			qctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			m, err := r.FetchMessage(qctx)
			cancel()
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		next := batch[len(batch)-1].Offset + 1
		byTable := map[string][]Entry{}
		for _, m := range batch {
			table, key, ok := strings.Cut(string(m.Key), "/")
			if mg.seen != nil && m.Offset < mg.end {
				mg.seen[string(m.Key)] = true
			}
			t := l.tables[table]
			if !ok || t == nil || m.Offset < nexts[table] {
				continue // another binary's table, or applied before a restart
			}
			var v []byte
			if len(m.Value) > 0 {
				v = m.Value // an empty value reads as a tombstone whatever the client made of it
			}
			byTable[table] = append(byTable[table], Entry{Key: key, Value: v})
		}
		for name, entries := range byTable {
			if err := l.tables[name].Apply(ctx, entries, next); err != nil {
				return fmt.Errorf("apply %d entries to state table %s: %w", len(entries), name, err)
			}
			nexts[name] = next
		}
		l.mu.Lock()
		l.applied = next
		close(l.moved)
		l.moved = make(chan struct{})
		l.mu.Unlock()
	}
}
