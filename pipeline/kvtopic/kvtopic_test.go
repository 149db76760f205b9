package kvtopic

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Two nodes in one process, each with its own bbolt file, share one table.
func TestWriteOnOneNodeIsReadOnTheOther(t *testing.T) {
	const topic = "state.visible"
	a, b := openBoltTable(t, dataPath(t, "a")), openBoltTable(t, dataPath(t, "b"))
	na := startNode(t, topic, map[string]Table{"venues": a})
	nb := startNode(t, topic, map[string]Table{"venues": b})
	ctx := ctxFor(t)

	steps := []struct {
		name    string
		entries []Entry
		want    map[string]string // key → value; "" means absent
	}{
		{"put", []Entry{{Key: "C01", Value: []byte("cafe")}, {Key: "H01", Value: []byte("hotel")}},
			map[string]string{"C01": "cafe", "H01": "hotel"}},
		{"overwrite", []Entry{{Key: "C01", Value: []byte("cafe, renamed")}},
			map[string]string{"C01": "cafe, renamed", "H01": "hotel"}},
		{"delete", []Entry{{Key: "H01"}}, map[string]string{"C01": "cafe, renamed", "H01": ""}},
		{"same key twice in one write", []Entry{{Key: "X", Value: []byte("1")}, {Key: "X", Value: []byte("2")}},
			map[string]string{"X": "2"}},
	}
	for _, s := range steps {
		// Write returns once the writer's own copy has it: no waiting.
		if err := na.log.Write(ctx, "venues", s.entries...); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for k, want := range s.want {
			if got, _ := a.get(t, k); got != want {
				t.Errorf("%s: writer has %s=%q, want %q", s.name, k, got, want)
			}
		}
		// Sync makes every earlier write visible on the other node.
		if err := nb.log.Sync(ctx); err != nil {
			t.Fatalf("%s: sync: %v", s.name, err)
		}
		for k, want := range s.want {
			if got, _ := b.get(t, k); got != want {
				t.Errorf("%s: other node has %s=%q, want %q", s.name, k, got, want)
			}
		}
	}
}

// Tables share the topic without seeing each other's keys.
func TestTablesAreSeparate(t *testing.T) {
	const topic = "state.tables"
	users, venues := openBoltTable(t, dataPath(t, "users")), openBoltTable(t, dataPath(t, "venues"))
	n := startNode(t, topic, map[string]Table{"users": users, "venues": venues})
	ctx := ctxFor(t)
	if err := n.log.Write(ctx, "users", Entry{Key: "li", Value: []byte("analyst")}); err != nil {
		t.Fatal(err)
	}
	if err := n.log.Write(ctx, "venues", Entry{Key: "C01", Value: []byte("cafe")}); err != nil {
		t.Fatal(err)
	}
	if got, want := users.dump(t), "li=analyst;"; got != want {
		t.Errorf("users = %q, want %q", got, want)
	}
	if got, want := venues.dump(t), "C01=cafe;"; got != want {
		t.Errorf("venues = %q, want %q", got, want)
	}
}

