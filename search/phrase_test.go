package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

// TestPhraseAdjacency: a phrase matches only where its characters stand
// together in the text (whitespace aside), whatever long words jieba's
// search mode cut around them.
func TestPhraseAdjacency(t *testing.T) {
	tests := []struct {
		phrase string
		body   string
		want   bool
	}{
		// A word between the phrase's words: 市场 is a part of 交易市场.
		{"野生动物市场", "武汉华南海鲜市场旁的野生动物交易市场已经关闭", false},
		{"野生动物市场", "记者走访了当地的野生动物市场。", true},
		// A hashtag mark between them; 一线 is a part of 第一线.
		{"一线医护人员", "#致敬第一线#医护人员连续工作了十几个小时", false},
		{"一线医护人员", "第一线医护人员连续工作了十几个小时", true},
		{"一线医护人员", "奋战在一线的医护人员连续工作", false},
		// The tail of a long word, then the next word.
		{"共和国成立", "庆祝中华人民共和国成立七十周年", true},
		{"共和国成立", "共和国于1949年成立", false},
		// Punctuation stands between the characters in the text.
		{"兼职刷单", "网上兼职，刷单返利都是诈骗", false},
		{"兼职刷单", "网上兼职刷单返利都是诈骗", true},
		// Whitespace does not count, in the text or in the query.
		{"野生动物市场", "记者走访了当地的野生动物 市场。", true},
		{"兼职 刷单", "网上兼职刷单返利都是诈骗", true},
		// The same words in the other order, or apart.
		{"电信诈骗", "这种诈骗电信用户的手法要小心", false},
		{"消防救援人员", "消防人员和救援人员赶到现场", false},
		{"消防救援人员", "消防救援人员赶到现场", true},
		// A dropped stop word keeps its character's place.
		{"临江区的杀猪盘", "警方打掉临江区的杀猪盘团伙", true},
		{"临江区的杀猪盘", "警方打掉临江区杀猪盘团伙", false},
		// ASCII words and numbers beside Han words.
		{"iPhone 15被盗", "他的 iphone 15 被盗了", true},
		{"iPhone 15被盗", "他的 iphone 14 15 被盗了", false},
	}
	s := openSet(t, t.TempDir(), jieba.AnalyzerIndex, jieba.AnalyzerQuery)
	docs := make([]shards.Doc, len(tests))
	for i, tc := range tests {
		docs[i] = shards.Doc{ID: fmt.Sprintf("d%02d", i), Source: "weibo", Title: "标题", Body: tc.body, PublishedAt: at(25, 9)}
	}
	if err := indexAll(s, context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot(time.Time{}, time.Time{})
	defer snap.Release()
	for i, tc := range tests {
		t.Run(tc.phrase+"/"+tc.body, func(t *testing.T) {
			q := &phraseQuery{text: tc.phrase, field: shards.FieldBody, analyzer: s.QueryAnalyzer(), boost: 1}
			got := slices.Contains(hitIDs(t, snap, q), docs[i].ID)
			if got != tc.want {
				t.Fatalf("phrase %q in %q: matched %v, want %v", tc.phrase, tc.body, got, tc.want)
			}
		})
	}
}

// TestPhraseHoldsInText runs phrases over generated posts and checks each
// hit: the phrase stands in the field's text, the highlighted locations
// spell it, and the score is that of the conjunction of its words, as with
// Bleve's phrase searcher.
func TestPhraseHoldsInText(t *testing.T) {
	s := openSet(t, t.TempDir(), jieba.AnalyzerIndex, jieba.AnalyzerQuery)
	docs := append(newPostGen(1500, 3).take(1500), fixture...)
	if err := indexAll(s, context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	byID := map[string]shards.Doc{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	snap := s.Snapshot(time.Time{}, time.Time{})
	defer snap.Release()
	phrases := []string{"消防救援人员", "兼职刷单", "电信诈骗", "诈骗电信", "临江区公安分局", "发生一起",
		"刷单 返利", "电信 诈骗 案", "造成一人受伤", "公安分局破获"}
	for _, text := range phrases {
		for _, field := range []string{shards.FieldBody, shards.FieldTitle} {
			t.Run(text+"/"+field, func(t *testing.T) {
				ours := &phraseQuery{text: text, field: field, analyzer: s.QueryAnalyzer(), boost: 2}
				words := query.NewMatchQuery(text)
				words.SetField(field)
				words.Analyzer = s.QueryAnalyzer()
				words.SetOperator(query.MatchQueryOperatorAnd)
				words.SetBoost(2)
				conj := map[string]float64{}
				for _, h := range search(t, snap, words) {
					conj[h.ID] = h.Score
				}
				hits := search(t, snap, ours)
				if len(hits) == 0 && field == shards.FieldBody {
					t.Fatalf("no post holds %q: the check would prove nothing", text)
				}
				want := squeeze(text)
				for _, h := range hits {
					d := byID[h.ID]
					fieldText := d.Body
					if field == shards.FieldTitle {
						fieldText = d.Title
					}
					if !strings.Contains(squeeze(fieldText), want) {
						t.Errorf("%s matched, but %q is not in %q", h.ID, text, fieldText)
					}
					if h.Score != conj[h.ID] {
						t.Errorf("%s: score %v, conjunction of the words %v", h.ID, h.Score, conj[h.ID])
					}
					var marked []string
					for _, ls := range h.Locations[field] {
						for _, l := range ls {
							marked = append(marked, fieldText[l.Start:l.End])
						}
					}
					for _, m := range marked {
						if !strings.Contains(want, squeeze(m)) {
							t.Errorf("%s: marks %q, not part of the phrase", h.ID, m)
						}
					}
				}
			})
		}
	}
}

// squeeze lowercases s and drops its whitespace.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

func search(t *testing.T, snap *shards.Snapshot, q query.Query) []*hitLoc {
	t.Helper()
	sr := bleve.NewSearchRequestOptions(q, 10000, 0, false)
	sr.IncludeLocations = true
	res, err := snap.Alias.SearchInContext(context.Background(), sr)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*hitLoc, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = &hitLoc{ID: h.ID, Score: h.Score, Locations: map[string]map[string][]loc{}}
		for f, tl := range h.Locations {
			out[i].Locations[f] = map[string][]loc{}
			for term, ls := range tl {
				for _, l := range ls {
					out[i].Locations[f][term] = append(out[i].Locations[f][term], loc{int(l.Start), int(l.End)})
				}
			}
		}
	}
	return out
}

type hitLoc struct {
	ID        string
	Score     float64
	Locations map[string]map[string][]loc
}

type loc struct{ Start, End int }

func hitIDs(t *testing.T, snap *shards.Snapshot, q query.Query) []string {
	t.Helper()
	var out []string
	for _, h := range search(t, snap, q) {
		out = append(out, h.ID)
	}
	return out
}
