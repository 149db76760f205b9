package shards

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/netpulse/netpulse/chinese/jieba"
)

// TestIndexFromCutEqualsAnalyser: posts indexed from their cut give the
// same hits, scores and term locations as posts the analyser cuts; a post
// whose cut is from another dictionary is cut again.
func TestIndexFromCutEqualsAnalyser(t *testing.T) {
	bodies := []string{
		"庆祝中华人民共和国成立七十周年，The iPhone 15 在滨江路被盗",
		"武汉华南海鲜市场旁的野生动物交易市场已经关闭。#致敬第一线#医护人员",
		"损失3.5万元，警方提醒：凡是要求先垫付资金的刷单都是诈骗！",
		"临江区的杀猪盘😀团伙被打掉，抓获嫌疑人12名",
	}
	var docs, cut []Doc
	for i, b := range bodies {
		d := post(fmt.Sprintf("p%d", i), 20+i%2, b)
		d.Title = "警情通报 No." + fmt.Sprint(i)
		docs = append(docs, d)
		d.Cut = seg.CutPost(d.Title, d.Body)
		if i == len(bodies)-1 {
			d.Cut.Fingerprint = "v0-old" // must be cut again, not trusted
			d.Cut.Body = d.Cut.Body[:1]
		}
		cut = append(cut, d)
	}
	plain := openJieba(t, t.TempDir(), 0)
	fromCut, err := Open(Config{Dir: t.TempDir(), IndexAnalyzer: jieba.AnalyzerIndex, QueryAnalyzer: jieba.AnalyzerQuery,
		Fingerprint: seg.Fingerprint, Tokens: seg})
	if err != nil {
		t.Fatal(err)
	}
	defer fromCut.Close()
	if err := plain.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if err := fromCut.Index(context.Background(), cut); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"共和国", "中华人民共和国", "iphone", "市场", "医护人员", "3.5", "诈骗", "杀猪盘", "no", "团伙"} {
		for _, field := range []string{FieldTitle, FieldBody} {
			q := query.NewMatchQuery(text)
			q.SetField(field)
			q.Analyzer = jieba.AnalyzerQuery
			want, got := hits(t, plain, q), hits(t, fromCut, q)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:%s from the cut %v, analysed %v", field, text, got, want)
			}
		}
	}
}

func hits(t *testing.T, s *Set, q query.Query) []string {
	t.Helper()
	sr := bleve.NewSearchRequestOptions(q, 100, 0, false)
	sr.IncludeLocations = true
	res, err := s.Alias().SearchInContext(context.Background(), sr)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range res.Hits {
		var locs []string
		for f, tl := range h.Locations {
			for term, ls := range tl {
				for _, l := range ls {
					locs = append(locs, fmt.Sprintf("%s:%s@%d[%d,%d]", f, term, l.Pos, l.Start, l.End))
				}
			}
		}
		sort.Strings(locs)
		out = append(out, fmt.Sprintf("%s %.12g %v", h.ID, h.Score, locs))
	}
	sort.Strings(out)
	return out
}

type memTexts map[string]string

func (m memTexts) PostBodies(_ context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if b, ok := m[id]; ok {
			out[id] = b
		}
	}
	return out, nil
}

// TestLeanReindexReadsBodies: a lean index keeps no body, so re-indexing
// after a dictionary change reads the bodies from Texts, and refuses to
// build a day whose bodies it cannot find rather than lose them.
func TestLeanReindexReadsBodies(t *testing.T) {
	fp := "v-a"
	texts := memTexts{}
	s, err := Open(Config{Dir: t.TempDir(), IndexAnalyzer: jieba.AnalyzerIndex, QueryAnalyzer: jieba.AnalyzerQuery,
		Fingerprint: func() string { return fp }, Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := []Doc{post("l1", 20, "临江区破获电信诈骗案"), post("l2", 20, "北湖镇民房发生火灾"), post("l3", 21, "滨江路交通事故")}
	for _, d := range docs {
		texts[d.ID] = d.Body
	}
	if err := s.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	fp = "v-b"
	rebuilt, err := s.Reindex(context.Background())
	if err != nil || len(rebuilt) != 2 {
		t.Fatalf("reindex: %v %v", rebuilt, err)
	}
	for _, w := range []string{"诈骗", "火灾", "交通事故"} {
		if n := count(t, s, match(s, w)); n != 1 {
			t.Errorf("%s: %d hits after the lean re-index, want 1", w, n)
		}
	}
	delete(texts, "l3")
	fp = "v-c"
	if _, err := s.Reindex(context.Background()); err == nil || !strings.Contains(err.Error(), "l3") {
		t.Fatalf("re-index without l3's body: %v, want an error naming l3", err)
	}
	if n := count(t, s, match(s, "交通事故")); n != 1 {
		t.Errorf("the failed re-index lost l3: %d hits", n)
	}
}
