package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
	"github.com/netpulse/netpulse/privacy/audit"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

func TestAuditChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.audit_log`); err != nil {
		t.Fatal(err)
	}
	a := audit.New(db, []byte("0123456789abcdef0123456789abcdef"), "")
	for i := 0; i < 5; i++ {
		if _, err := a.Append(ctx, audit.Entry{Actor: "user:ana", Role: "analyst", Action: "search", CaseRef: "C-1", Filter: `{"venue":"X"}`, Rows: uint64(i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := a.Verify(ctx); err != nil || !v.OK || v.Entries != 5 {
		t.Fatalf("intact chain: %+v %v", v, err)
	}
	tests := []struct {
		name      string
		tamper    string
		undo      string
		wantBreak uint64
		reason    string
	}{
		{"edited row", `ALTER TABLE netpulse.audit_log UPDATE rows = 999 WHERE seq = 3 SETTINGS mutations_sync = 1`,
			`ALTER TABLE netpulse.audit_log UPDATE rows = 2 WHERE seq = 3 SETTINGS mutations_sync = 1`, 3, "altered"},
		{"edited case reference", `ALTER TABLE netpulse.audit_log UPDATE case_ref = 'C-2' WHERE seq = 1 SETTINGS mutations_sync = 1`,
			`ALTER TABLE netpulse.audit_log UPDATE case_ref = 'C-1' WHERE seq = 1 SETTINGS mutations_sync = 1`, 1, "altered"},
		{"inserted tampered copy", `INSERT INTO netpulse.audit_log SELECT chain, seq, at, actor, role, action, case_ref, filter, 0, outcome, prev_hash, hash FROM netpulse.audit_log WHERE seq = 4`,
			`ALTER TABLE netpulse.audit_log DELETE WHERE seq = 4 AND rows = 0 SETTINGS mutations_sync = 1`, 4, ""}, // "altered" or "more than once", by which copy sorts first
		{"removed row", `ALTER TABLE netpulse.audit_log DELETE WHERE seq = 2 SETTINGS mutations_sync = 1`, "", 2, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Exec(ctx, tt.tamper); err != nil {
				t.Fatal(err)
			}
			v, err := a.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.BrokenAt != tt.wantBreak || (tt.reason != "" && !strings.Contains(v.Reason, tt.reason)) {
				t.Errorf("verify = %+v, want broken at %d (%s)", v, tt.wantBreak, tt.reason)
			}
			if tt.undo != "" {
				if err := db.Exec(ctx, tt.undo); err != nil {
					t.Fatal(err)
				}
				if v, _ := a.Verify(ctx); !v.OK {
					t.Fatalf("undo did not restore the chain: %+v", v)
				}
			}
		})
	}
	// A fresh process (new Audit) continues the chain after the last entry.
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.audit_log`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		b := audit.New(db, []byte("0123456789abcdef0123456789abcdef"), "")
		if _, err := b.Append(ctx, audit.Entry{Actor: "user:ana", Action: "search", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := audit.New(db, []byte("0123456789abcdef0123456789abcdef"), "").Verify(ctx); !v.OK || v.Entries != 2 {
		t.Errorf("chain across restarts: %+v", v)
	}
	if v, _ := audit.New(db, []byte("another key, another chain......"), "").Verify(ctx); v.OK {
		t.Error("chain verified under a different key")
	}

	// Two nodes append to their own chains, interleaved; both verify, and
	// an edit in one is reported with its chain.
	key := []byte("0123456789abcdef0123456789abcdef")
	n1, n2 := audit.New(db, key, "node-1"), audit.New(db, key, "node-2")
	for i := 0; i < 3; i++ {
		for _, n := range []*audit.Audit{n1, n2} {
			if _, err := n.Append(ctx, audit.Entry{Actor: "user:ana", Action: "search", Outcome: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v, _ := n1.Verify(ctx); !v.OK || v.Entries != 8 {
		t.Errorf("two chains: %+v", v)
	}
	if err := db.Exec(ctx, `ALTER TABLE netpulse.audit_log UPDATE actor = 'user:eve' WHERE chain = 'node-2' AND seq = 2 SETTINGS mutations_sync = 1`); err != nil {
		t.Fatal(err)
	}
	if v, _ := n1.Verify(ctx); v.OK || v.Chain != "node-2" || v.BrokenAt != 2 {
		t.Errorf("edit in node-2's chain: %+v", v)
	}
}
