// Package bustest is the contract every bus.Bus implementation passes: the
// embedded journal and Kafka run the same subtests, so the pipeline can rely
// on one set of delivery and offset semantics whichever bus serve wires in.
//
// Each subtest uses its own topic and group names, so one bus (one journal
// directory, one Kafka cluster) can serve all of them.
package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// Harness opens the bus under test.
type Harness struct {
	// Open returns a bus and a function that opens the same bus again (the
	// same directory, the same cluster), as a restarted process would. The
	// contract tests close the first bus before calling reopen. Open
	// registers nothing for cleanup that the tests close themselves; closing
	// a bus twice must be harmless.
	Open func(t *testing.T) (b bus.Bus, reopen func(t *testing.T) bus.Bus)
	// Partitions is the partition count of topics the bus creates; the
	// tests check that keys land where bus.PartitionFor says.
	Partitions int
	// Wait bounds every wait for messages that must arrive. Kafka needs
	// seconds to form a consumer group; default 30s.
	Wait time.Duration
}

// Run runs the contract subtests against h.
func Run(t *testing.T, h Harness) {
	if h.Wait <= 0 {
		h.Wait = 30 * time.Second
	}
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"Ready", testReady},
		{"RoundTrip", testRoundTrip},
		{"PerKeyOrder", testPerKeyOrder},
		{"CommittedOffsetsSurviveReopen", testCommitSurvivesReopen},
		{"GroupsReadIndependently", testIndependentGroups},
		{"LagCountsUncommitted", testLag},
		{"ConcurrentPublishersLoseNothing", testConcurrentPublishers},
		{"FetchHonoursCancellation", testFetchCancel},
		{"CommitNeverMovesBackwards", testCommitMonotonic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, h) })
	}
}

// Name returns a topic or group name unique to this test run, made only of
// characters both buses accept.
func Name(t testing.TB, kind string) string {
	base := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(base) > 80 {
		base = base[len(base)-80:]
	}
	return fmt.Sprintf("%s-%s-%08x", kind, base, rand.Uint32())
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

func ctxFor(t *testing.T, h Harness) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
	t.Cleanup(cancel)
	return ctx
}

func openBus(t *testing.T, h Harness) (bus.Bus, func(t *testing.T) bus.Bus) {
	b, reopen := h.Open(t)
	t.Cleanup(func() { b.Close() })
	return b, func(t *testing.T) bus.Bus {
		nb := reopen(t)
		t.Cleanup(func() { nb.Close() })
		return nb
	}
}

