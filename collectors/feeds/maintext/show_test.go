package maintext

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var showPage = flag.String("maintext.show", "", "print what netpulse extracts from the development page with this id prefix, beside the truth")

func TestShow(t *testing.T) {
	if *showPage == "" {
		t.Skip("no -maintext.show")
	}
	for _, set := range evalSets() {
		pages, err := loadSet(set.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if !strings.HasPrefix(p.ID, *showPage) {
				continue
			}
			if p.heldOut() {
				t.Fatalf("%s is held out", p.ID)
			}
			doc, _ := Parse(strings.NewReader(p.HTML))
			a := Extract(doc, Rules{})
			os.WriteFile("/tmp/got.txt", []byte(a.Body), 0o644)
			os.WriteFile("/tmp/want.txt", []byte(p.Text), 0o644)
			os.WriteFile("/tmp/page.html", []byte(p.HTML), 0o644)
			t.Logf("title %q time %q (truth date %q) method %s next %q", a.Title, a.TimeText, p.Date, a.Method, a.NextPage)
		}
	}
}
