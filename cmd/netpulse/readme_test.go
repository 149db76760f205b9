package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestREADMEDemoVenues keeps the README's account of the demo venues in
// step with the ones serve --demo registers: the streamed cafés and hotels
// and the one venue that falls silent.
func TestREADMEDemoVenues(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, v := range intakeDemoVenues() {
		kinds[v.kind]++
	}
	kinds["cafe"]++ // demoVenue, the silent one
	total := len(intakeDemoVenues()) + 1
	for _, c := range []struct {
		re   string
		want int
	}{
		{`registers (\d+) venues`, total},
		{`(\d+) cafés`, kinds["cafe"] - 1},
		{`(\d+) hotels`, kinds["hotel"]},
		{"`JA-C01`…`JA-C(\\d+)`", kinds["cafe"] - 1},
		{"`JA-H01`…`JA-H(\\d+)`", kinds["hotel"]},
	} {
		m := regexp.MustCompile(c.re).FindSubmatch(b)
		if m == nil {
			t.Errorf("README.md no longer says %s", c.re)
			continue
		}
		if n, _ := strconv.Atoi(string(m[1])); n != c.want {
			t.Errorf("README.md: %q, but the demo has %d", m[0], c.want)
		}
	}
	if !regexp.MustCompile("`" + regexp.QuoteMeta(demoVenue) + "`").Match(b) {
		t.Errorf("README.md does not name the silent demo venue %s", demoVenue)
	}
}
