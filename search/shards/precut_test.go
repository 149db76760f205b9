package shards

import (
	"context"
	"fmt"
	"reflect"
	"sort"
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
