// Package journal is the embedded bus: a durable on-disk log per topic
// partition, with consumer groups whose committed offsets survive restarts.
//
// Segment files come from github.com/tidwall/wal, a small maintained
// write-ahead log that already handles segment rotation, atomic front
// truncation and crash-safe loading. We add what a bus needs on top: topics
// and partitions, group commit (many concurrent publishes share one fsync),
// consumer groups with committed offsets, and age-based retention that never
// drops a message some group has not yet committed.
package journal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/wal"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/dirlock"
)

// FsyncPolicy says when appended data reaches the disk.
type FsyncPolicy string

const (
	// FsyncAlways syncs every group commit before Publish returns. This is
	// what "acknowledged means durable" requires, and the default.
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval syncs on a timer; a machine crash can lose the last
	// interval of acknowledged messages. For benchmarks and throwaway data.
	FsyncInterval FsyncPolicy = "interval"
)

// Options configure a Journal. Zero values take the documented defaults.
type Options struct {
	Dir           string
	Partitions    int           // for topics created from now on; default 4
	Fsync         FsyncPolicy   // default FsyncAlways
	FsyncInterval time.Duration // with FsyncInterval; default 200ms
	SegmentBytes  int           // default 64 MiB
	// Retention drops messages older than this once every group that reads
	// the topic has committed them. Zero keeps everything.
	Retention time.Duration
	Logger    *slog.Logger
}

// Journal implements bus.Bus on local disk.
type Journal struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lock   *dirlock.Lock // on Dir, held until Close

	mu     sync.Mutex
	topics map[string]*topic
	groups map[string]*groupOffsets // key: group + "\x00" + topic
	closed bool
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// Open opens or creates a journal in opts.Dir.
func Open(opts Options) (*Journal, error) {
	if opts.Partitions <= 0 {
		opts.Partitions = 4
	}
	if opts.Fsync == "" {
		opts.Fsync = FsyncAlways
	}
	if opts.Fsync != FsyncAlways && opts.Fsync != FsyncInterval {
		return nil, fmt.Errorf("journal fsync policy %q: want always or interval", opts.Fsync)
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = 200 * time.Millisecond
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Two processes appending to one partition file would interleave
	// their writes and corrupt it; the second one is refused here.
	lock, err := dirlock.Acquire(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "topics"), 0o750); err != nil {
		lock.Release()
		return nil, fmt.Errorf("open journal %s: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "groups"), 0o750); err != nil {
		lock.Release()
		return nil, fmt.Errorf("open journal %s: %w", opts.Dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &Journal{opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel, lock: lock,
		topics: map[string]*topic{}, groups: map[string]*groupOffsets{}}
	entries, err := os.ReadDir(filepath.Join(opts.Dir, "topics"))
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("open journal %s: %w", opts.Dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if _, err := j.topic(e.Name()); err != nil {
				j.Close()
				return nil, err
			}
		}
	}
	// Load every group's offsets so retention respects groups that have
	// not subscribed since this start.
	groupDirs, err := os.ReadDir(filepath.Join(opts.Dir, "groups"))
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("open journal %s: %w", opts.Dir, err)
	}
	for _, gd := range groupDirs {
		files, _ := os.ReadDir(filepath.Join(opts.Dir, "groups", gd.Name()))
		for _, f := range files {
			if name, ok := strings.CutSuffix(f.Name(), ".json"); ok {
				if _, err := j.groupOffsets(gd.Name(), name); err != nil {
					j.Close()
					return nil, err
				}
			}
		}
	}
	if opts.Retention > 0 {
		j.wg.Add(1)
		go j.retentionLoop()
	}
	return j, nil
}

// Ready reports whether the journal can take writes.
func (j *Journal) Ready(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return bus.ErrClosed
	}
	return nil
}

// Close stops the writers and closes every segment file. Safe to call twice.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	j.cancel()
	j.wg.Wait()
	var errs []error
	for _, t := range j.topics {
		for _, p := range t.parts {
			if err := p.wal().Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, j.lock.Release())
	return errors.Join(errs...)
}

