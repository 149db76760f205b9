package faults

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
)

// answerLog keeps every intake answer with the time its request was sent,
// so that a phase can be judged by the requests sent inside it.
type answerLog struct {
	mu  sync.Mutex
	all []answer
}

type answer struct {
	sent, done time.Time
	code       int
	retryAfter bool
	err        error
}

func (l *answerLog) note(sent time.Time, code int, h http.Header, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, answer{sent: sent, done: time.Now(), code: code, retryAfter: h != nil && h.Get("Retry-After") != "", err: err})
}

// between summarises the answers to requests sent in [from, to).
type phaseStats struct {
	codes    map[int]int
	netErrs  int
	noRetry  int
	slowest  time.Duration
	firstOK  time.Time
	requests int
	slow     []string
}

func (l *answerLog) between(from, to time.Time) phaseStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := phaseStats{codes: map[int]int{}}
	for _, a := range l.all {
		if a.sent.Before(from) || !a.sent.Before(to) {
			continue
		}
		st.requests++
		if a.err != nil {
			st.netErrs++
			continue
		}
		st.codes[a.code]++
		if a.code == 503 && !a.retryAfter {
			st.noRetry++
		}
		if a.code == 200 && (st.firstOK.IsZero() || a.done.Before(st.firstOK)) {
			st.firstOK = a.done
		}
		st.slowest = max(st.slowest, a.done.Sub(a.sent))
		if a.done.Sub(a.sent) > 6*time.Second {
			st.slow = append(st.slow, fmt.Sprintf("%d after %v", a.code, a.done.Sub(a.sent).Round(100*time.Millisecond)))
		}
	}
	return st
}

func (s phaseStats) String() string {
	codes := make([]string, 0, len(s.codes))
	for _, c := range slices.Sorted(func(yield func(int) bool) {
		for c := range s.codes {
			if !yield(c) {
				return
			}
		}
	}) {
		codes = append(codes, fmt.Sprintf("%d×%d", s.codes[c], c))
	}
	return fmt.Sprintf("%d requests: %s, %d network errors, slowest answer %v %v", s.requests, strings.Join(codes, " "),
		s.netErrs, s.slowest.Round(10*time.Millisecond), s.slow)
}

