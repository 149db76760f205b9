package faults

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fuzzTargets names, per package, the go test -fuzz targets of every parser
// of outside input: intake CSV and JSON and the row checks, identity
// numbers, feed XML, HTML and dates, the sources and rules YAML, post
// search queries and parameters, record search filters, pushed posts and
// bus messages, SQL binding, report periods, highlighted fragments, series
// files and the config file.
var fuzzTargets = map[string][]string{
	"collectors/intake":            {"FuzzParseCSV", "FuzzParseJSON", "FuzzValidate"},
	"privacy/identity":             {"FuzzValidateResident"},
	"collectors/feeds":             {"FuzzFeedItems", "FuzzUnmarshalYAML"},
	"collectors/feeds/maintext":    {"FuzzExtract"},
	"collectors/feeds/chinesedate": {"FuzzParse"},
	"search":                       {"FuzzParseQuery", "FuzzParseRequest"},
	"search/records":               {"FuzzRecordFilter"},
	"alerts/rules":                 {"FuzzParse"},
	"alerts/burst":                 {"FuzzReadSeries"},
	"pipeline/posts":               {"FuzzParseBatch", "FuzzDecode"},
	"pipeline/store":               {"FuzzBind"},
	"dashboards/reports":           {"FuzzParsePeriod"},
	"dashboards/web":               {"FuzzHighlight"},
	"cmd/netpulse":                 {"FuzzConfigFile"},
}

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)

// TestFuzzTargetsForEveryParser fails when a parser of outside input loses
// its fuzz target. (Their seed corpora run with each package's tests.)
func TestFuzzTargetsForEveryParser(t *testing.T) {
	root := moduleRoot()
	total := 0
	for dir, want := range fuzzTargets {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
		have := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
				have[string(m[1])] = true
			}
		}
		for _, name := range want {
			if !have[name] {
				t.Errorf("%s: fuzz target %s is missing", dir, name)
			}
			total++
		}
		if len(have) == 0 {
			t.Errorf("%s: no fuzz targets at all (%s)", dir, strings.Join(want, ", "))
		}
	}
	t.Logf("%d fuzz targets in %d packages", total, len(fuzzTargets))
}