// A node that stops resumes from the offset kept in its file: it applies
// what was written while it was down, and nothing it had already applied.
func TestRestartResumesFromStoredOffset(t *testing.T) {
	const topic = "state.restart"
	a := openBoltTable(t, dataPath(t, "a"))
	bPath := dataPath(t, "b")
	b := openBoltTable(t, bPath)
	na := startNode(t, topic, map[string]Table{"t": a})
	nb := startNode(t, topic, map[string]Table{"t": b})
	ctx := ctxFor(t)
	for i := range 5 {
		if err := na.log.Write(ctx, "t", Entry{Key: fmt.Sprint("k", i), Value: []byte("v1")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nb.log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.appliedCount(); got != 5 {
		t.Fatalf("before the restart B applied %d entries, want 5", got)
	}
	nb.stop()

	// Written while B is down: two updates and a delete.
	if err := na.log.Write(ctx, "t", Entry{Key: "k0", Value: []byte("v2")}, Entry{Key: "k5", Value: []byte("v1")}, Entry{Key: "k1"}); err != nil {
		t.Fatal(err)
	}

	b.db.Close()
	b2 := openBoltTable(t, bPath)
	nb2 := startNode(t, topic, map[string]Table{"t": b2})
	if err := nb2.log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b2.appliedCount(); got != 3 {
		t.Errorf("after the restart B applied %d entries, want the 3 written while it was down", got)
	}
	if got, want := b2.dump(t), a.dump(t); got != want {
		t.Errorf("B after restart = %q, A = %q", got, want)
	}
	if _, ok := b2.get(t, "k1"); ok {
		t.Error("k1, deleted while B was down, is still on B")
	}
}

// Two nodes writing the same keys at once end with the same table: the
// topic's order decides, and both apply that order.
func TestConcurrentWritersConverge(t *testing.T) {
	const topic = "state.converge"
	a, b := openBoltTable(t, dataPath(t, "a")), openBoltTable(t, dataPath(t, "b"))
	nodes := []*node{startNode(t, topic, map[string]Table{"t": a}), startNode(t, topic, map[string]Table{"t": b})}
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2*4*20)
	for ni, n := range nodes {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					e := Entry{Key: fmt.Sprint("k", (i+w)%7), Value: []byte(fmt.Sprintf("n%d-w%d-%d", ni, w, i))}
					if i%5 == 4 {
						e.Value = nil
					}
					if err := n.log.Write(ctx, "t", e); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.log.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	da, db := a.dump(t), b.dump(t)
	if da != db {
		t.Errorf("nodes diverged:\nA %s\nB %s", da, db)
	}
	if da == "" {
		t.Error("both tables are empty after 160 writes")
	}
}

// The first node of a cluster seeds an empty topic with its local entries;
// a node joining later receives them, and adds its own local entries whose
// keys the cluster does not have, while the cluster's values win on the
// keys it has.
func TestJoinMergesLocalEntries(t *testing.T) {
	const topic = "state.seed"
	a := openBoltTable(t, dataPath(t, "a"))
	a.put(t, "C01", "kept alone before the cluster")
	a.put(t, "GONE", "deleted by the cluster")
	na := startNode(t, topic, map[string]Table{"t": a})
	if err := na.log.Write(ctxFor(t), "t", Entry{Key: "GONE"}); err != nil {
		t.Fatal(err)
	}
	b := openBoltTable(t, dataPath(t, "b"))
	nb := startNode(t, topic, map[string]Table{"t": b})
	if err := nb.log.Sync(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.get(t, "C01"); got != "kept alone before the cluster" {
		t.Errorf("joining node has C01=%q, want the seeded value", got)
	}

	c := openBoltTable(t, dataPath(t, "c"))
	c.put(t, "C01", "a stale copy")
	c.put(t, "GONE", "a stale copy")
	c.put(t, "H07", "only on c")
	nc := startNode(t, topic, map[string]Table{"t": c})
	if err := nc.log.Sync(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	// c's merge is written after its catch-up; wait until a sees it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := na.log.Sync(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		if _, ok := a.get(t, "H07"); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := "C01=kept alone before the cluster;H07=only on c;"
	for name, tb := range map[string]*boltTable{"a": a, "c": c} {
		if got := tb.dump(t); got != want {
			t.Errorf("%s after c joined: %q, want %q", name, got, want)
		}
	}
}

// A broker that goes away and comes back stops nobody: the appliers wait,
// the nodes keep their copies, and writes made after the return reach
// every node.
func TestBrokerRestart(t *testing.T) {
	const topic = "state.restart-broker"
	a, b := openBoltTable(t, dataPath(t, "a")), openBoltTable(t, dataPath(t, "b"))
	na := startNode(t, topic, map[string]Table{"t": a})
	nb := startNode(t, topic, map[string]Table{"t": b})
	ctx := ctxFor(t)
	if err := na.log.Write(ctx, "t", Entry{Key: "before", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := testBroker.Stop(); err != nil {
		t.Fatal(err)
	}
	// Long enough for both readers to hit the closed port at least once.
	time.Sleep(2 * time.Second)
	if got, _ := a.get(t, "before"); got != "1" {
		t.Errorf("A's copy while the broker is down: before=%q", got)
	}
	if err := testBroker.Start(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := na.log.Write(wctx, "t", Entry{Key: "after", Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := nb.log.Sync(wctx); err != nil {
		t.Fatal(err)
	}
	if got, want := b.dump(t), "after=2;before=1;"; got != want {
		t.Errorf("B after the broker came back: %q, want %q", got, want)
	}
	select {
	case <-nb.log.done:
		t.Errorf("B's applier stopped: %v", nb.log.Wait())
	default:
	}
}

// Sync called after a write returned sees that write, also when other Sync
// calls keep probes in flight all the time: a caller must not ride on a
// probe that read the end before the write.
func TestSyncSeesWritesBeforeTheCall(t *testing.T) {
	const topic = "state.sync"
	a, b := openBoltTable(t, dataPath(t, "a")), openBoltTable(t, dataPath(t, "b"))
	na := startNode(t, topic, map[string]Table{"t": a})
	nb := startNode(t, topic, map[string]Table{"t": b})
	ctx := ctxFor(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 { // background callers: there is nearly always a probe in flight
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = nb.log.Sync(ctx)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for i := range 30 {
		k := fmt.Sprint("k", i)
		if err := na.log.Write(ctx, "t", Entry{Key: k, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if err := nb.log.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.get(t, k); !ok {
			t.Fatalf("%s written on A before B's Sync is not on B after it", k)
		}
	}
}

// An entry larger than the topic takes is refused to its writer, and left
// behind by a merge, which goes on with the rest instead of stopping the
// node.
func TestOversizedEntry(t *testing.T) {
	const topic = "state.oversized"
	big := make([]byte, 2<<20)
	if _, err := rand.Read(big); err != nil { // incompressible
		t.Fatal(err)
	}
	a := openBoltTable(t, dataPath(t, "a"))
	a.put(t, "big", string(big))
	a.put(t, "small", "fits")
	na := startNode(t, topic, map[string]Table{"t": a})
	ctx := ctxFor(t)
	if err := na.log.Write(ctx, "t", Entry{Key: "big2", Value: big}); !errors.Is(err, kafka.MessageSizeTooLarge) {
		t.Errorf("writing 2 MiB: %v, want MessageSizeTooLarge", err)
	}
	b := openBoltTable(t, dataPath(t, "b"))
	nb := startNode(t, topic, map[string]Table{"t": b})
	if err := nb.log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.dump(t); got != "small=fits;" {
		t.Errorf("joining node after the merge: %q, want only the small entry", got)
	}
}

// TestStateMessagesCarryHeaders reads the topic as another team's client
// would: every state message names its schema, version, encoding and the
// node that wrote it (docs/topics.md).
func TestStateMessagesCarryHeaders(t *testing.T) {
	const topic = "state.headers"
	n := startNode(t, topic, map[string]Table{"venues": openBoltTable(t, dataPath(t, "a"))})
	ctx := ctxFor(t)
	if err := n.log.Write(ctx, "venues", Entry{Key: "C01", Value: []byte(`{"code":"C01"}`)}); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{brokerAddr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var m kafka.Message
	for {
		var err error
		if m, err = r.ReadMessage(ctx); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) == "venues/C01" {
			break
		}
	}
	got := map[string]string{}
	for _, h := range m.Headers {
		got[h.Key] = string(h.Value)
	}
	want := map[string]string{"netpulse-schema": "netpulse.state", "netpulse-schema-version": "1",
		"content-type": "application/json", "netpulse-node": "node-" + topic}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
