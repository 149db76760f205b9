package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
		{"inserted tampered copy", `INSERT INTO netpulse.audit_log (chain, seq, at, actor, role, action, case_ref, filter, rows, outcome, prev_hash, hash, hash_v) SELECT chain, seq, at, actor, role, action, case_ref, filter, 0, outcome, prev_hash, hash, hash_v FROM netpulse.audit_log WHERE seq = 4`,
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

// TestVerifyReportsEveryBreak tampers twice in one chain: the second edit
// must be reported although the first already broke the chain.
func TestVerifyReportsEveryBreak(t *testing.T) {
	ctx := context.Background()
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.audit_log`); err != nil {
		t.Fatal(err)
	}
	a := audit.New(db, []byte("0123456789abcdef0123456789abcdef"), "")
	for i := 0; i < 8; i++ {
		if _, err := a.Append(ctx, audit.Entry{Actor: "user:ana", Action: "search", CaseRef: "C-1", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`ALTER TABLE netpulse.audit_log UPDATE rows = 7 WHERE seq = 2 SETTINGS mutations_sync = 1`,
		`ALTER TABLE netpulse.audit_log DELETE WHERE seq = 5 SETTINGS mutations_sync = 1`,
		`ALTER TABLE netpulse.audit_log UPDATE actor = 'user:eve' WHERE seq = 7 SETTINGS mutations_sync = 1`,
	} {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	v, err := a.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, b := range v.Breaks {
		got = append(got, b.Seq)
	}
	if v.OK || v.BrokenAt != 2 || v.BreakCount != 3 || len(got) != 3 || got[0] != 2 || got[1] != 5 || got[2] != 7 {
		t.Errorf("breaks = %v (%+v), want 2, 5 and 7", got, v)
	}
}

// TestAppendStoresWhatItHashes appends fields that a naive encoding gets
// wrong (invalid UTF-8, newlines that could move a boundary, a huge case
// reference) and checks that the chain verifies and the fields are bounded.
func TestAppendStoresWhatItHashes(t *testing.T) {
	ctx := context.Background()
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.audit_log`); err != nil {
		t.Fatal(err)
	}
	a := audit.New(db, []byte("0123456789abcdef0123456789abcdef"), "")
	for _, e := range []audit.Entry{
		{Actor: "user:ana", Action: "search", CaseRef: "AUD-\xff\xfe", Outcome: "refused"},
		{Actor: "user:ana", Action: "search", CaseRef: "A\nsearch", Filter: "x", Outcome: "ok"},
		{Actor: "user:ana", Action: "search\nA", CaseRef: "search", Filter: "x", Outcome: "ok"},
		{Actor: "user:ana", Action: "search", CaseRef: strings.Repeat("案", 100000), Filter: strings.Repeat("f", 1<<20), Outcome: "refused"},
		// Bytes a JSON or ClickHouse round trip might rewrite: NUL and
		// other C0 controls, DEL, C1, a CESU-8 lone surrogate, BOM,
		// noncharacters, line and paragraph separators, a backslash and
		// quote, a NUL-led cut point, decomposed text (NFD), a 4-byte rune.
		{Actor: "user:a\x00b", Role: "r\x7f\u0085", Action: "search", CaseRef: "A\x00\x01\x1f\u2028\u2029", Filter: `{"q":"\\\"\u0000"}`, Outcome: "ok"},
		{Actor: "user:ana", Action: "search", CaseRef: "X\xed\xa0\x80Y\ufeff\uffff\ufffe", Filter: "e\u0301 \U0001F600", Outcome: "ok"},
		{Actor: "user:" + strings.Repeat("\x00", 500), Action: "search", CaseRef: strings.Repeat("\xed\xa0\x80", 200), Filter: strings.Repeat("\U0001F600", 2000), Outcome: "ok"},
		{Actor: "user:ana", Action: "search", At: time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("x", 3600*8+1800)), CaseRef: "T", Outcome: "ok"},
	} {
		if _, err := a.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := a.Verify(ctx); err != nil || !v.OK || v.Entries != 8 {
		t.Fatalf("verify = %+v %v", v, err)
	}
	_, es, err := a.List(ctx, time.Time{}, time.Time{}, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if len(e.CaseRef) > audit.MaxCaseRef || len(e.Filter) > audit.MaxFilter || !utf8.ValidString(e.CaseRef) {
			t.Errorf("entry %d stored unbounded or invalid: case_ref %d bytes, filter %d bytes", e.Seq, len(e.CaseRef), len(e.Filter))
		}
	}
}

// TestFieldBoundariesCannotMove: someone with write access to the store
// moves text from one field to the next (case_ref "A\nB", filter "C"
// becomes case_ref "A", filter "B\nC"). A newline-joined encoding hashes
// both alike; the length-prefixed one must report the edit.
func TestFieldBoundariesCannotMove(t *testing.T) {
	ctx := context.Background()
	if err := db.Exec(ctx, `TRUNCATE TABLE netpulse.audit_log`); err != nil {
		t.Fatal(err)
	}
	a := audit.New(db, []byte("0123456789abcdef0123456789abcdef"), "")
	if _, err := a.Append(ctx, audit.Entry{Actor: "user:ana", Action: "search", CaseRef: "A\nB", Filter: "C", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, `ALTER TABLE netpulse.audit_log UPDATE case_ref = 'A', filter = 'B\nC' WHERE seq = 1 SETTINGS mutations_sync = 1`); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Verify(ctx); err != nil || v.OK {
		t.Errorf("a moved field boundary verified: %+v %v", v, err)
	}
}
