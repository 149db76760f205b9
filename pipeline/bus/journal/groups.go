package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// groupOffsets holds one group's committed offsets for one topic: the offset
// of the next message to process, per partition.
type groupOffsets struct {
	path    string
	mu      sync.Mutex
	offsets map[int]int64
}

func (j *Journal) groupOffsets(group, topicName string) (*groupOffsets, error) {
	if !validName.MatchString(group) {
		return nil, fmt.Errorf("journal: invalid group name %q", group)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	k := group + "\x00" + topicName
	if g, ok := j.groups[k]; ok {
		return g, nil
	}
	dir := filepath.Join(j.opts.Dir, "groups", group)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal group %s: %w", group, err)
	}
	g := &groupOffsets{path: filepath.Join(dir, topicName+".json"), offsets: map[int]int64{}}
	if err := g.load(); err != nil {
		return nil, err
	}
	j.groups[k] = g
	return g, nil
}

func (g *groupOffsets) load() error {
	b, err := os.ReadFile(g.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read offsets %s: %w", g.path, err)
	}
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("read offsets %s: %w", g.path, err)
	}
	for k, v := range m {
		p, err := strconv.Atoi(k)
		if err != nil {
			return fmt.Errorf("read offsets %s: partition %q: %w", g.path, k, err)
		}
		g.offsets[p] = v
	}
	return nil
}

// commit raises offsets (never lowers them) and persists them atomically.
func (g *groupOffsets) commit(next map[int]int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for p, off := range next {
		if off > g.offsets[p] {
			g.offsets[p] = off
			changed = true
		}
	}
	if !changed {
		return nil
	}
	m := make(map[string]int64, len(g.offsets))
	for p, off := range g.offsets {
		m[strconv.Itoa(p)] = off
	}
	b, _ := json.Marshal(m)
	if err := writeFileSync(g.path, b); err != nil {
		return fmt.Errorf("commit offsets %s: %w", g.path, err)
	}
	return nil
}

func (g *groupOffsets) committed(p int) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.offsets[p]
}

// writeFileSync replaces path with data so that a crash leaves either the
// old or the new content, never a torn file.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type consumer struct {
	j      *Journal
	t      *topic
	g      *groupOffsets
	mu     sync.Mutex
	pos    []int64 // next offset to hand out, per partition
	rr     int     // partition to start from, so that none starves
	closed chan struct{}
	once   sync.Once
}

func (c *consumer) Fetch(ctx context.Context, maxMsgs int) ([]bus.Message, error) {
	if maxMsgs <= 0 {
		maxMsgs = 1
	}
	for {
		changed := c.t.changed()
		out, err := c.collect(maxMsgs)
		if err != nil || len(out) > 0 {
			return out, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return nil, bus.ErrClosed
		case <-c.j.ctx.Done():
			return nil, bus.ErrClosed
		}
	}
}

func (c *consumer) collect(maxMsgs int) ([]bus.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []bus.Message
	n := len(c.t.parts)
	// Take an even share from each partition first, then fill up.
	share := max(1, maxMsgs/n)
	for pass := 0; pass < 2 && len(out) < maxMsgs; pass++ {
		for i := 0; i < n && len(out) < maxMsgs; i++ {
			pi := (c.rr + i) % n
			p := c.t.parts[pi]
			c.pos[pi] = max(c.pos[pi], p.first())
			end := p.end()
			taken := 0
			for c.pos[pi] < end && len(out) < maxMsgs && (pass == 1 || taken < share) {
				m, err := p.read(c.pos[pi])
				if err != nil {
					return out, fmt.Errorf("read %s/%d: %w", c.t.name, pi, err)
				}
				m.Topic, m.Partition = c.t.name, pi
				out = append(out, m)
				c.pos[pi]++
				taken++
			}
		}
	}
	c.rr = (c.rr + 1) % n
	return out, nil
}

func (c *consumer) Commit(ctx context.Context, msgs ...bus.Message) error {
	next := map[int]int64{}
	for _, m := range msgs {
		if m.Topic != c.t.name {
			return fmt.Errorf("commit: message from topic %q on a consumer of %q", m.Topic, c.t.name)
		}
		if m.Offset+1 > next[m.Partition] {
			next[m.Partition] = m.Offset + 1
		}
	}
	return c.g.commit(next)
}

func (c *consumer) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// retentionLoop drops old messages that every group has committed.
func (j *Journal) retentionLoop() {
	defer j.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-j.ctx.Done():
			return
		case <-t.C:
			j.ApplyRetention(time.Now())
		}
	}
}

// ApplyRetention truncates each partition up to the oldest message that is
// either newer than the retention window or not yet committed by a group.
func (j *Journal) ApplyRetention(now time.Time) {
	if j.opts.Retention <= 0 {
		return
	}
	cutoff := now.Add(-j.opts.Retention)
	j.mu.Lock()
	topics := make([]*topic, 0, len(j.topics))
	for _, t := range j.topics {
		topics = append(topics, t)
	}
	groups := map[string][]*groupOffsets{}
	for k, g := range j.groups {
		for i := 0; i < len(k); i++ {
			if k[i] == 0 {
				groups[k[i+1:]] = append(groups[k[i+1:]], g)
				break
			}
		}
	}
	j.mu.Unlock()
	for _, t := range topics {
		for pi, p := range t.parts {
			limit := p.end() - 1 // keep at least the newest message
			for _, g := range groups[t.name] {
				limit = min(limit, g.committed(pi))
			}
			if len(groups[t.name]) == 0 {
				continue // nobody has read it yet: keep it
			}
			keepFrom := p.first()
			for keepFrom < limit {
				m, err := p.read(keepFrom)
				if err != nil || !m.Time.Before(cutoff) {
					break
				}
				keepFrom++
			}
			if keepFrom > p.first() {
				if err := p.wal().TruncateFront(uint64(keepFrom) + 1); err != nil {
					j.log.Error("journal retention", "topic", t.name, "partition", pi, "err", err)
					continue
				}
				p.mu.Lock()
				p.firstOff = keepFrom
				p.mu.Unlock()
			}
		}
	}
}
