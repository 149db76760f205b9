package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAnswerNeverWritesThroughALink: a link planted where the answer goes
// (the folders are writable by the venue's staff) is replaced, and the file
// it points at is untouched.
func TestAnswerNeverWritesThroughALink(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "victim.conf")
	if err := os.WriteFile(outside, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	answer := filepath.Join(dir, "batch.csv.answer.json")
	if err := os.Symlink(outside, answer); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := writeSync(root, "batch.csv.answer.json", []byte(`{"accepted":1}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep me\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	fi, err := os.Lstat(answer)
	if err != nil || fi.Mode()&os.ModeSymlink != 0 || !fi.Mode().IsRegular() {
		t.Fatalf("answer is not a regular file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(answer); string(b) != `{"accepted":1}` {
		t.Errorf("answer = %q", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".answer-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestLinksNeverLeadOutOfTheWatchedFolder: the venue's staff can write the
// watched folder, so any name in it may become a link: done/ or failed/,
// the journal's folder or the journal itself, or a file between the
// listing and the read. None may make the agent read or write outside.
func TestLinksNeverLeadOutOfTheWatchedFolder(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	if err := os.WriteFile(secret, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newAgent := func(t *testing.T) (*Agent, string) {
		watch := t.TempDir()
		a, err := New(Options{Watch: watch, Server: "http://127.0.0.1:1", Key: "npv_x"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a, watch
	}
	swap := func(t *testing.T, path string) {
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, path); err != nil {
			t.Fatal(err)
		}
	}
	untouched := func(t *testing.T) {
		es, _ := os.ReadDir(outside)
		if len(es) != 1 {
			t.Errorf("written outside the watched folder: %v", es)
		}
		if b, _ := os.ReadFile(secret); string(b) != "root:secret\n" {
			t.Errorf("outside file changed: %q", b)
		}
	}
	for _, dest := range []string{"done", "failed"} {
		t.Run(dest+" turned into a link", func(t *testing.T) {
			a, watch := newAgent(t)
			if err := os.WriteFile(filepath.Join(watch, "b.csv"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			swap(t, filepath.Join(watch, dest))
			if err := a.move("b.csv", dest, []byte(`{}`)); err == nil {
				t.Errorf("moved through the link")
			}
			untouched(t)
		})
	}
	t.Run("journal folder turned into a link", func(t *testing.T) {
		a, watch := newAgent(t)
		swap(t, filepath.Join(watch, ".netpulse-agent"))
		if err := a.appendJournal(sentEntry{File: "b.csv", SHA256: "00"}); err == nil {
			t.Errorf("journal written through the link")
		}
		untouched(t)
	})
	t.Run("journal turned into a link", func(t *testing.T) {
		a, watch := newAgent(t)
		if err := os.Symlink(secret, filepath.Join(watch, ".netpulse-agent", "sent.jsonl")); err != nil {
			t.Fatal(err)
		}
		_ = a.appendJournal(sentEntry{File: "b.csv", SHA256: "00"})
		untouched(t)
	})
	t.Run("file swapped for a link after the listing", func(t *testing.T) {
		a, watch := newAgent(t)
		if err := os.Symlink(secret, filepath.Join(watch, "b.csv")); err != nil {
			t.Fatal(err)
		}
		if b, err := readPlain(a.root, "b.csv"); err == nil {
			t.Errorf("read through the link: %q", b)
		}
	})
	t.Run("failed is a link at start", func(t *testing.T) {
		watch := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(watch, "failed")); err != nil {
			t.Fatal(err)
		}
		if a, err := New(Options{Watch: watch, Server: "http://127.0.0.1:1", Key: "npv_x"}); err == nil {
			a.root.Close()
			t.Errorf("agent started with failed/ a link out of the folder")
		}
		untouched(t)
	})
}
