// Package dirlock takes an exclusive, advisory lock on a folder, so that
// two processes never write one folder's files at once. The lock is a
// flock(2) on a file in the folder: the kernel drops it when the process
// ends, however it ends, so a crash leaves nothing to clean up.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FileName is the lock file inside the locked folder. It holds the pid of
// the holder, for the message a second process prints.
const FileName = "netpulse.lock"

// ErrLocked marks a folder another process holds.
var ErrLocked = errors.New("folder in use by another process")

// Lock is a held folder lock.
type Lock struct{ f *os.File }

// Acquire locks dir (creating it when missing) without waiting. When
// another process holds it, the error wraps ErrLocked and names that
// process's pid.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if _, perr := strconv.Atoi(holder); perr != nil {
				holder = "unknown"
			}
			return nil, fmt.Errorf("%s: %w (pid %s holds %s); stop it or use another folder", dir, ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. The file stays: removing it would let a third
// process lock a new file while a second still waits on the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
