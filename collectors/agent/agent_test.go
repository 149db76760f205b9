package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/agent"
	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/collectors/intake/intaketest"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
	"github.com/netpulse/netpulse/privacy/identity"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

func TestSafeName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"export-2026-11-28.csv", true},
		{"../etc/passwd.csv", false},
		{"..", false},
		{"a/b.csv", false},
		{`a\b.csv`, false},
		{".hidden.csv", false},
		{"x..csv", false},
		{"", false},
		{"nul\x00.csv", false},
	}
	for _, tt := range tests {
		if got := agent.SafeName(tt.name); got != tt.want {
			t.Errorf("SafeName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

var errCrash = errors.New("simulated crash")

// TestRestartMidFolder stops the agent after the server answered the
// second file but before the file was moved, the worst moment, then starts
// a new agent on the same folder: every file ends in done/ with its
// answer, and the interrupted file is answered from the server's
// idempotency store instead of being delivered again.
func TestRestartMidFolder(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"AG-C1": "cafe"}, nil)
	watch := t.TempDir()
	start := time.Now().Add(-time.Hour)
	const files, perFile = 5, 4
	for f := 0; f < files; f++ {
		var b strings.Builder
		if f%2 == 0 {
			b.WriteString("kind,place,id_type,id_number,name,started_at\n")
			for i := 0; i < perFile; i++ {
				fmt.Fprintf(&b, "cafe,A%d%d,resident_id,%s,用户%d,%s\n", f, i, identity.Synthetic("420199", f*10+i), i, start.Format(time.RFC3339))
			}
			os.WriteFile(filepath.Join(watch, fmt.Sprintf("export-%d.csv", f)), []byte(b.String()), 0o644)
		} else {
			for i := 0; i < perFile; i++ {
				fmt.Fprintf(&b, `{"kind":"cafe","place":"A%d%d","id_type":"resident_id","id_number":"%s","name":"用户%d","started_at":"%s"}`+"\n",
					f, i, identity.Synthetic("420199", f*10+i), i, start.Format(time.RFC3339))
			}
			os.WriteFile(filepath.Join(watch, fmt.Sprintf("export-%d.ndjson", f)), []byte(b.String()), 0o644)
		}
	}
	// Files that must never be sent.
	os.WriteFile(filepath.Join(watch, "notes.txt"), []byte("x"), 0o644)
	outside := filepath.Join(t.TempDir(), "secret.csv")
	os.WriteFile(outside, []byte("kind,place\n"), 0o644)
	if err := os.Symlink(outside, filepath.Join(watch, "link.csv")); err != nil {
		t.Fatal(err)
	}

	sent := 0
	a1, err := agent.New(agent.Options{Watch: watch, Server: e.Srv.URL, Key: e.Keys["AG-C1"],
		AfterSend: func(name string) error {
			sent++
			if sent == 2 {
				return errCrash
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Scan(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(watch, "export-1.ndjson")); err != nil {
		t.Fatalf("interrupted file should still be in the folder: %v", err)
	}

	a2, err := agent.New(agent.Options{Watch: watch, Server: e.Srv.URL, Key: e.Keys["AG-C1"]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	var batches []string
	for f := 0; f < files; f++ {
		name := fmt.Sprintf("export-%d.csv", f)
		if f%2 == 1 {
			name = fmt.Sprintf("export-%d.ndjson", f)
		}
		b, err := os.ReadFile(filepath.Join(watch, "done", name+".answer.json"))
		if err != nil {
			t.Fatalf("%s: no answer in done/: %v", name, err)
		}
		var ans intake.Answer
		if err := json.Unmarshal(b, &ans); err != nil || ans.Accepted != perFile {
			t.Errorf("%s answer: %s", name, b)
		}
		batches = append(batches, ans.BatchID)
		if _, err := os.Stat(filepath.Join(watch, name)); !os.IsNotExist(err) {
			t.Errorf("%s still in the watched folder", name)
		}
	}
	// One receipt per file: the interrupted file was not delivered twice.
	seen := map[string]bool{}
	for _, b := range batches {
		if seen[b] {
			t.Errorf("batch %s answered two files", b)
		}
		seen[b] = true
	}
	if _, err := os.Stat(filepath.Join(watch, "failed", "link.csv")); err != nil {
		t.Errorf("symlink not moved to failed/: %v", err)
	}
	if _, err := os.Stat(filepath.Join(watch, "notes.txt")); err != nil {
		t.Errorf("unrelated file touched: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("link target touched: %v", err)
	}
	intaketest.WaitStored(t, db, "AG-C1", files*perFile)

	// The same export dropped again is recognised and not resent.
	again := filepath.Join(watch, "export-0-again.csv")
	b0, _ := os.ReadFile(filepath.Join(watch, "done", "export-0.csv"))
	os.WriteFile(again, b0, 0o644)
	a3, err := agent.New(agent.Options{Watch: watch, Server: e.Srv.URL, Key: e.Keys["AG-C1"],
		AfterSend: func(string) error { return errors.New("must not send") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a3.Scan(context.Background()); err != nil {
		t.Fatalf("re-dropped file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(watch, "done", "export-0-again.csv")); err != nil {
		t.Errorf("re-dropped file not moved to done/: %v", err)
	}
}

// TestRetriesUntilServerAnswers closes the bus so intake answers 503 with
// Retry-After, and checks the agent keeps the file and retries.
func TestRetriesWhileBusDown(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"AG-C2": "cafe"}, nil)
	watch := t.TempDir()
	body := fmt.Sprintf("kind,place,id_type,id_number,name,started_at\ncafe,A1,resident_id,%s,周九,%s\n",
		identity.Synthetic("420199", 55), time.Now().Add(-time.Minute).Format(time.RFC3339))
	os.WriteFile(filepath.Join(watch, "a.csv"), []byte(body), 0o644)
	e.Bus.Close()
	a, err := agent.New(agent.Options{Watch: watch, Server: e.Srv.URL, Key: e.Keys["AG-C2"]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := a.Scan(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("scan while down: %v", err)
	}
	if _, err := os.Stat(filepath.Join(watch, "a.csv")); err != nil {
		t.Errorf("undelivered file moved: %v", err)
	}
	bad, err := agent.New(agent.Options{Watch: watch, Server: e.Srv.URL, Key: "npv_wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Scan(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}
}
