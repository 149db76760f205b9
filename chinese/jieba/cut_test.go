package jieba

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
)

// cutTexts are texts with the hard cases: long words with parts, ASCII and
// numbers between Han runs, full-width punctuation and spaces, stop words,
// emoji, an empty field.
var cutTexts = []struct{ title, body string }{
	{"庆祝中华人民共和国成立七十周年", "武汉华南海鲜市场旁的野生动物交易市场已经关闭。#致敬第一线#医护人员连续工作"},
	{"The iPhone 15 在滨江路 被盗", "损失3.5万元，警方提醒：凡是要求先垫付资金的刷单都是诈骗！COVID-19　疫情期间"},
	{"", "临江区的杀猪盘😀团伙被打掉，抓获嫌疑人12名"},
	{"纯英文标题 only", "plain English body, no Chinese at all"},
	{"标题", ""},
}

func corpusTexts(t *testing.T) []struct{ title, body string } {
	out := append([]struct{ title, body string }{}, cutTexts...)
	f, err := os.Open("../../search/testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < 600 {
		var p struct{ Title, Body string }
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, struct{ title, body string }{p.Title, p.Body})
	}
	return out
}

// TestCutServesEveryUser: what each user derives from one search-mode cut
// equals what it got from its own cut: the index analyser's tokens, Terms,
// and (through the JSON form on the bus) the same again.
func TestCutServesEveryUser(t *testing.T) {
	index, err := registry.NewCache().AnalyzerNamed(AnalyzerIndex)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range corpusTexts(t) {
		c := seg.CutPost(tc.title, tc.body)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var wire Cut
		if err := json.Unmarshal(b, &wire); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(&wire, c) {
			t.Fatalf("JSON round trip changed the cut:\n got %+v\nwant %+v", wire, *c)
		}
		if !seg.Usable(&wire, tc.title, tc.body) {
			t.Fatalf("fresh cut of %q not usable: %v", tc.body, wire.Check(tc.title, tc.body))
		}
		for _, f := range []struct {
			text  string
			spans []Span
		}{{tc.title, wire.Title}, {tc.body, wire.Body}} {
			want := render(index.Analyze([]byte(f.text)))
			if got := render(seg.IndexTokens(f.text, f.spans)); !reflect.DeepEqual(got, want) {
				t.Fatalf("index tokens of %q:\n got %v\nwant %v", f.text, got, want)
			}
		}
		want := seg.Terms(tc.title + "\n" + tc.body)
		if got := seg.PostTerms(&wire, tc.title, tc.body); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("terms of %q:\n got %v\nwant %v", tc.title+"\n"+tc.body, got, want)
		}
	}
}

func render(ts analysis.TokenStream) []tok {
	out := []tok{}
	for _, t := range ts {
		out = append(out, tok{string(t.Term), t.Start, t.End, t.Position})
	}
	return out
}

// TestCutRejected: a cut from another dictionary or one that does not fit
// its text is not used.
func TestCutRejected(t *testing.T) {
	title, body := "电信诈骗", "临江区破获电信诈骗案"
	tests := []struct {
		name string
		cut  Cut
	}{
		{"other dictionary", Cut{Fingerprint: "v1-000000000000", Title: seg.CutPost(title, body).Title, Body: seg.CutPost(title, body).Body}},
		{"past the end", Cut{Fingerprint: seg.Fingerprint(), Title: []Span{{0, 12}}, Body: []Span{{0, 31}}}},
		{"inside a character", Cut{Fingerprint: seg.Fingerprint(), Title: []Span{{0, 12}}, Body: []Span{{1, 6}}}},
		{"empty word", Cut{Fingerprint: seg.Fingerprint(), Title: []Span{{0, 12}}, Body: []Span{{3, 3}}}},
		{"no words for Chinese text", Cut{Fingerprint: seg.Fingerprint(), Title: []Span{{0, 12}}, Body: []Span{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if seg.Usable(&tc.cut, title, body) {
				t.Fatalf("cut %+v accepted", tc.cut)
			}
		})
	}
}

// FuzzCutJSON: the cut arrives from the bus; decoding and checking it never
// panics, and a cut that passes Check yields tokens inside the text.
func FuzzCutJSON(f *testing.F) {
	b, _ := json.Marshal(seg.CutPost(cutTexts[0].title, cutTexts[0].body))
	f.Add(string(b), cutTexts[0].title, cutTexts[0].body)
	f.Add(`{"fp":"x","title":"AQI","body":"/////w"}`, "标题", "正文")
	f.Fuzz(func(t *testing.T, js, title, body string) {
		var c Cut
		if json.Unmarshal([]byte(js), &c) != nil || c.Check(title, body) != nil {
			return
		}
		for _, f := range []struct {
			text  string
			spans []Span
		}{{title, c.Title}, {body, c.Body}} {
			for _, tk := range seg.IndexTokens(f.text, f.spans) {
				if tk.Start < 0 || tk.End > len(f.text) {
					t.Fatalf("token %q [%d,%d) outside %q", tk.Term, tk.Start, tk.End, f.text)
				}
			}
			seg.TermsIn(f.text, f.spans, nil)
		}
	})
}
