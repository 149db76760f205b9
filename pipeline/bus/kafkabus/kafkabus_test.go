package kafkabus

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/bustest"
)

func TestContract(t *testing.T) {
	bustest.Run(t, bustest.Harness{
		Partitions: 4,
		Wait:       60 * time.Second,
		Open: func(t *testing.T) (bus.Bus, func(t *testing.T) bus.Bus) {
			return openTestBus(t), func(t *testing.T) bus.Bus { return openTestBus(t) }
		},
	})
}

// TestUnavailable checks that a bus whose brokers cannot be reached says so
// with bus.ErrUnavailable, which intake turns into 503.
func TestUnavailable(t *testing.T) {
	// A port nothing listens on: take one and release it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b, err := Open(Options{Brokers: []string{addr}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"Ready", func() error { return b.Ready(ctx) }},
		{"Publish", func() error {
			return b.Publish(ctx, "nowhere", bus.Message{Key: []byte("k"), Value: []byte("v")})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, bus.ErrUnavailable) {
				t.Fatalf("want an error wrapping bus.ErrUnavailable, got %v", err)
			}
		})
	}
}

func TestBalancerMatchesPartitionFor(t *testing.T) {
	parts := []int{0, 1, 2, 3, 4, 5}
	for _, key := range []string{"", "a", "venue-0001", "hotel/42", "网吧-7"} {
		got := balance(kafkaMessage(key), parts...)
		if want := bus.PartitionFor([]byte(key), len(parts)); got != want {
			t.Errorf("key %q: balancer chose %d, bus.PartitionFor %d", key, got, want)
		}
	}
}

func kafkaMessage(key string) kafka.Message { return kafka.Message{Key: []byte(key)} }
