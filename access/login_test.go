package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestParallelGuessesAreCountedFirst: 40 wrong passwords for one name sent
// at once get exactly maxFailures password checks; the rest are refused as
// locked out before any check. A name that does not exist locks the same
// way, and the right password is refused while locked.
func TestParallelGuessesAreCountedFirst(t *testing.T) {
	ctx := context.Background()
	reg, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	reg.LimitLoginChecks(4)
	if _, err := reg.AddUser(ctx, UserSpec{Name: "qian", Role: RoleDuty, Password: "right-pass-1"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"qian", "nobody-here"} {
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := reg.Login(ctx, name, fmt.Sprintf("wrong-%d", i))
				k := "other:" + fmt.Sprint(err)
				switch {
				case errors.Is(err, ErrUnauthenticated):
					k = "checked"
				case errors.Is(err, ErrLockedOut):
					k = "locked"
				case errors.Is(err, ErrLoginBusy):
					k = "busy"
				}
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if counts["checked"] != maxFailures || counts["locked"]+counts["busy"] != 40-maxFailures {
			t.Errorf("%s: 40 parallel guesses gave %v, want %d checked and the rest locked", name, counts, maxFailures)
		}
	}
	if _, _, err := reg.Login(ctx, "qian", "right-pass-1"); !errors.Is(err, ErrLockedOut) {
		t.Errorf("right password while locked: %v", err)
	}
}

// TestPasswordChecksAreBounded: many logins for distinct names at once
// wait for the bounded check slots; those that cannot get one in time are
// refused as busy (the memory this bounds is measured in deploy/faults).
func TestPasswordChecksAreBounded(t *testing.T) {
	ctx := context.Background()
	reg, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	reg.LimitLoginChecks(1)
	var wg sync.WaitGroup
	var busy sync.Map
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := reg.Login(ctx, fmt.Sprintf("ghost-%d", i), "x"); errors.Is(err, ErrLoginBusy) {
				busy.Store(i, true)
			}
		}()
	}
	wg.Wait()
	n := 0
	busy.Range(func(any, any) bool { n++; return true })
	if n == 0 {
		t.Errorf("100 logins at once with one check slot: none refused as busy")
	}
	t.Logf("100 parallel logins, 1 slot: %d refused busy", n)
}

// TestLoginNamesNoAccountCanHaveAreNotTracked: the failure table keys on
// names, so a spray of huge or malformed names must not fill it (each
// would hold its megabytes until the window ends); they are refused as
// unknown, without a password check. A name of valid form is counted.
func TestLoginNamesNoAccountCanHaveAreNotTracked(t *testing.T) {
	ctx := context.Background()
	reg, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{
		strings.Repeat("a", 1<<20), strings.Repeat("名", 65), "a b", "a\x00", "admin\n", "", "<script>", "a/b",
		fmt.Sprintf("%065d", 7),
	} {
		if _, _, err := reg.Login(ctx, name, "x"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("name %d: %v, want unauthenticated", i, err)
		}
	}
	reg.mu.Lock()
	tracked := len(reg.failed())
	reg.mu.Unlock()
	if tracked != 0 {
		t.Errorf("%d impossible names tracked, want 0", tracked)
	}
	if _, _, err := reg.Login(ctx, "nobody-here", "x"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	reg.mu.Lock()
	tracked = len(reg.failed())
	reg.mu.Unlock()
	if tracked != 1 {
		t.Errorf("a name of valid form: %d tracked, want 1", tracked)
	}
}
