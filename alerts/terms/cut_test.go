package terms

import (
	"reflect"
	"testing"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/posts"
)

// countingTok counts the posts the counter cuts itself.
type countingTok struct {
	seg *jieba.Segmenter
	n   int
}

func (c *countingTok) Terms(text string) []string { c.n++; return c.seg.Terms(text) }

// TestTermsFromTheCut: a post that carries a usable cut is counted from
// it, without cutting again; one without, or with a cut from another
// dictionary, is cut here. Either way the terms are the same.
func TestTermsFromTheCut(t *testing.T) {
	seg, err := jieba.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	tok := &countingTok{seg: seg}
	c := &Counter{o: Options{Tokenizer: tok, Cuts: seg}}
	p := posts.Post{Title: "临江区警情通报", Body: "嫌疑人以兼职刷单为名实施电信诈骗，The iPhone 15 被盗。"}
	want := seg.Terms(p.Title + "\n" + p.Body)

	withCut := p
	withCut.Cut = seg.CutPost(p.Title, p.Body)
	stale := p
	stale.Cut = seg.CutPost(p.Title, p.Body)
	stale.Cut.Fingerprint = "v0-old"
	for _, tc := range []struct {
		name string
		post posts.Post
		cuts int
	}{{"usable cut", withCut, 0}, {"no cut", p, 1}, {"cut from another dictionary", stale, 1}} {
		tok.n = 0
		got := c.terms(&Doc{Post: tc.post})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: terms %v, want %v", tc.name, got, want)
		}
		if tok.n != tc.cuts {
			t.Errorf("%s: cut %d times, want %d", tc.name, tok.n, tc.cuts)
		}
	}
}
