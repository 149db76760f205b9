package kafkabus

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// broker is the real Kafka broker TestMain starts for this package.
type broker struct {
	script string
	dir    string
	port   int
}

func (b broker) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

func (b broker) run(cmd string) error {
	out, err := exec.Command(b.script, cmd, b.dir, strconv.Itoa(b.port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafka.sh %s: %w\n%s", cmd, err, out)
	}
	return nil
}

// testBroker is set once by TestMain before any test runs.
var testBroker broker

// TestMain runs a real single-node Kafka via deploy/dev/kafka.sh on a free
// port in a temporary directory. Missing jars fail the run loudly: CI installs
// them first, and a silently skipped Kafka suite would hide a broken bus.
func TestMain(m *testing.M) {
	os.Exit(runWithBroker(m))
}

func runWithBroker(m *testing.M) int {
	script, err := filepath.Abs("../../../deploy/dev/kafka.sh")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cache := os.Getenv("NETPULSE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "netpulse")
	}
	libs := filepath.Join(cache, "kafka-4.1.1", "libs")
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: Kafka 4.1.1 jars not found in %s.\n"+
			"The kafkabus tests run against a real broker; install it with\n"+
			"    deploy/dev/install-deps.sh kafka\n", libs)
		return 1
	}
	dir, err := os.MkdirTemp("", "kafkabus-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	port, err := freePortPair()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: no free port pair for the broker:", err)
		return 1
	}
	testBroker = broker{script: script, dir: dir, port: port}
	if err := testBroker.run("start"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start the Kafka broker:", err)
		return 1
	}
	defer func() {
		if err := testBroker.run("stop"); err != nil {
			fmt.Fprintln(os.Stderr, "stop the Kafka broker:", err)
		}
	}()
	return m.Run()
}

// freePortPair finds a port whose successor is free too: kafka.sh puts the
// KRaft controller on PORT+1.
func freePortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("50 tries")
}

func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tWriter sends log lines to the test log, so they show only on failure.
// kafka-go may still log from a closing connection after the test ended,
// when t.Log would panic; those lines are dropped.
type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func openTestBus(t testing.TB) *Bus {
	t.Helper()
	b, err := Open(Options{Brokers: []string{testBroker.addr()}, Partitions: 4, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open kafka bus: %v", err)
	}
	return b
}
