package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// kafkaBroker is a real single-node Kafka run by deploy/dev/kafka.sh.
type kafkaBroker struct {
	dir  string
	port int
}

func (b kafkaBroker) run(t *testing.T, cmd string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(moduleRoot(), "deploy", "dev", "kafka.sh"), cmd, b.dir, strconv.Itoa(b.port)).CombinedOutput()
	if err != nil {
		t.Fatalf("kafka.sh %s: %v\n%s", cmd, err, out)
	}
}

func (b kafkaBroker) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

// startKafka starts a broker for one test. Missing jars fail the test
// loudly, as in pipeline/bus/kafkabus: CI installs them first.
func startKafka(t *testing.T) kafkaBroker {
	t.Helper()
	cache := os.Getenv("NETPULSE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "netpulse")
	}
	if _, err := os.Stat(filepath.Join(cache, "kafka-4.1.1", "libs", ".complete")); err != nil {
		t.Fatalf("Kafka 4.1.1 jars not found under %s; install them with deploy/dev/install-deps.sh kafka", cache)
	}
	// The broker takes PORT and its controller PORT+1; pick both below the
	// ephemeral range so that no outgoing connection takes PORT+1 meanwhile.
	var port int
	for range 200 {
		p := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			port = p
			break
		}
	}
	if port == 0 {
		t.Fatal("no free port pair for the broker")
	}
	b := kafkaBroker{dir: t.TempDir(), port: port}
	b.run(t, "start")
	t.Cleanup(func() { b.run(t, "stop") })
	return b
}

// TestKafkaBrokerRestartAndPipelineKill runs serve on Kafka (store on its
// own chDB) while venues send records and a partner pushes posts; it
// restarts the broker mid-stream, then kills serve (the pipeline process)
// with SIGKILL and restarts it. Every acknowledged record must be stored
// once and the post index must hold every acknowledged post.
func TestKafkaBrokerRestartAndPipelineKill(t *testing.T) {
	b := startKafka(t)
	data := t.TempDir()
	venues := registerVenues(t, data, "KF-", 3)
	analyst := addUser(t, data, "kf-analyst", "analyst")
	admin := addUser(t, data, "kf-admin", "admin")
	s := startServer(t, data, "--kafka", b.addr(), "--kafka-partitions", "3", "--batch-delay", "50ms",
		"--cluster-token", "faults-cluster-token-0123456789")

	ack, posts := newAcked(), newAcked()
	st := &intakeStats{}
	var seq, pseq atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { feedRecords(ctx, s, venues, 20, ack, st, &seq); done <- struct{}{} }()
	go func() { feedPosts(ctx, s, admin, 10, posts, &pseq); done <- struct{}{} }()
	step := func(name string, d time.Duration) {
		time.Sleep(d)
		t.Logf("%s: %d records and %d posts acknowledged; %s", name, ack.len(), posts.len(), st)
	}
	step("steady", 3*time.Second)
	b.run(t, "stop")
	step("broker down", 3*time.Second)
	if !s.alive() {
		t.Fatalf("serve died when the broker stopped:\n%s", tail(s.logText(), 3000))
	}
	b.run(t, "start")
	step("broker back", 6*time.Second)
	s.kill9()
	step("serve killed", time.Second)
	s.start()
	step("serve back", 4*time.Second)
	cancel()
	<-done
	<-done
	st.mu.Lock()
	for code, n := range st.codes {
		if code >= 500 && code != 503 {
			t.Errorf("%d answers %d (want 200, or 503 with Retry-After while the broker is away)", n, code)
		}
	}
	if st.noRetryHdr > 0 {
		t.Errorf("%d 503 answers without Retry-After", st.noRetryHdr)
	}
	st.mu.Unlock()
	if ack.len() == 0 || posts.len() == 0 {
		t.Fatalf("nothing acknowledged: %s", st)
	}
	n := checkAllStored(t, s, analyst, venues, ack)
	idx := checkPostsIndexed(t, s, analyst, posts)
	t.Logf("records: %d acknowledged, %d stored; posts: %d acknowledged, %d indexed; %s", ack.len(), n, posts.len(), idx, fmt.Sprint(st))
}
