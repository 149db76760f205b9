package faults

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a small tmpfs at dir, or skips the test when this
// machine does not let the test mount (not root). The alternative without
// root is a loop device prepared by an administrator, given as
// NETPULSE_SMALL_FS_DIR; nothing else can make a real ENOSPC.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// fill writes a ballast file into dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// Small writes find the last free blocks too.
	for _, err := f.Write(chunk[:512]); err == nil; _, err = f.Write(chunk[:512]) {
	}
	return path
}

// TestDiskFullUnderJournalAndIndex fills the file systems under the journal
// and the post index while venues and a partner keep sending. Intake must
// answer 503 with Retry-After (not 500, not a dropped connection), serve must
// stay up, and once space returns everything acknowledged must be stored
// and indexed.
func TestDiskFullUnderJournalAndIndex(t *testing.T) {
	data := t.TempDir()
	venues := registerVenues(t, data, "DF-", 3)
	analyst := addUser(t, data, "df-analyst", "analyst")
	admin := addUser(t, data, "df-admin", "admin")
	journalDir, indexDir := filepath.Join(data, "journal"), filepath.Join(data, "search")
	mountTmpfs(t, journalDir, "32m")
	mountTmpfs(t, indexDir, "32m")
	s := startServer(t, data, "--batch-delay", "50ms")

	ack, posts := newAcked(), newAcked()
	var seq, pseq atomic.Int64
	phase := func(name string, d time.Duration) *intakeStats {
		st := &intakeStats{}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		done := make(chan struct{})
		go func() { feedPosts(ctx, s, admin, 10, posts, &pseq); close(done) }()
		feedRecords(ctx, s, venues, 20, ack, st, &seq)
		<-done
		t.Logf("%s: %s; %d records and %d posts acknowledged so far", name, st, ack.len(), posts.len())
		return st
	}
	phase("space", 2*time.Second)
	ballast := []string{fill(t, journalDir), fill(t, indexDir)}
	full := phase("disk full", 4*time.Second)
	if !s.alive() {
		t.Fatalf("serve died on a full disk:\n%s", tail(s.logText(), 3000))
	}
	full.mu.Lock()
	if full.codes[503] == 0 {
		t.Errorf("no 503 while the journal's disk was full: %v", full.codes)
	}
	for code, n := range full.codes {
		if code >= 500 && code != 503 {
			t.Errorf("%d answers %d on a full disk (want 503 with Retry-After)", n, code)
		}
	}
	if full.noRetryHdr > 0 {
		t.Errorf("%d 503 answers without Retry-After", full.noRetryHdr)
	}
	if full.netErrs > 0 {
		t.Errorf("%d requests failed at the connection level", full.netErrs)
	}
	full.mu.Unlock()

	for _, b := range ballast {
		if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
	}
	before := ack.len()
	phase("space again", 4*time.Second)
	if ack.len() == before {
		t.Errorf("intake did not recover when space returned:\n%s", tail(s.logText(), 2000))
	}
	n := checkAllStored(t, s, analyst, venues, ack)
	idx := checkPostsIndexed(t, s, analyst, posts)
	t.Logf("records: %d acknowledged, %d stored; posts: %d acknowledged, %d indexed", ack.len(), n, posts.len(), idx)
	if t.Failed() {
		var errs []string
		for _, l := range strings.Split(s.logText(), "\n") {
			if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "panic") {
				errs = append(errs, l)
			}
		}
		t.Logf("%d error lines; last ones:\n%s", len(errs), tail(strings.Join(errs, "\n"), 4000))
	}
}
