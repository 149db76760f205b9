package intake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// sharedLedger opens a ledger in its own folder and makes it one node's
// copy of the cluster's, the way serve --kafka does.
func sharedLedger(t *testing.T, broker string) *ledger {
	t.Helper()
	l, err := openLedger(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lg, err := kvtopic.Open(ctx, kvtopic.Options{Brokers: []string{broker},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	lg.Register(StateTable, ledgerTable{l})
	rctx, stop := context.WithCancel(context.Background())
	if err := lg.Start(rctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := lg.Wait(); err != nil {
			t.Errorf("applier: %v", err)
		}
		lg.Close()
		l.close()
	})
	l.shared = lg
	return l
}

// Two intake nodes behind a load balancer: an answer recorded on one is the
// answer on the other at once (the miss catches up), receipts are found on
// both, and pruning on one forgets on both.
func TestLedgerShared(t *testing.T) {
	broker := kafkatest.ForTest(t)
	a, b := sharedLedger(t, broker), sharedLedger(t, broker)
	ctx := context.Background()
	now := time.Now().UTC()
	key := []byte("receipt key")

	tests := []struct {
		batch, idem string
		age         time.Duration
	}{
		{"b-old", "key-old", 30 * 24 * time.Hour},
		{"b-new", "key-new", time.Minute},
	}
	for _, tt := range tests {
		at := now.Add(-tt.age)
		r := Receipt{BatchID: tt.batch, Venue: "V", ReceivedAt: at, Accepted: 3}
		r.Sign(key)
		ans := []byte(`{"batch_id":"` + tt.batch + `"}`)
		if err := a.record(ctx, "V", tt.idem, stored{BodySHA256: "h", Status: 200, Answer: ans, At: at}, r); err != nil {
			t.Fatal(err)
		}
		got, found, err := b.answer(ctx, "V", tt.idem)
		if err != nil || !found || string(got.Answer) != string(ans) {
			t.Errorf("%s recorded on A, on B: %s found=%v %v", tt.idem, got.Answer, found, err)
		}
		if rc, err := b.receipt(tt.batch); err != nil || !rc.Verify(key) || rc.Accepted != 3 {
			t.Errorf("receipt %s on B: %+v, %v", tt.batch, rc, err)
		}
	}
	if _, found, err := b.answer(ctx, "V", "never-sent"); found || err != nil {
		t.Errorf("a key nobody sent: found=%v %v", found, err)
	}

	n, err := a.prune(ctx, now.Add(-7*24*time.Hour), now.Add(-7*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("prune on A: %d entries, %v; want the old answer and receipt", n, err)
	}
	if err := b.shared.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		_, found, err := b.answer(ctx, "V", tt.idem)
		if err != nil || found != (tt.age < time.Hour) {
			t.Errorf("%s on B after prune on A: found=%v %v", tt.idem, found, err)
		}
	}
	// An answer too large for the topic: the receipt is shared alone, and
	// the caller hears that the answer was not.
	huge := make([]byte, 3<<20)
	if _, err := rand.Read(huge); err != nil {
		t.Fatal(err)
	}
	hugeAns, _ := json.Marshal(base64.StdEncoding.EncodeToString(huge))
	r := Receipt{BatchID: "b-huge", Venue: "V", ReceivedAt: now, Rejected: 100000}
	r.Sign(key)
	if err := a.record(ctx, "V", "key-huge", stored{BodySHA256: "h", Status: 200, Answer: hugeAns, At: now}, r); !errors.Is(err, kvtopic.ErrTooLarge) {
		t.Errorf("recording a %d-byte answer: %v, want ErrTooLarge", len(hugeAns), err)
	}
	if rc, err := b.receipt("b-huge"); err != nil || rc.Rejected != 100000 {
		if err := b.shared.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if rc, err = b.receipt("b-huge"); err != nil || rc.Rejected != 100000 {
			t.Errorf("receipt of the batch with the huge answer, on B: %+v, %v", rc, err)
		}
	}

	// The age index followed the deletes: nothing is left to prune on B.
	if n, err := b.prune(ctx, now.Add(-7*24*time.Hour), now.Add(-7*24*time.Hour)); n != 0 || err != nil {
		t.Errorf("prune on B after A pruned: %d, %v; want nothing left", n, err)
	}
}
