package faults

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestKill9DuringIntake kills serve with SIGKILL while venues send records
// (and a partner pushes posts), restarts it on the same data folder, and
// checks that every acknowledged record is stored exactly once and every
// acknowledged post is in the store and in the index.
func TestKill9DuringIntake(t *testing.T) {
	data := t.TempDir()
	venues := registerVenues(t, data, "K9-", 4)
	analyst := addUser(t, data, "k9-analyst", "analyst")
	admin := addUser(t, data, "k9-admin", "admin")
	s := startServer(t, data, "--batch-delay", "50ms")

	rounds := 2
	if long() {
		rounds = 6
	}
	ack, posts := newAcked(), newAcked()
	st := &intakeStats{}
	var seq, pseq atomic.Int64
	for round := 1; round <= rounds; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() { feedRecords(ctx, s, venues, 40, ack, st, &seq); done <- struct{}{} }()
		go func() { feedPosts(ctx, s, admin, 20, posts, &pseq); done <- struct{}{} }()
		time.Sleep(3 * time.Second)
		s.kill9()
		// Clients keep retrying while the server is down and after it is back.
		time.Sleep(300 * time.Millisecond)
		s.start()
		time.Sleep(2 * time.Second)
		cancel()
		<-done
		<-done
		t.Logf("round %d: %d records and %d posts acknowledged so far; %s", round, ack.len(), posts.len(), st)
	}
	if ack.len() == 0 || posts.len() == 0 {
		t.Fatalf("nothing was acknowledged (%s); the test proves nothing", st)
	}
	// One more restart without a kill: the state must survive a clean stop too.
	s.restart()
	n := checkAllStored(t, s, analyst, venues, ack)
	indexed := checkPostsIndexed(t, s, analyst, posts)
	s.stop()
	inStore := countPostsInStore(t, data, posts)
	t.Logf("records: %d acknowledged, %d stored; posts: %d acknowledged, %d indexed, %d in the store",
		ack.len(), n, posts.len(), indexed, inStore)
	if inStore != indexed {
		t.Errorf("post index holds %d posts of the test source, the store %d", indexed, inStore)
	}
}