// Publish appends msgs and returns once they are durable (see FsyncPolicy).
func (j *Journal) Publish(ctx context.Context, topicName string, msgs ...bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	t, err := j.topic(topicName)
	if err != nil {
		return err
	}
	now := time.Now()
	byPart := make(map[int][][]byte)
	for _, m := range msgs {
		p := bus.PartitionFor(m.Key, len(t.parts))
		ts := m.Time
		if ts.IsZero() {
			ts = now
		}
		byPart[p] = append(byPart[p], encodeEntry(ts, m.Key, m.Value))
	}
	reqs := make([]*appendReq, 0, len(byPart))
	for p, entries := range byPart {
		r := &appendReq{entries: entries, done: make(chan error, 1)}
		select {
		case t.parts[p].reqs <- r:
		case <-ctx.Done():
			return ctx.Err()
		case <-j.ctx.Done():
			return bus.ErrClosed
		}
		reqs = append(reqs, r)
	}
	var errs []error
	for _, r := range reqs {
		select {
		case err := <-r.done:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			// The append may still land; the caller sees a failure and may
			// resend, which downstream dedup absorbs.
			return ctx.Err()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("publish to %s: %w: %w", topicName, bus.ErrUnavailable, errors.Join(errs...))
	}
	return nil
}

// Subscribe returns a consumer of topicName in group. The journal lives in
// one process, so one consumer per group reads every partition.
func (j *Journal) Subscribe(ctx context.Context, group, topicName string) (bus.Consumer, error) {
	if !validName.MatchString(group) {
		return nil, fmt.Errorf("subscribe: invalid group name %q", group)
	}
	t, err := j.topic(topicName)
	if err != nil {
		return nil, err
	}
	g, err := j.groupOffsets(group, topicName)
	if err != nil {
		return nil, err
	}
	c := &consumer{j: j, t: t, g: g, pos: make([]int64, len(t.parts)), closed: make(chan struct{})}
	g.mu.Lock()
	for i := range c.pos {
		c.pos[i] = max(g.offsets[i], t.parts[i].first())
	}
	g.mu.Unlock()
	return c, nil
}

// Lag is the number of messages in topic not yet committed by group.
func (j *Journal) Lag(ctx context.Context, group, topicName string) (int64, error) {
	t, err := j.topic(topicName)
	if err != nil {
		return 0, err
	}
	g, err := j.groupOffsets(group, topicName)
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var lag int64
	for i, p := range t.parts {
		lag += max(0, p.end()-max(g.offsets[i], p.first()))
	}
	return lag, nil
}

type topic struct {
	name   string
	parts  []*partition
	mu     sync.Mutex
	notify chan struct{} // closed and replaced whenever any partition grows
}

func (t *topic) changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.notify
}

func (t *topic) signal() {
	t.mu.Lock()
	close(t.notify)
	t.notify = make(chan struct{})
	t.mu.Unlock()
}

type topicMeta struct {
	Partitions int `json:"partitions"`
}

func (j *Journal) topic(name string) (*topic, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("journal: invalid topic name %q", name)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, bus.ErrClosed
	}
	if t, ok := j.topics[name]; ok {
		return t, nil
	}
	dir := filepath.Join(j.opts.Dir, "topics", name)
	meta := topicMeta{Partitions: j.opts.Partitions}
	metaPath := filepath.Join(dir, "meta.json")
	if b, err := os.ReadFile(metaPath); err == nil {
		if err := json.Unmarshal(b, &meta); err != nil || meta.Partitions <= 0 {
			return nil, fmt.Errorf("journal topic %s: bad meta.json: %v", name, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		b, _ := json.Marshal(meta)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", name, err)
		}
		if err := writeFileSync(metaPath, b); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", name, err)
		}
	} else {
		return nil, fmt.Errorf("journal topic %s: %w", name, err)
	}
	t := &topic{name: name, notify: make(chan struct{})}
	for i := 0; i < meta.Partitions; i++ {
		p, err := openPartition(filepath.Join(dir, fmt.Sprint(i)), j.opts)
		if err != nil {
			for _, q := range t.parts {
				q.log.Close()
			}
			return nil, fmt.Errorf("journal topic %s partition %d: %w", name, i, err)
		}
		t.parts = append(t.parts, p)
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			p.writeLoop(j.ctx, j.opts, t.signal)
		}()
	}
	j.topics[name] = t
	return t, nil
}

