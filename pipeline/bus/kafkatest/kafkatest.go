// Package kafkatest runs real Apache Kafka for the tests of packages that
// talk to Kafka, so that each of them starts, stops and restarts it the
// same way: a single-node broker (deploy/dev/kafka.sh, KRaft, loopback) for
// the contract tests, and a three-node KRaft cluster (Cluster) for
// replication, failover and topic-config tests.
package kafkatest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// Broker is one broker under a test's control.
type Broker struct {
	script string
	dir    string
	port   int
}

// Addr is the broker's host:port.
func (b Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Start starts the broker; starting a running broker does nothing.
func (b Broker) Start() error { return b.run("start") }

// Stop stops the broker and keeps its data, so that Start resumes it.
func (b Broker) Stop() error { return b.run("stop") }

func (b Broker) run(cmd string) error {
	out, err := exec.Command(b.script, cmd, b.dir, strconv.Itoa(b.port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafka.sh %s %s: %w\n%s", cmd, b.dir, err, out)
	}
	return nil
}

// New prepares (without starting) a broker whose data lives in dir, on a
// free port pair. It fails when the Kafka jars are missing: CI installs them
// first, and a silently skipped Kafka suite would hide a broken bus.
func New(dir string) (Broker, error) {
	script, err := scriptPath()
	if err != nil {
		return Broker{}, err
	}
	cache := os.Getenv("NETPULSE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "netpulse")
	}
	libs := filepath.Join(cache, "kafka-4.1.1", "libs")
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		return Broker{}, fmt.Errorf("kafka 4.1.1 jars not found in %s; install them with deploy/dev/install-deps.sh kafka", libs)
	}
	port, err := freePortPair()
	if err != nil {
		return Broker{}, fmt.Errorf("no free port pair for the broker: %w", err)
	}
	return Broker{script: script, dir: dir, port: port}, nil
}

// scriptPath finds deploy/dev/kafka.sh from this source file, so that tests
// in any package directory reach it.
func scriptPath() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("locate kafkatest source")
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "dev", "kafka.sh")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("find kafka.sh: %w", err)
	}
	return p, nil
}

// freePortPair finds a port whose successor is free too: kafka.sh puts the
// KRaft controller on PORT+1. Both are picked below the ephemeral range, so
// that no outgoing connection takes one of them while a test has the broker
// stopped for a restart.
func freePortPair() (int, error) {
	for range 200 {
		p := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("200 tries")
}

// ForTest starts a broker for one test, in the test's temporary folder,
// stops it at the test's cleanup, and returns its address. Packages whose
// TestMain already does other set-up (a chDB engine) use it in the tests
// that need Kafka.
func ForTest(tb testing.TB) string {
	tb.Helper()
	b, err := New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := b.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return b.Addr()
}

// Main runs a package's tests around one broker, started in a temporary
// folder before them and stopped after; use receives it first (to keep its
// address, or the broker itself for tests that restart it). It returns the
// exit code: func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m, …)) }.
// A broker that cannot start fails the run: a silently skipped Kafka suite
// would hide a broken bus.
func Main(m *testing.M, use func(Broker)) int {
	dir, err := os.MkdirTemp("", "kafkatest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	b, err := New(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := b.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start the Kafka broker:", err)
		return 1
	}
	defer func() {
		if err := b.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the Kafka broker:", err)
		}
	}()
	use(b)
	return m.Run()
}
