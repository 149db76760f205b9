package intake

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// TestParseGolden parses the venue export fixtures in testdata and compares
// every row, or its parse error, with the golden file beside it.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/export.*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	types := map[string]string{".csv": "text/csv", ".ndjson": "application/x-ndjson", ".json": "application/json"}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := Parse(body, DetectFormat(types[filepath.Ext(f)], body), 100)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(rows, "", "  ")
			golden := f + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestParseGolden -update)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("%s differs from %s:\n%s", f, golden, got)
			}
		})
	}
}
