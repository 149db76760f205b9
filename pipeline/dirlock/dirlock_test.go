package dirlock

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestSecondHolderRefused locks a folder, then tries again from this
// process (a second descriptor: flock locks per open file) and from a
// child process; both must be refused with ErrLocked naming our pid, and
// the lock must be free again after Release.
func TestSecondHolderRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: want ErrLocked, got %v", err)
	}
	if !strings.Contains(err.Error(), "pid "+itoa(os.Getpid())) {
		t.Errorf("message does not name the holder: %v", err)
	}
	// Another process: flock(1) exits 1 when the lock is taken.
	if path, lerr := exec.LookPath("flock"); lerr == nil {
		if out, err := exec.Command(path, "-n", dir+"/"+FileName, "true").CombinedOutput(); err == nil {
			t.Errorf("another process took the lock: %s", out)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

func itoa(n int) string { return strconv.Itoa(n) }
