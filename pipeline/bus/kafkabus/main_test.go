package kafkabus

import (
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
)

// testBroker is set once by TestMain before any test runs.
var testBroker kafkatest.Broker

// TestMain runs a real single-node Kafka (package kafkatest) in a temporary
// directory. Missing jars fail the run loudly: CI installs them first, and a
// silently skipped Kafka suite would hide a broken bus.
func TestMain(m *testing.M) {
	os.Exit(kafkatest.Main(m, func(b kafkatest.Broker) { testBroker = b }))
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
	b, err := Open(Options{Brokers: []string{testBroker.Addr()}, Partitions: 4, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open kafka bus: %v", err)
	}
	return b
}