// partition wraps one wal.Log. Kafka-style offsets start at 0; wal indexes
// start at 1, so offset = index - 1.
type partition struct {
	log  *wal.Log // replaced only by writeLoop, under mu; others read it through wal()
	dir  string
	reqs chan *appendReq
	// broken is set by writeLoop when a reopen after a failed write failed.
	broken bool

	mu         sync.Mutex
	firstOff   int64 // oldest offset still stored
	nextOff    int64 // offset the next append gets
	unsynced   bool
	lastSynced time.Time
}

type appendReq struct {
	entries [][]byte
	done    chan error
}

func openPartition(dir string, opts Options) (*partition, error) {
	l, err := openWAL(dir, opts)
	if err != nil {
		return nil, err
	}
	first, err := l.FirstIndex()
	if err != nil {
		l.Close()
		return nil, err
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		return nil, err
	}
	p := &partition{log: l, dir: dir, reqs: make(chan *appendReq, 256)}
	if last == 0 { // empty log
		p.firstOff, p.nextOff = 0, 0
	} else {
		p.firstOff, p.nextOff = int64(first)-1, int64(last)
	}
	return p, nil
}

func (p *partition) first() int64  { p.mu.Lock(); defer p.mu.Unlock(); return p.firstOff }
func (p *partition) wal() *wal.Log { p.mu.Lock(); defer p.mu.Unlock(); return p.log }

// reopen replaces the log by a fresh open of its folder. After a failed
// write (a full disk) wal keeps the unwritten entries in its in-memory tail
// and may have written part of them, so later appends would be read back
// at the wrong offsets and the file would hold a torn entry in the middle.
// Opening again cuts the torn tail and counts only what is on disk.
func (p *partition) reopen(opts Options) error {
	p.wal().Close()
	l, err := openWAL(p.dir, opts)
	if err != nil {
		p.broken = true
		return fmt.Errorf("reopen journal partition %s: %w", p.dir, err)
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		p.broken = true
		return fmt.Errorf("reopen journal partition %s: %w", p.dir, err)
	}
	p.mu.Lock()
	p.log, p.nextOff, p.broken = l, int64(last), false
	p.mu.Unlock()
	return nil
}
func (p *partition) end() int64 { p.mu.Lock(); defer p.mu.Unlock(); return p.nextOff }

