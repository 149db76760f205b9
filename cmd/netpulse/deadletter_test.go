package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/bus"
)

type nopProducer struct{ got int }

func (p *nopProducer) Publish(_ context.Context, _ string, msgs ...bus.Message) error {
	p.got += len(msgs)
	return nil
}

// TestDeadLettersLoggedRateLimited: every dead letter is published and
// counted, and a burst of them logs one line, not one per message.
func TestDeadLettersLoggedRateLimited(t *testing.T) {
	var buf bytes.Buffer
	p := &nopProducer{}
	d := newDeadLetters(p, slog.New(slog.NewTextHandler(&buf, nil)), prometheus.NewRegistry())
	for i := range 50 {
		m := bus.Message{Key: []byte("src"), Value: bytes.Repeat([]byte("x"), i)}
		if err := d.Publish(context.Background(), bus.TopicDeadLetter, m, m); err != nil {
			t.Fatal(err)
		}
	}
	if p.got != 100 || d.n.Load() != 100 {
		t.Errorf("published %d, counted %d; want 100", p.got, d.n.Load())
	}
	if lines := strings.Count(buf.String(), "dead-letter topic"); lines != 1 {
		t.Errorf("%d log lines for a burst of 100 dead letters, want 1:\n%s", lines, buf.String())
	}
}
