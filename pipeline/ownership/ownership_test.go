package ownership

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var broker string

// TestMain runs a real Kafka broker (deploy/dev/kafka.sh): the group
// protocol is the thing under test.
func TestMain(m *testing.M) { os.Exit(runBroker(m)) }

func runBroker(m *testing.M) int {
	script, _ := filepath.Abs("../../deploy/dev/kafka.sh")
	dir, err := os.MkdirTemp("", "ownership-kafka-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	var port int
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l.Close()
		if err == nil {
			l2.Close()
			port = p
			break
		}
	}
	run := func(cmd string) error {
		out, err := exec.Command(script, cmd, dir, strconv.Itoa(port)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kafka.sh %s: %w\n%s", cmd, err, out)
		}
		return nil
	}
	if err := run("start"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer run("stop")
	broker = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return m.Run()
}

// member runs one membership and exposes what it owns now.
type member struct {
	mu     sync.Mutex
	owned  []int
	cancel context.CancelFunc
	done   chan error
}

func (m *member) now() []int { m.mu.Lock(); defer m.mu.Unlock(); return slices.Clone(m.owned) }

func join(t *testing.T, group, topic string, parts int, advertise string) *member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{cancel: cancel, done: make(chan error, 1)}
	opts := Options{Brokers: []string{broker}, Group: group, Topic: topic, Partitions: parts, Advertise: advertise,
		SessionTimeout: 6 * time.Second}
	go func() {
		m.done <- Run(ctx, opts, func(ctx context.Context, gen Generation) error {
			m.mu.Lock()
			m.owned = gen.Owned
			m.mu.Unlock()
			<-ctx.Done()
			m.mu.Lock()
			m.owned = nil
			m.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { m.leave(t) })
	return m
}

func (m *member) leave(t *testing.T) {
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		m.done <- nil
	case <-time.After(30 * time.Second):
		t.Error("member did not stop in 30s")
	}
}

// eventually polls cond for up to 45 s (group formation takes a few).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not after 45s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// split reports whether members own every partition exactly once, each
// owning at least one.
func split(ms []*member, parts int) bool {
	var all []int
	for _, m := range ms {
		o := m.now()
		if len(o) == 0 {
			return false
		}
		all = append(all, o...)
	}
	slices.Sort(all)
	return len(all) == parts && slices.Equal(all, seq(parts))
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestPartitionsSplitAndMoveOnLeave(t *testing.T) {
	const parts = 6
	ms := []*member{
		join(t, "t-split", "t.split", parts, "http://a"),
		join(t, "t-split", "t.split", parts, "http://b"),
		join(t, "t-split", "t.split", parts, "http://c"),
	}
	eventually(t, "three members split six partitions", func() bool { return split(ms, parts) })

	listed, err := Members(context.Background(), []string{broker}, "t-split")
	if err != nil {
		t.Fatal(err)
	}
	var ads []string
	for _, m := range listed {
		ads = append(ads, m.Advertise)
	}
	slices.Sort(ads)
	if !slices.Equal(ads, []string{"http://a", "http://b", "http://c"}) {
		t.Fatalf("members advertise %v", ads)
	}

	ms[2].leave(t)
	eventually(t, "two members take over the third's partitions", func() bool { return split(ms[:2], parts) })
}

func TestOwnsFollowsPartitionFor(t *testing.T) {
	cases := []struct {
		owned []int
		n     int
	}{{[]int{0, 1}, 6}, {[]int{2, 3}, 6}, {[]int{4, 5}, 6}}
	counts := map[string]int{}
	for i := range 200 {
		src := fmt.Sprintf("source-%d", i)
		for _, tc := range cases {
			if Owns(tc.owned, tc.n, src) {
				counts[src]++
			}
		}
	}
	for i := range 200 {
		if c := counts[fmt.Sprintf("source-%d", i)]; c != 1 {
			t.Fatalf("source-%d owned by %d of three disjoint owners", i, c)
		}
	}
}

func TestLeadOneAtATime(t *testing.T) {
	var mu sync.Mutex
	leading, maxLeading := 0, 0
	start := func() (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Lead(ctx, Options{Brokers: []string{broker}, Group: "t-lead", SessionTimeout: 6 * time.Second},
				func(ctx context.Context) error {
					mu.Lock()
					leading++
					maxLeading = max(maxLeading, leading)
					mu.Unlock()
					<-ctx.Done()
					mu.Lock()
					leading--
					mu.Unlock()
					return nil
				})
		}()
		return cancel, done
	}
	state := func() int { mu.Lock(); defer mu.Unlock(); return leading }
	c1, d1 := start()
	c2, d2 := start()
	defer func() { c2(); <-d2 }()
	eventually(t, "one leader", func() bool { return state() == 1 })
	time.Sleep(2 * time.Second) // both members in the group by now
	c1()
	if err := <-d1; err != nil {
		t.Fatal(err)
	}
	// Whichever node led, a leader must be in place after the first
	// leaves (the second takes over, or keeps it).
	eventually(t, "a leader after the first node left", func() bool { return state() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if maxLeading != 1 {
		t.Fatalf("%d leaders at once", maxLeading)
	}
}