// writeLoop is the partition's only writer. It drains every queued request
// into one batch so that concurrent publishers share a single fsync.
func (p *partition) writeLoop(ctx context.Context, opts Options, signal func()) {
	var tick <-chan time.Time
	if opts.Fsync == FsyncInterval {
		t := time.NewTicker(opts.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var batch wal.Batch
	for {
		var first *appendReq
		select {
		case <-ctx.Done():
			p.drainClosed()
			if opts.Fsync == FsyncInterval {
				p.log.Sync()
			}
			return
		case <-tick:
			p.mu.Lock()
			dirty := p.unsynced
			p.unsynced = false
			p.mu.Unlock()
			if dirty {
				if err := p.log.Sync(); err != nil {
					opts.Logger.Error("journal interval sync failed", "err", err)
				}
			}
			continue
		case first = <-p.reqs:
		}
		reqs := []*appendReq{first}
	drain:
		for len(reqs) < 1024 {
			select {
			case r := <-p.reqs:
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		if p.broken {
			if err := p.reopen(opts); err != nil {
				for _, r := range reqs {
					r.done <- err
				}
				continue
			}
		}
		batch.Clear()
		idx := uint64(p.end()) + 1
		for _, r := range reqs {
			for _, e := range r.entries {
				batch.Write(idx, e)
				idx++
			}
		}
		err := p.log.WriteBatch(&batch)
		if err == nil && opts.Fsync == FsyncAlways {
			err = p.log.Sync()
		}
		if err == nil {
			p.mu.Lock()
			p.nextOff = int64(idx) - 1
			p.unsynced = opts.Fsync == FsyncInterval
			p.mu.Unlock()
			signal()
		} else if rerr := p.reopen(opts); rerr != nil {
			opts.Logger.Error("journal: reopen after a failed write", "err", rerr)
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}

func (p *partition) drainClosed() {
	for {
		select {
		case r := <-p.reqs:
			r.done <- bus.ErrClosed
		default:
			return
		}
	}
}

func (p *partition) read(off int64) (bus.Message, error) {
	data, err := p.wal().Read(uint64(off) + 1)
	if err != nil {
		return bus.Message{}, err
	}
	ts, key, val, err := decodeEntry(data)
	if err != nil {
		return bus.Message{}, fmt.Errorf("offset %d: %w", off, err)
	}
	return bus.Message{Offset: off, Key: key, Value: val, Time: ts}, nil
}

// Entry layout: 8 bytes unix nanos, uvarint key length, key, value.
func encodeEntry(ts time.Time, key, val []byte) []byte {
	b := make([]byte, 8, 8+binary.MaxVarintLen32+len(key)+len(val))
	binary.BigEndian.PutUint64(b, uint64(ts.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, val...)
}

func decodeEntry(b []byte) (time.Time, []byte, []byte, error) {
	if len(b) < 9 {
		return time.Time{}, nil, nil, errors.New("short journal entry")
	}
	ts := time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	kl, n := binary.Uvarint(b[8:])
	if n <= 0 || uint64(len(b)-8-n) < kl {
		return time.Time{}, nil, nil, errors.New("bad key length in journal entry")
	}
	rest := b[8+n:]
	key := append([]byte(nil), rest[:kl]...)
	val := append([]byte(nil), rest[kl:]...)
	return ts, key, val, nil
}

// minEntryBytes is the smallest entry encodeEntry produces: the timestamp
// and a one-byte key length.
const minEntryBytes = 9

// openWAL opens a partition's log, first cutting off a torn write at the end
// of its newest segment. A process killed in the middle of a group-commit
// write leaves a partial entry there, and wal refuses to open such a log
// (ErrCorrupt). The torn entries were never acknowledged (Publish returns
// only after the whole write and its fsync), so dropping them loses nothing
// that was promised. A tail of zero bytes (a file extended but not written
// before a power cut) parses as empty entries, which the journal never
// writes; it is cut off the same way.
func openWAL(dir string, opts Options) (*wal.Log, error) {
	wopts := &wal.Options{NoSync: true, SegmentSize: opts.SegmentBytes,
		SegmentCacheSize: 2, NoCopy: true, DirPerms: 0o750, FilePerms: 0o640}
	l, err := wal.Open(dir, wopts)
	if err == nil && !lastEntryValid(l) {
		l.Close()
		err = wal.ErrCorrupt
	}
	if !errors.Is(err, wal.ErrCorrupt) {
		return l, err
	}
	cut, rerr := repairTail(dir)
	if rerr != nil {
		return nil, fmt.Errorf("repair %s: %w (opening it failed: %w)", dir, rerr, err)
	}
	opts.Logger.Warn("journal: cut a torn write off the end of a segment", "dir", dir, "bytes", cut)
	return wal.Open(dir, wopts)
}

func lastEntryValid(l *wal.Log) bool {
	last, err := l.LastIndex()
	if err != nil || last == 0 {
		return err == nil
	}
	data, err := l.Read(last)
	return err == nil && len(data) >= minEntryBytes
}

// repairTail truncates the newest segment of the log in dir after its last
// complete entry and returns how many bytes it cut.
func repairTail(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	last := ""
	for _, e := range entries {
		// Plain segment names are 20 decimal digits, so the greatest name
		// is the newest segment.
		if n := e.Name(); len(n) == 20 && strings.Trim(n, "0123456789") == "" && n > last {
			last = n
		}
	}
	if last == "" {
		return 0, errors.New("no segment file")
	}
	path := filepath.Join(dir, last)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	good := 0
	for good < len(data) {
		size, n := binary.Uvarint(data[good:])
		if n <= 0 || size < minEntryBytes || uint64(len(data)-good-n) < size {
			break
		}
		good += n + int(size)
	}
	if good == len(data) {
		return 0, fmt.Errorf("segment %s ends with a whole entry; the damage is elsewhere", last)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Truncate(int64(good)); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return int64(len(data) - good), f.Close()
}
