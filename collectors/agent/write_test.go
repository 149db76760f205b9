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
	if err := writeSync(answer, []byte(`{"accepted":1}`)); err != nil {
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
