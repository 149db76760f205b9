package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
)

// startKafka starts a real single-node broker (package kafkatest) for one
// test; it stops at the test's cleanup. Missing jars fail the test loudly:
// CI installs them first.
func startKafka(t *testing.T) kafkatest.Broker {
	t.Helper()
	b, err := kafkatest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Error(err)
		}
	})
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
	s := startServer(t, data, "--kafka", b.Addr(), "--kafka-partitions", "3", "--kafka-replication", "1", "--batch-delay", "50ms",
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
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	step("broker down", 3*time.Second)
	if !s.alive() {
		t.Fatalf("serve died when the broker stopped:\n%s", tail(s.logText(), 3000))
	}
	// Readiness follows the broker, liveness does not: a liveness probe
	// that failed here would restart the nodes that should be answering
	// 503 with Retry-After.
	waitProbe(t, s, "/-/ready", http.StatusServiceUnavailable, 10*time.Second)
	waitProbe(t, s, "/-/healthy", http.StatusOK, 0)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	step("broker back", 6*time.Second)
	waitProbe(t, s, "/-/ready", http.StatusOK, 30*time.Second)
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