// TestKafkaClusterFailover runs serve on a three-node KRaft cluster (topics
// at the spec's replication 3 and min.insync.replicas 2, brokers at Kafka's
// defaults) under continuous record and post intake, and:
//
//  1. kills -9 the broker leading most raw.access partitions;
//  2. restarts it, then stops two of the three brokers: every intake
//     request sent while only one broker is up must be answered 503 with
//     Retry-After (never 200) within the publish timeout and a margin;
//  3. restarts them: the consumers' lag must be back to zero within 10 s
//     of every partition having a leader again;
//
// and in the end every acknowledged record is stored exactly once and every
// acknowledged post is indexed. NETPULSE_LONG=1 holds each fault longer.
func TestKafkaClusterFailover(t *testing.T) {
	testStart := time.Now()
	cl := kafkatest.ClusterForTest(t, 3)
	t.Logf("cluster up in %v", time.Since(testStart).Round(100*time.Millisecond))
	hold := 4 * time.Second
	if long() {
		hold = 30 * time.Second
	}
	idle := 10 * time.Second
	if long() {
		idle = 2 * time.Minute
	}
	const publishTimeout = 3 * time.Second
	data := t.TempDir()
	venues := registerVenues(t, data, "KC-", 3)
	analyst := addUser(t, data, "kc-analyst", "analyst")
	admin := addUser(t, data, "kc-admin", "admin")
	s := startServer(t, data, "--kafka", strings.Join(cl.Brokers(), ","), "--kafka-partitions", "3",
		"--batch-delay", "50ms", "--publish-timeout", publishTimeout.String(),
		"--cluster-token", "faults-cluster-token-0123456789")
	t.Logf("serve up at %v", time.Since(testStart).Round(100*time.Millisecond))

	probe, err := kafkabus.Open(kafkabus.Options{Brokers: cl.Brokers()})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	client := &kafka.Client{Addr: kafka.TCP(cl.Brokers()...), Timeout: 2 * time.Second}

	ack, posts := newAcked(), newAcked()
	st := &intakeStats{}
	log := &answerLog{}
	st.onAnswer = log.note
	var seq, pseq atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { feedRecords(ctx, s, venues, 20, ack, st, &seq); done <- struct{}{} }()
	go func() { feedPosts(ctx, s, admin, 10, posts, &pseq); done <- struct{}{} }()
	stopFeeds := sync.OnceFunc(func() { cancel(); <-done; <-done })
	defer stopFeeds()

	type row struct {
		fault    string
		from     time.Time
		recovery string
	}
	var table []row
	phase := func(name string, from time.Time, recovery string) {
		table = append(table, row{name, from, recovery})
		t.Logf("%s: %s; %d records acknowledged so far", name, log.between(from, time.Now()), ack.len())
	}

	time.Sleep(3 * time.Second)
	phase("steady", testStart, "—")

	// 1. kill -9 the leader of most raw.access partitions.
	leader := leaderOf(t, client, bus.TopicAccess)
	t.Logf("killing node %d, leader of most %s partitions", leader, bus.TopicAccess)
	killAt := time.Now()
	if err := cl.NodeByID(leader).Kill(); err != nil {
		t.Fatal(err)
	}
	moved := waitLeaders(t, client, leader, bus.TopicAccess, bus.TopicPosts)
	time.Sleep(hold)
	firstOK := log.between(killAt, time.Now()).firstOK
	phase("kill -9 records leader", killAt, fmt.Sprintf("leaders moved after %v; first 200 after %v",
		moved.Sub(killAt).Round(100*time.Millisecond), since(killAt, firstOK)))

	restartAt := time.Now()
	if err := cl.NodeByID(leader).Start(); err != nil {
		t.Fatal(err)
	}
	waitCtx, waitCancel := context.WithTimeout(context.Background(), time.Minute)
	if err := cl.WaitBrokers(waitCtx, 3); err != nil {
		t.Fatal(err)
	}
	waitCancel()
	waitISRFull(t, client, bus.TopicAccess, bus.TopicPosts)
	phase("killed node back", restartAt, fmt.Sprintf("ISR full after %v", time.Since(restartAt).Round(100*time.Millisecond)))

	// 2. two of three brokers down.
	var down []*kafkatest.Node
	for _, n := range cl.Nodes {
		if len(down) < 2 {
			down = append(down, n)
		}
	}
	stoppingAt := time.Now()
	for _, n := range down {
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	phase("stopping two brokers", stoppingAt, fmt.Sprintf("stops took %v", time.Since(stoppingAt).Round(100*time.Millisecond)))
	twoDownAt := time.Now()
	time.Sleep(2 * hold)
	twoDownEnd := time.Now()
	// Answers are logged when they arrive: on a loaded machine the
	// requests sent in the window may still be waiting out their publish
	// timeout. Keep the brokers down until some have been answered.
	two := log.between(twoDownAt, twoDownEnd)
	for give := time.Now().Add(30 * time.Second); two.requests == 0 && time.Now().Before(give); two = log.between(twoDownAt, twoDownEnd) {
		time.Sleep(500 * time.Millisecond)
	}
	if two.codes[200] > 0 {
		t.Errorf("%d intake requests answered 200 with two of three brokers down (min.insync.replicas 2)", two.codes[200])
	}
	if two.noRetry > 0 {
		t.Errorf("%d answers 503 without Retry-After with two brokers down", two.noRetry)
	}
	if limit := publishTimeout + 6*time.Second; two.slowest > limit {
		t.Errorf("slowest intake answer with two brokers down took %v; publish-timeout is %v", two.slowest, publishTimeout)
	}
	if two.codes[503] == 0 {
		t.Errorf("no 503 answers with two brokers down: %s", two)
	}
	phase("two of three brokers stopped", twoDownAt, "—")

	// 3. both back: the lag must reach zero within 10 s of the leaders.
	backAt := time.Now()
	for _, n := range down {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	// With the controller quorum lost, the last broker's metadata is
	// stale: wait for the brokers to register, then for partitions that
	// have a leader and enough in-sync replicas to take writes.
	waitCtx, waitCancel = context.WithTimeout(context.Background(), 2*time.Minute)
	if err := cl.WaitBrokers(waitCtx, 3); err != nil {
		t.Fatal(err)
	}
	waitCancel()
	waitLeaders(t, client, -1, bus.TopicAccess, bus.TopicPosts)
	leadersAt := waitISR(t, client, 2, bus.TopicAccess, bus.TopicPosts)
	// Feed on until intake takes records again (clients wait out their
	// Retry-After), then stop and let the consumers drain.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if !log.between(backAt, time.Now()).firstOK.IsZero() {
			break
		}
	}
	stopFeeds()
	// While clients still send, the lag cannot be zero; the clock starts
	// at the later of the leaders' return and the end of the stream.
	stoppedAt := time.Now()
	from := leadersAt
	if stoppedAt.After(from) {
		from = stoppedAt
	}
	groups := [][2]string{{"records", bus.TopicAccess}, {"posts", bus.TopicPosts}, {"alerts.terms", bus.TopicPosts}}
	zeroAt := waitLagZero(t, probe, groups, from.Add(60*time.Second))
	if zeroAt.Sub(from) > 10*time.Second {
		t.Errorf("lag back to zero %v after the leaders returned and the stream stopped; want within 10s", zeroAt.Sub(from).Round(100*time.Millisecond))
	}
	firstOK = log.between(backAt, time.Now()).firstOK
	phase("two brokers back", backAt, fmt.Sprintf("leaders (ISR ≥ 2) after %v; first 200 %v after the leaders; lag zero %v after the leaders (%v after the stream stopped)",
		leadersAt.Sub(backAt).Round(100*time.Millisecond), since(leadersAt, firstOK), zeroAt.Sub(leadersAt).Round(100*time.Millisecond),
		zeroAt.Sub(stoppedAt).Round(100*time.Millisecond)))

	st.mu.Lock()
	for code, n := range st.codes {
		if code >= 500 && code != 503 {
			t.Errorf("%d answers %d (want 200, or 503 with Retry-After)", n, code)
		}
	}
	st.mu.Unlock()
	if ack.len() == 0 || posts.len() == 0 {
		t.Fatalf("nothing acknowledged: %s", st)
	}
	n := checkAllStored(t, s, analyst, venues, ack)
	idx := checkPostsIndexed(t, s, analyst, posts)
	t.Logf("records: %d acknowledged, %d stored; posts: %d acknowledged, %d indexed", ack.len(), n, posts.len(), idx)
	// A quiet, healthy node logs nothing at WARN: idle for a while after
	// the recovery (kafka-go's idle fetches used to log i/o timeouts).
	before := len(warnLines(s.logText()))
	time.Sleep(idle)
	if quiet := warnLines(s.logText())[before:]; len(quiet) > 0 {
		t.Errorf("an idle node logged %d WARN/ERROR lines in %v:\n%s", len(quiet), idle, strings.Join(quiet[:min(len(quiet), 10)], "\n"))
	}
	if warns := warnLines(s.logText()); len(warns) > 0 {
		t.Logf("serve logged %d WARN/ERROR lines during the faults, e.g.:\n%s", len(warns), strings.Join(warns[:min(len(warns), 15)], "\n"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| fault | what intake clients saw | recovery |\n|---|---|---|\n")
	for i, r := range table {
		to := time.Now()
		if i+1 < len(table) {
			to = table[i+1].from
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.fault, log.between(r.from, to), r.recovery)
	}
	fmt.Fprintf(&b, "acknowledged records %d, stored %d (each once: checked); acknowledged posts %d, indexed %d; test took %v",
		ack.len(), n, posts.len(), idx, time.Since(testStart).Round(time.Second))
	t.Log(b.String())
}

func since(from, to time.Time) string {
	if to.IsZero() {
		return "never"
	}
	return to.Sub(from).Round(100 * time.Millisecond).String()
}

func warnLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, "serve: "+tail(l, 400))
		}
	}
	return out
}

