package journal

import (
	"log/slog"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/bustest"
)

const testPartitions = 4

func openAt(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := Open(Options{Dir: dir, Partitions: testPartitions, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open journal: %v", err)
	}
	return j
}

func TestContract(t *testing.T) {
	bustest.Run(t, bustest.Harness{
		Partitions: testPartitions,
		Open: func(t *testing.T) (bus.Bus, func(t *testing.T) bus.Bus) {
			dir := t.TempDir()
			return openAt(t, dir), func(t *testing.T) bus.Bus { return openAt(t, dir) }
		},
	})
}
