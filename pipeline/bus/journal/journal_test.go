package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/bustest"
	"github.com/netpulse/netpulse/pipeline/dirlock"
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

// TestOpenRepairsTornTail damages the end of the newest segment the way a
// crash or a power cut can, and checks that the journal opens again, keeps
// every whole message and appends after them.
func TestOpenRepairsTornTail(t *testing.T) {
	tests := []struct {
		name string
		tail []byte
	}{
		// A length prefix promising more bytes than the write got out.
		{"partial entry", append(binary.AppendUvarint(nil, 500), bytes.Repeat([]byte{7}, 40)...)},
		// Only part of the length prefix.
		{"partial length", []byte{0x80}},
		// A file extended with zeros that were never written.
		{"zero fill", make([]byte, 4096)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			j := openAt(t, dir)
			sent := numberedMsgs("k", 20)
			if err := j.Publish(ctx, "torn", sent...); err != nil {
				t.Fatal(err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			part := filepath.Join(dir, "topics", "torn", strconv.Itoa(bus.PartitionFor([]byte("k"), testPartitions)))
			segs, err := filepath.Glob(filepath.Join(part, "0*"))
			if err != nil || len(segs) == 0 {
				t.Fatalf("no segment in %s: %v", part, err)
			}
			f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tc.tail); err != nil {
				t.Fatal(err)
			}
			f.Close()

			j = openAt(t, dir)
			defer j.Close()
			more := numberedMsgs("k", 3)
			if err := j.Publish(ctx, "torn", more...); err != nil {
				t.Fatalf("publish after repair: %v", err)
			}
			c, err := j.Subscribe(ctx, "g", "torn")
			if err != nil {
				t.Fatal(err)
			}
			got := bustest.FetchN(t, ctx, c, len(sent)+len(more))
			for i, want := range append(sent, more...) {
				if !bytes.Equal(got[i].Value, want.Value) || got[i].Offset != int64(i) {
					t.Errorf("message %d: got %q at offset %d, want %q", i, got[i].Value, got[i].Offset, want.Value)
				}
			}
		})
	}
}

func numberedMsgs(key string, n int) []bus.Message {
	msgs := make([]bus.Message, n)
	for i := range msgs {
		msgs[i] = bus.Message{Key: []byte(key), Value: fmt.Appendf(nil, "%s-%d-%d", key, n, i)}
	}
	return msgs
}

// TestSecondOpenRefused opens one folder twice: the second Open must fail
// with dirlock.ErrLocked instead of appending beside the first, and the
// folder must open again once the first is closed.
func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if j2, err := Open(Options{Dir: dir}); !errors.Is(err, dirlock.ErrLocked) {
		if j2 != nil {
			j2.Close()
		}
		t.Fatalf("second Open: want dirlock.ErrLocked, got %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j3, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	j3.Close()
}