// leaderOf returns the node leading most partitions of topic. A metadata
// answer may come without the topic's partitions or leaders for a moment
// (CI once got none and killed "node -1"), so it asks again for a while.
func leaderOf(t *testing.T, c *kafka.Client, topic string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topic}})
		best := -1
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil {
			count := map[int]int{}
			for _, p := range md.Topics[0].Partitions {
				if p.Error != nil || p.Leader.ID < 0 {
					continue
				}
				count[p.Leader.ID]++
				if best < 0 || count[p.Leader.ID] > count[best] {
					best = p.Leader.ID
				}
			}
		}
		if best >= 0 {
			return best
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata of %s named no leader within 30 s (last error %v)", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitLeaders waits until every partition of topics has a live leader other
// than not, and returns when that was first seen.
func waitLeaders(t *testing.T, c *kafka.Client, not int, topics ...string) time.Time {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		cancel()
		if err == nil && allLed(md, not, len(topics)) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions of %v without a leader for 90s (last error %v)", topics, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allLed(md *kafka.MetadataResponse, not, topics int) bool {
	if len(md.Topics) != topics {
		return false
	}
	for _, tm := range md.Topics {
		if tm.Error != nil || len(tm.Partitions) == 0 {
			return false
		}
		for _, p := range tm.Partitions {
			if p.Error != nil || p.Leader.ID < 0 || p.Leader.ID == not || p.Leader.Host == "" {
				return false
			}
		}
	}
	return true
}

// waitISRFull waits until every partition of topics has all its replicas in
// sync.
func waitISRFull(t *testing.T, c *kafka.Client, topics ...string) { waitISR(t, c, 3, topics...) }

// waitISR waits until every partition of topics has at least n in-sync
// replicas and returns when that was seen.
func waitISR(t *testing.T, c *kafka.Client, n int, topics ...string) time.Time {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: topics})
		full := err == nil && len(md.Topics) == len(topics)
		if full {
			for _, tm := range md.Topics {
				for _, p := range tm.Partitions {
					full = full && len(p.Isr) >= n
				}
			}
		}
		if full {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISR of %v not back to %d within 90s", topics, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitLagZero polls the groups' lag until all are zero and returns when.
func waitLagZero(t *testing.T, b *kafkabus.Bus, groups [][2]string, deadline time.Time) time.Time {
	t.Helper()
	for {
		var lags []string
		zero := true
		for _, g := range groups {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			n, err := b.Lag(ctx, g[0], g[1])
			cancel()
			if err != nil || n > 0 {
				zero = false
			}
			lags = append(lags, fmt.Sprintf("%s=%d(%v)", g[0], n, err))
		}
		if zero {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Errorf("lag not zero by the deadline: %v", lags)
			return time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}
