package maintext

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/classes/*.json from the current output")

// TestClasses runs one page per kind of markup that Chinese sites use and
// that once came out empty or wrong (issue 21): a page wrapped in an
// ASP.NET <form>, TRS_Editor paragraphs as sibling <div>s, <founder-content>
// and <sohu_cms_include:…> wrappers, and an article split over pages. The
// expected title, time, body and next page are in the .json beside each.
func TestClasses(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("testdata", "classes", "*.html"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no class pages: %v", err)
	}
	for _, path := range pages {
		name := strings.TrimSuffix(filepath.Base(path), ".html")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(strings.NewReader(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			got := Extract(doc, Rules{})
			golden := strings.TrimSuffix(path, ".html") + ".json"
			if *update {
				b, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it, then check it by hand)", err)
			}
			var want Article
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				g, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("got\n%s\nwant\n%s", g, b)
			}
		})
	}
}