func subscribe(t *testing.T, ctx context.Context, b bus.Bus, group, topic string) bus.Consumer {
	t.Helper()
	c, err := b.Subscribe(ctx, group, topic)
	if err != nil {
		t.Fatalf("subscribe %s to %s: %v", group, topic, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// FetchN fetches until it holds exactly n messages, failing the test if they
// do not arrive before ctx ends or if more than n arrive.
func FetchN(t *testing.T, ctx context.Context, c bus.Consumer, n int) []bus.Message {
	t.Helper()
	var out []bus.Message
	for len(out) < n {
		msgs, err := c.Fetch(ctx, n-len(out))
		if err != nil {
			t.Fatalf("fetch: got %d of %d messages: %v", len(out), n, err)
		}
		if len(msgs) > n-len(out) {
			t.Fatalf("fetch(max=%d) returned %d messages", n-len(out), len(msgs))
		}
		out = append(out, msgs...)
	}
	return out
}

// expectNothing checks that no further message is delivered within a short
// while. It bounds a wait rather than asserting a duration.
func expectNothing(t *testing.T, c bus.Consumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	msgs, err := c.Fetch(ctx, 100)
	if err == nil {
		t.Fatalf("expected no more messages, got %d, first %s", len(msgs), describe(msgs[0]))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch with nothing to read: want deadline exceeded, got %v", err)
	}
}

func describe(m bus.Message) string {
	return fmt.Sprintf("%s/%d@%d key=%q value=%q", m.Topic, m.Partition, m.Offset, m.Key, m.Value)
}

func publish(t *testing.T, ctx context.Context, b bus.Bus, topic string, msgs ...bus.Message) {
	t.Helper()
	if err := b.Publish(ctx, topic, msgs...); err != nil {
		t.Fatalf("publish %d messages to %s: %v", len(msgs), topic, err)
	}
}

// numbered returns n messages spread over keys, values "key/i".
func numbered(n int, keys ...string) []bus.Message {
	msgs := make([]bus.Message, n)
	for i := range msgs {
		k := keys[i%len(keys)]
		msgs[i] = bus.Message{Key: []byte(k), Value: fmt.Appendf(nil, "%s/%d", k, i)}
	}
	return msgs
}

func testReady(t *testing.T, h Harness) {
	b, _ := openBus(t, h)
	if err := b.Ready(ctxFor(t, h)); err != nil {
		t.Fatalf("Ready on an open bus: %v", err)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, _ := openBus(t, h)
	topic := Name(t, "t")
	sent := []bus.Message{
		{Key: []byte("venue-1"), Value: []byte(`{"id":1}`)},
		{Key: []byte("venue-2"), Value: []byte("二进制\x00\xff数据")},
		{Key: []byte("venue-3"), Value: bytes.Repeat([]byte("x"), 64<<10)},
		{Key: []byte("venue-4"), Value: []byte("timed"), Time: time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.UTC)},
		{Key: []byte(""), Value: []byte("no key")},
	}
	publish(t, ctx, b, topic, sent...)
	c := subscribe(t, ctx, b, Name(t, "g"), topic)
	got := FetchN(t, ctx, c, len(sent))
	for _, want := range sent {
		i := slices.IndexFunc(got, func(m bus.Message) bool {
			return bytes.Equal(m.Key, want.Key) && bytes.Equal(m.Value, want.Value)
		})
		if i < 0 {
			t.Errorf("message key=%q (%d value bytes) not delivered intact", want.Key, len(want.Value))
			continue
		}
		m := got[i]
		if m.Topic != topic {
			t.Errorf("key %q: topic %q, want %q", m.Key, m.Topic, topic)
		}
		if m.Partition < 0 || m.Partition >= h.Partitions {
			t.Errorf("key %q: partition %d outside [0,%d)", m.Key, m.Partition, h.Partitions)
		}
		if m.Time.IsZero() {
			t.Errorf("key %q: zero time; the bus must stamp messages", m.Key)
		}
		if !want.Time.IsZero() && !m.Time.Equal(want.Time.Truncate(time.Millisecond)) {
			t.Errorf("key %q: time %v, want the producer's %v", m.Key, m.Time, want.Time)
		}
	}
	seen := map[[2]int64]bool{}
	for _, m := range got {
		k := [2]int64{int64(m.Partition), m.Offset}
		if seen[k] {
			t.Errorf("two messages at partition %d offset %d", m.Partition, m.Offset)
		}
		seen[k] = true
	}
	expectNothing(t, c)
}

func testPerKeyOrder(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, _ := openBus(t, h)
	topic := Name(t, "t")
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	const perKey = 25
	// Mix single publishes and batches: order must hold across both.
	all := numbered(perKey*len(keys), keys...)
	for i := 0; i < len(all); {
		n := 1 + i%7
		n = min(n, len(all)-i)
		publish(t, ctx, b, topic, all[i:i+n]...)
		i += n
	}
	c := subscribe(t, ctx, b, Name(t, "g"), topic)
	got := FetchN(t, ctx, c, len(all))
	last := map[string]int{}
	lastOff := map[int]int64{}
	for _, m := range got {
		k := string(m.Key)
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(m.Value), k+"/"), "%d", &i); err != nil {
			t.Fatalf("unexpected value %q", m.Value)
		}
		if prev, ok := last[k]; ok && i <= prev {
			t.Errorf("key %s: message %d delivered after %d", k, i, prev)
		}
		last[k] = i
		if want := bus.PartitionFor(m.Key, h.Partitions); m.Partition != want {
			t.Errorf("key %s on partition %d, bus.PartitionFor says %d", k, m.Partition, want)
		}
		if prev, ok := lastOff[m.Partition]; ok && m.Offset <= prev {
			t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
		}
		lastOff[m.Partition] = m.Offset
	}
}

// commitMiddle commits, per partition, the message in the middle of what was
// fetched and returns the messages after it, which must be redelivered.
func commitMiddle(t *testing.T, ctx context.Context, c bus.Consumer, got []bus.Message) (uncommitted []bus.Message) {
	t.Helper()
	byPart := map[int][]bus.Message{}
	for _, m := range got {
		byPart[m.Partition] = append(byPart[m.Partition], m)
	}
	var commit []bus.Message
	for _, ms := range byPart {
		mid := len(ms) / 2
		commit = append(commit, ms[mid])
		uncommitted = append(uncommitted, ms[mid+1:]...)
	}
	if err := c.Commit(ctx, commit...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return uncommitted
}

func sameMessages(t *testing.T, got, want []bus.Message) {
	t.Helper()
	key := func(m bus.Message) string { return fmt.Sprintf("%d@%d", m.Partition, m.Offset) }
	g := map[string]bus.Message{}
	for _, m := range got {
		g[key(m)] = m
	}
	if len(g) != len(got) {
		t.Errorf("duplicate deliveries among %d messages", len(got))
	}
	for _, w := range want {
		m, ok := g[key(w)]
		if !ok {
			t.Errorf("missing %s", describe(w))
			continue
		}
		if !bytes.Equal(m.Value, w.Value) || !bytes.Equal(m.Key, w.Key) {
			t.Errorf("at %s got %s", describe(w), describe(m))
		}
		delete(g, key(w))
	}
	for _, m := range g {
		t.Errorf("unexpected %s", describe(m))
	}
}

func testCommitSurvivesReopen(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, reopen := openBus(t, h)
	topic, group := Name(t, "t"), Name(t, "g")
	publish(t, ctx, b, topic, numbered(40, "k1", "k2", "k3", "k4", "k5", "k6")...)
	c := subscribe(t, ctx, b, group, topic)
	got := FetchN(t, ctx, c, 40)
	redeliver := commitMiddle(t, ctx, c, got)
	if err := c.Close(); err != nil {
		t.Fatalf("close consumer: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("close bus: %v", err)
	}

	b2 := reopen(t)
	c2 := subscribe(t, ctx, b2, group, topic)
	again := FetchN(t, ctx, c2, len(redeliver))
	sameMessages(t, again, redeliver)
	expectNothing(t, c2)
	// A new group on the reopened bus still sees everything.
	c3 := subscribe(t, ctx, b2, Name(t, "g2"), topic)
	sameMessages(t, FetchN(t, ctx, c3, 40), got)
}

func testIndependentGroups(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, _ := openBus(t, h)
	topic := Name(t, "t")
	ga, gb := Name(t, "ga"), Name(t, "gb")
	sent := numbered(30, "x", "y", "z")
	publish(t, ctx, b, topic, sent...)

	ca := subscribe(t, ctx, b, ga, topic)
	gotA := FetchN(t, ctx, ca, len(sent))
	if err := ca.Commit(ctx, gotA...); err != nil {
		t.Fatalf("commit group a: %v", err)
	}
	// Group b starts after a has committed everything and must still see it all.
	cb := subscribe(t, ctx, b, gb, topic)
	gotB := FetchN(t, ctx, cb, len(sent))
	sameMessages(t, gotB, gotA)

	for _, tc := range []struct {
		group string
		want  int64
	}{{ga, 0}, {gb, int64(len(sent))}} {
		lag, err := b.Lag(ctx, tc.group, topic)
		if err != nil {
			t.Fatalf("lag %s: %v", tc.group, err)
		}
		if lag != tc.want {
			t.Errorf("lag of %s = %d, want %d", tc.group, lag, tc.want)
		}
	}
}

func testLag(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, _ := openBus(t, h)
	topic, group := Name(t, "t"), Name(t, "g")
	const n = 24
	publish(t, ctx, b, topic, numbered(n, "p", "q", "r", "s")...)
	wantLag := func(step string, want int64) {
		t.Helper()
		lag, err := b.Lag(ctx, group, topic)
		if err != nil {
			t.Fatalf("%s: lag: %v", step, err)
		}
		if lag != want {
			t.Errorf("%s: lag %d, want %d", step, lag, want)
		}
	}
	wantLag("before the group ever subscribed", n)
	c := subscribe(t, ctx, b, group, topic)
	got := FetchN(t, ctx, c, n)
	wantLag("fetched but not committed", n)
	rest := commitMiddle(t, ctx, c, got)
	wantLag("half committed", int64(len(rest)))
	if err := c.Commit(ctx, got...); err != nil {
		t.Fatalf("commit all: %v", err)
	}
	wantLag("all committed", 0)
	publish(t, ctx, b, topic, numbered(5, "p")...)
	wantLag("after 5 more", 5)
}

func testConcurrentPublishers(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, _ := openBus(t, h)
	topic := Name(t, "t")
	const publishers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("pub-%02d", p)
			for i := 0; i < each; {
				// Alternate single messages and small batches.
				n := min(1+i%3, each-i)
				batch := make([]bus.Message, n)
				for j := range batch {
					batch[j] = bus.Message{Key: []byte(key), Value: fmt.Appendf(nil, "%s/%d", key, i+j)}
				}
				if err := b.Publish(ctx, topic, batch...); err != nil {
					errs <- fmt.Errorf("%s message %d: %w", key, i, err)
					return
				}
				i += n
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}
	c := subscribe(t, ctx, b, Name(t, "g"), topic)
	got := FetchN(t, ctx, c, publishers*each)
	seen := map[string]int{}
	next := map[string]int{}
	for _, m := range got {
		seen[string(m.Value)]++
		k := string(m.Key)
		want := fmt.Sprintf("%s/%d", k, next[k])
		if string(m.Value) != want {
			t.Errorf("publisher %s: got %q, want %q next", k, m.Value, want)
		}
		next[k]++
	}
	for p := range publishers {
		for i := range each {
			v := fmt.Sprintf("pub-%02d/%d", p, i)
			if seen[v] != 1 {
				t.Errorf("%s delivered %d times", v, seen[v])
			}
		}
	}
	expectNothing(t, c)
}

func testFetchCancel(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, _ := openBus(t, h)
	topic := Name(t, "t")
	c := subscribe(t, ctx, b, Name(t, "g"), topic)
	tests := []struct {
		name   string
		cancel func(context.CancelFunc)
		want   error
	}{
		{"already cancelled", func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"cancelled while waiting", func(cancel context.CancelFunc) {
			time.AfterFunc(100*time.Millisecond, cancel)
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fctx, cancel := context.WithCancel(ctx)
			defer cancel()
			tc.cancel(cancel)
			msgs, err := c.Fetch(fctx, 10)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Fetch on an empty topic: got %d messages, err %v; want %v", len(msgs), err, tc.want)
			}
		})
	}
	// The consumer is still usable after a cancelled fetch.
	publish(t, ctx, b, topic, bus.Message{Key: []byte("k"), Value: []byte("after cancel")})
	got := FetchN(t, ctx, c, 1)
	if string(got[0].Value) != "after cancel" {
		t.Fatalf("after cancelled fetches got %s", describe(got[0]))
	}
	// A closed consumer reports it instead of blocking.
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := c.Fetch(ctx, 1); err == nil {
		t.Fatal("Fetch on a closed consumer returned no error")
	}
}

func testCommitMonotonic(t *testing.T, h Harness) {
	ctx := ctxFor(t, h)
	b, reopen := openBus(t, h)
	topic, group := Name(t, "t"), Name(t, "g")
	publish(t, ctx, b, topic, numbered(10, "one-key")...)
	c := subscribe(t, ctx, b, group, topic)
	got := FetchN(t, ctx, c, 10)
	steps := []struct {
		commit  int // index into got
		wantLag int64
	}{
		{7, 2},
		{2, 2}, // older: must not move the offset back
		{7, 2}, // same again: no change
		{8, 1},
		{0, 1},
	}
	for _, s := range steps {
		if err := c.Commit(ctx, got[s.commit]); err != nil {
			t.Fatalf("commit message %d: %v", s.commit, err)
		}
		lag, err := b.Lag(ctx, group, topic)
		if err != nil {
			t.Fatalf("lag: %v", err)
		}
		if lag != s.wantLag {
			t.Errorf("after committing message %d: lag %d, want %d", s.commit, lag, s.wantLag)
		}
	}
	// A commit of an older message by a later consumer of the same group
	// must not move the offset back either.
	c.Close()
	b.Close()
	b2 := reopen(t)
	c2 := subscribe(t, ctx, b2, group, topic)
	again := FetchN(t, ctx, c2, 1)
	if again[0].Offset != got[9].Offset {
		t.Fatalf("after reopen resumed at %s, want offset %d", describe(again[0]), got[9].Offset)
	}
	if err := c2.Commit(ctx, got[1]); err != nil {
		t.Fatalf("commit old message on new consumer: %v", err)
	}
	if lag, err := b2.Lag(ctx, group, topic); err != nil || lag != 1 {
		t.Errorf("after an old commit on a new consumer: lag %d (err %v), want 1", lag, err)
	}
}
