package intake

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLedgerPrune(t *testing.T) {
	l, err := openLedger(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	key := []byte("k")
	tests := []struct {
		batch, idem string
		age         time.Duration
		keepAnswer  bool
		keepReceipt bool
	}{
		{"b-old", "key-old", 100 * 24 * time.Hour, false, false},
		{"b-mid", "key-mid", 10 * 24 * time.Hour, false, true},
		{"b-new", "key-new", time.Hour, true, true},
	}
	for _, tt := range tests {
		at := now.Add(-tt.age)
		r := Receipt{BatchID: tt.batch, Venue: "V", ReceivedAt: at}
		r.Sign(key)
		if err := l.record(context.Background(), "V", tt.idem, stored{BodySHA256: "h", Status: 200, Answer: []byte(`{}`), At: at}, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.prune(context.Background(), now.Add(-7*24*time.Hour), now.Add(-90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		_, found, err := l.answer(context.Background(), "V", tt.idem)
		if err != nil || found != tt.keepAnswer {
			t.Errorf("%s: answer kept %v, want %v (%v)", tt.idem, found, tt.keepAnswer, err)
		}
		r, err := l.receipt(tt.batch)
		if kept := err == nil; kept != tt.keepReceipt || (kept && !r.Verify(key)) {
			t.Errorf("%s: receipt kept %v, want %v", tt.batch, kept, tt.keepReceipt)
		} else if !kept && !errors.Is(err, errNoReceipt) {
			t.Errorf("%s: %v", tt.batch, err)
		}
	}
}
