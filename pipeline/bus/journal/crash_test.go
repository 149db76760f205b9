package journal

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// The crash test re-runs this test binary as a child that publishes and
// consumes until it is killed with SIGKILL. These variables switch the child
// mode on (see TestMain).
const (
	crashDirEnv   = "NETPULSE_JOURNAL_CRASH_DIR"
	crashRoundEnv = "NETPULSE_JOURNAL_CRASH_ROUND"
	crashTopic    = "crash"
	crashGroup    = "crash-consumer"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		if err := crashChild(dir, os.Getenv(crashRoundEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild publishes numbered messages from several goroutines and
// consumes and commits them, printing "ack ID" after each acknowledged
// publish and "commit PARTITION NEXT" after each commit. Each line is printed
// only once the operation returned, so every printed claim must survive the
// kill. It runs until killed.
func crashChild(dir, round string) error {
	j, err := Open(Options{Dir: dir, Partitions: testPartitions, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		// One write per line, unbuffered: whatever reached the pipe before
		// the kill is what the parent sees.
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	c, err := j.Subscribe(ctx, crashGroup, crashTopic)
	if err != nil {
		return err
	}
	go func() {
		for {
			msgs, err := c.Fetch(ctx, 64)
			if err != nil {
				say("error fetch %v", err)
				return
			}
			if err := c.Commit(ctx, msgs...); err != nil {
				say("error commit %v", err)
				return
			}
			next := map[int]int64{}
			for _, m := range msgs {
				next[m.Partition] = max(next[m.Partition], m.Offset+1)
			}
			for p, off := range next {
				say("commit %d %d", p, off)
			}
		}
	}()
	// Batches of several 1 KiB messages make group-commit writes span
	// pages, so the kill can land in the middle of a write.
	pad := strings.Repeat("x", 1024)
	const publishers = 6
	for p := range publishers {
		go func() {
			for i := 0; ; i += 8 {
				batch := make([]bus.Message, 8)
				for k := range batch {
					id := fmt.Sprintf("r%s-p%d-%d", round, p, i+k)
					batch[k] = bus.Message{Key: []byte(id), Value: []byte(id + " " + pad)}
				}
				if err := j.Publish(ctx, crashTopic, batch...); err != nil {
					say("error publish %v", err)
					return
				}
				for _, m := range batch {
					say("ack %s", m.Key)
				}
			}
		}()
	}
	select {}
}

func TestCrashKeepsAcknowledgedAndCommitted(t *testing.T) {
	dir := t.TempDir()
	var acked []string
	for round := range 2 {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			ids, commits := runCrashChild(t, dir, round)
			acked = append(acked, ids...)
			if len(ids) == 0 || len(commits) == 0 {
				t.Fatalf("child acknowledged %d messages and made %d commits before the kill; want some of both", len(ids), len(commits))
			}
			checkAfterCrash(t, dir, acked, commits)
		})
	}
}

// runCrashChild starts the child, lets it run until it has acknowledged a
// few thousand messages and committed some, kills it with SIGKILL and
// returns every id it acknowledged and the highest offset it reported
// committed per partition.
func runCrashChild(t *testing.T, dir string, round int) ([]string, map[int]int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	var ids []string
	commits := map[int]int64{}
	killAfter := 2000 + round*1500
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "ack":
			ids = append(ids, f[1])
		case len(f) == 3 && f[0] == "commit":
			p, _ := strconv.Atoi(f[1])
			off, _ := strconv.ParseInt(f[2], 10, 64)
			commits[p] = max(commits[p], off)
		default:
			t.Errorf("child: %s", sc.Text())
		}
		if !killed && len(ids) >= killAfter && len(commits) > 0 {
			// SIGKILL: no deferred Close, no flush, as in a crash.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v", err)
	}
	return ids, commits
}

func checkAfterCrash(t *testing.T, dir string, acked []string, commits map[int]int64) {
	t.Helper()
	j, err := Open(Options{Dir: dir, Partitions: testPartitions, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("reopen journal after the crash: %v", err)
	}
	defer j.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Every committed offset the child saw must be at or below the stored one.
	g, err := j.groupOffsets(crashGroup, crashTopic)
	if err != nil {
		t.Fatal(err)
	}
	for p, off := range commits {
		if stored := g.committed(p); stored < off {
			t.Errorf("partition %d: child committed %d, journal stores %d", p, off, stored)
		}
	}

	// Every acknowledged id must be present and readable, through a group
	// that has never read the topic.
	lag, err := j.Lag(ctx, "verify-"+strconv.Itoa(len(acked)), crashTopic)
	if err != nil {
		t.Fatal(err)
	}
	c, err := j.Subscribe(ctx, "verify-"+strconv.Itoa(len(acked)), crashTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	present := make(map[string]bool, lag)
	for n := int64(0); n < lag; {
		msgs, err := c.Fetch(ctx, 1000)
		if err != nil {
			t.Fatalf("read back after %d of %d messages: %v", n, lag, err)
		}
		for _, m := range msgs {
			if !strings.HasPrefix(string(m.Value), string(m.Key)+" ") {
				t.Errorf("message %s at %d/%d has a damaged value", m.Key, m.Partition, m.Offset)
			}
			present[string(m.Key)] = true
		}
		n += int64(len(msgs))
	}
	missing := 0
	for _, id := range acked {
		if !present[id] {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged message %s lost in the crash", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged messages lost", missing, len(acked))
	}
	t.Logf("%d acknowledged, %d stored, committed %v", len(acked), lag, commits)
}
