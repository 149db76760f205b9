// The layers of netpulse, checked on the import graph so that the folders
// keep telling the truth about who depends on whom:
//
//	cmd/netpulse, bench        wire every part (nothing imports them)
//	dashboards                 show              ─┐
//	search, alerts             read               │ each may use the
//	collectors                 publish            │ layers below it
//	pipeline                   carry and store   ─┘
//	access, privacy, chinese,  foundations: used by every layer above,
//	jsonapi, kvtable           import none of them
//
// deploy holds schema, topic specs, fonts and test harnesses beside all of
// them; anything may read its embedded files.
package netpulse_test

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/netpulse/netpulse/"

// layerOf is a package's top-level folder, and the foundations' shared name.
func layerOf(pkg string) string {
	top, _, _ := strings.Cut(pkg, "/")
	switch top {
	case "access", "privacy", "chinese", "jsonapi", "kvtable":
		return "foundation"
	}
	return top
}

// forbidden lists, per importing layer, the layers it must not import.
// Wiring layers (cmd, bench) and deploy's harnesses may import anything;
// nothing but cmd may import bench or cmd.
var forbidden = map[string][]string{
	"foundation": {"pipeline", "collectors", "search", "alerts", "dashboards", "bench", "cmd"},
	"pipeline":   {"collectors", "search", "alerts", "dashboards", "bench", "cmd"},
	"collectors": {"search", "alerts", "dashboards", "bench", "cmd"},
	"search":     {"alerts", "collectors", "dashboards", "bench", "cmd"},
	"alerts":     {"collectors", "dashboards", "bench", "cmd"},
	"dashboards": {"bench", "cmd"},
	"deploy":     {"bench", "cmd"},
	"bench":      {"cmd"},
}

// TestLayers walks every package of the module and fails on an import
// against the layers. A package's own tests count (they are the package
// too); an external test package (package x_test) is an integration test
// that wires real parts the way cmd does, and is exempt, like cmd.
func TestLayers(t *testing.T) {
	var checked int
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, build.ImportComment)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			t.Errorf("%s: %v", path, err)
			return nil
		}
		if path == "." {
			return nil // this test
		}
		pkg := filepath.ToSlash(path)
		from := layerOf(pkg)
		checked++
		for _, imp := range append(p.Imports, p.TestImports...) {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			to := layerOf(rel)
			for _, f := range forbidden[from] {
				if to == f {
					t.Errorf("%s (%s) imports %s (%s): against the layers", pkg, from, rel, to)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 30 {
		t.Fatalf("checked only %d packages; is the walk broken?", checked)
	}
}

// TestLayerOf pins the classification the rules rely on.
func TestLayerOf(t *testing.T) {
	for pkg, want := range map[string]string{
		"access":           "foundation",
		"privacy/identity": "foundation",
		"chinese/jieba":    "foundation",
		"jsonapi":          "foundation",
		"kvtable":          "foundation",
		"pipeline/posts":   "pipeline",
		"collectors/feeds": "collectors",
		"search/records":   "search",
		"alerts/rules":     "alerts",
		"dashboards/web":   "dashboards",
		"cmd/netpulse":     "cmd",
		"deploy/faults":    "deploy",
		"bench":            "bench",
	} {
		if got := layerOf(pkg); got != want {
			t.Errorf("layerOf(%q) = %q, want %q", pkg, got, want)
		}
	}
}
