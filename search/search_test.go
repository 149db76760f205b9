package search

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

func at(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }

var fixture = []shards.Doc{
	{ID: "a1", Source: "weibo", Author: "临江警方", Title: "临江区警方破获特大电信诈骗案",
		Body: "近日，临江区公安分局破获一起特大电信诈骗案，犯罪团伙以兼职刷单为诱饵，骗取受害人钱款共计48万元。警方提醒：凡是要求先垫付资金的刷单都是诈骗。", PublishedAt: at(25, 9), ClusterID: 11},
	{ID: "a2", Source: "news", Author: "临江日报", Title: "特大电信诈骗案告破",
		Body: "临江区公安分局近日破获一起特大电信诈骗案，团伙以兼职刷单为诱饵骗取钱款48万元。", PublishedAt: at(25, 15), ClusterID: 11},
	{ID: "a3", Source: "news", Author: "临江日报", Title: "北湖镇一民房发生火灾",
		Body: "26日凌晨，北湖镇南岭村一民房发生火灾，消防救援人员及时赶到，火势很快得到控制，无人员伤亡。", PublishedAt: at(26, 3)},
	{ID: "a4", Source: "weibo", Author: "滨江交警", Title: "滨江路发生交通事故",
		Body: "今天上午滨江路与临江大桥交叉口发生一起两车相撞的交通事故，造成一人受伤，交警提醒注意行车安全。", PublishedAt: at(27, 11)},
	{ID: "a5", Source: "forum", Author: "网友甲", Title: "这个诈骗电信的套路",
		Body: "有人冒充电信客服打电话，说要帮我升级套餐，这种诈骗电信用户的手法要小心。", PublishedAt: at(27, 20)},
}

func fixtureSearcher(t *testing.T) *Searcher {
	t.Helper()
	s := openSet(t, t.TempDir(), jieba.AnalyzerIndex, jieba.AnalyzerQuery)
	if err := indexAll(s, context.Background(), fixture); err != nil {
		t.Fatal(err)
	}
	return newSearcher(t, s)
}

func ids(r *Result) []string {
	var out []string
	for _, h := range r.Hits {
		out = append(out, h.ID)
	}
	return out
}

func TestSearchChinese(t *testing.T) {
	s := fixtureSearcher(t)
	tests := []struct {
		name     string
		req      Request
		want     []string // ids, in any order unless sorted by time
		ordered  bool
		fragment string // must appear in the first hit's fragments
	}{
		{name: "word", req: Request{Query: "火灾"}, want: []string{"a3"}, fragment: "<mark>火灾</mark>"},
		{name: "phrase in order", req: Request{Query: `"电信诈骗"`}, want: []string{"a1", "a2"}, fragment: "<mark>电信诈骗</mark>"},
		{name: "phrase reversed matches only the reversed text", req: Request{Query: `"诈骗电信"`}, want: []string{"a5"}},
		{name: "phrase across words", req: Request{Query: `"兼职刷单"`}, want: []string{"a1", "a2"}},
		{name: "sub-word of a long word", req: Request{Query: "诈骗"}, want: []string{"a1", "a2", "a5"}},
		{name: "exclusion", req: Request{Query: "诈骗 -刷单"}, want: []string{"a5"}},
		{name: "source field", req: Request{Query: "诈骗 source:weibo"}, want: []string{"a1"}},
		{name: "author phrase", req: Request{Query: `author:"临江日报"`, SortTime: true}, want: []string{"a3", "a2"}, ordered: true},
		{name: "time range", req: Request{Query: "诈骗", From: at(27, 0), To: at(28, 0)}, want: []string{"a5"}},
		{name: "open-ended time range", req: Request{Query: "诈骗", From: at(25, 12)}, want: []string{"a2", "a5"}},
		{name: "range before the first day", req: Request{Query: "诈骗", To: at(1, 0)}, want: nil},
		{name: "place name from the domain dictionary", req: Request{Query: "临江大桥"}, want: []string{"a4"}, fragment: "<mark>临江大桥</mark>"},
		{name: "collapse clusters, newest first", req: Request{Query: "电信诈骗", Collapse: true, SortTime: true}, want: []string{"a2"}},
		{name: "title field", req: Request{Query: "title:火灾"}, want: []string{"a3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Search(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(res)
			if !sameIDs(got, tc.want, tc.ordered) {
				t.Fatalf("hits %v, want %v", got, tc.want)
			}
			if tc.fragment != "" && !strings.Contains(strings.Join(res.Hits[0].Fragments, "…"), tc.fragment) {
				t.Errorf("fragments %q lack %q", res.Hits[0].Fragments, tc.fragment)
			}
		})
	}
}

func sameIDs(got, want []string, ordered bool) bool {
	if len(got) != len(want) {
		return false
	}
	if ordered {
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, w := range want {
		if seen[w] == 0 {
			return false
		}
		seen[w]--
	}
	return true
}

func TestCollapseCountsDuplicates(t *testing.T) {
	s := fixtureSearcher(t)
	res, err := s.Search(context.Background(), Request{Query: "电信诈骗", Collapse: true, Facets: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].Duplicates != 1 {
		t.Fatalf("hits %+v, want one hit folding one duplicate", res.Hits)
	}
	if res.Total != 2 {
		t.Errorf("total %d, want 2 (uncollapsed)", res.Total)
	}
	want := &Facets{
		Source: []Bucket{{"news", 1}, {"weibo", 1}},
		Day:    []Bucket{{"20261125", 2}},
	}
	if len(res.Facets.Day) != 1 || res.Facets.Day[0] != want.Day[0] || len(res.Facets.Source) != 2 {
		t.Errorf("facets %+v, want %+v", res.Facets, want)
	}
}

func TestHandler(t *testing.T) {
	h := NewHandler(fixtureSearcher(t), nil)
	tests := []struct {
		name   string
		params url.Values
		code   int
		errHas string
		total  int
	}{
		{"word with facets", url.Values{"q": {"诈骗"}}, 200, "", 3},
		{"day range", url.Values{"q": {"诈骗"}, "from": {"2026-11-27"}, "to": {"2026-11-27"}}, 200, "", 1},
		{"sort by time, page 2", url.Values{"q": {""}, "sort": {"time"}, "page": {"2"}, "size": {"2"}}, 200, "", 5},
		{"unterminated quote", url.Values{"q": {`"电信诈骗`}}, 400, "unterminated quote", 0},
		{"unknown field", url.Values{"q": {"place:临江"}}, 400, `unknown field "place"`, 0},
		{"bad sort", url.Values{"q": {"a"}, "sort": {"score"}}, 400, "sort", 0},
		{"bad page", url.Values{"q": {"a"}, "page": {"0"}}, 400, "page", 0},
		{"bad time", url.Values{"q": {"a"}, "from": {"yesterday"}}, 400, "from", 0},
		{"reversed range", url.Values{"q": {"a"}, "from": {"2026-11-28"}, "to": {"2026-11-01"}}, 400, "ends before it starts", 0},
		{"too deep", url.Values{"q": {"a"}, "page": {"1000"}, "size": {"100"}}, 400, "narrow the query", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/search/posts?"+tc.params.Encode(), nil))
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var body struct {
				Error string `json:"error"`
				Total int    `json:"total"`
				Hits  []struct {
					ID        string   `json:"id"`
					Title     string   `json:"title"`
					Fragments []string `json:"fragments"`
				} `json:"hits"`
				Facets *Facets `json:"facets"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if tc.code != 200 {
				if !strings.Contains(body.Error, tc.errHas) {
					t.Errorf("error %q does not name %q", body.Error, tc.errHas)
				}
				return
			}
			if body.Total != tc.total {
				t.Errorf("total %d, want %d", body.Total, tc.total)
			}
			if body.Facets == nil || len(body.Hits) == 0 || body.Hits[0].Title == "" {
				t.Errorf("answer lacks hits, titles or facets: %s", rec.Body)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		q    string
		want []Clause
		err  string
	}{
		{q: "", want: nil},
		{q: "电信诈骗  临江区", want: []Clause{{Must, "", "电信诈骗", false}, {Must, "", "临江区", false}}},
		{q: `"杀猪盘 投资" -招聘 +跑分`, want: []Clause{{Must, "", "杀猪盘 投资", true}, {MustNot, "", "招聘", false}, {Must, "", "跑分", false}}},
		{q: `source:weibo author:"临江 警方"`, want: []Clause{{Must, "source", "weibo", false}, {Must, "author", "临江 警方", true}}},
		{q: "“电信诈骗”　火灾", want: []Clause{{Must, "", "电信诈骗", true}, {Must, "", "火灾", false}}},
		{q: "10:30 http://x.cn/a", want: []Clause{{Must, "", "10:30", false}, {Must, "", "http://x.cn/a", false}}},
		{q: `"abc`, err: "unterminated quote"},
		{q: `""`, err: "empty phrase"},
		{q: "- 火灾", err: `"-" must be followed`},
		{q: "source: x", err: "source: needs a value"},
		{q: "where:x", err: `unknown field "where"`},
		{q: `a"b c"`, err: "quote inside a word"},
		{q: `"a"b`, err: "followed by a space"},
		{q: strings.Repeat("词 ", 40), err: "more than 32 terms"},
		{q: "\xff", err: "not valid UTF-8"},
	}
	for _, tc := range tests {
		got, err := ParseQuery(tc.q)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseQuery(%q) error %v, want %q", tc.q, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tc.q, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tc.q, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseQuery(%q)[%d] = %+v, want %+v", tc.q, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "电信诈骗 临江区", `"杀猪盘 投资" -招聘 +跑分`, `source:weibo author:"临江 警方"`,
		"“电信诈骗”", `"abc`, "- x", "title:", "a:b:c", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		clauses, err := ParseQuery(q)
		if err != nil {
			var qe *QueryError
			if !asQueryError(err, &qe) || qe.Pos < 0 || qe.Pos > len(q) {
				t.Fatalf("ParseQuery(%q): error %v is not a QueryError with a position inside the query", q, err)
			}
			return
		}
		if len(clauses) > MaxQueryClauses {
			t.Fatalf("%d clauses", len(clauses))
		}
		for _, c := range clauses {
			if c.Text == "" {
				t.Fatalf("ParseQuery(%q): empty clause %+v", q, c)
			}
			if c.Field != "" && !fields[c.Field] {
				t.Fatalf("ParseQuery(%q): unknown field in %+v", q, c)
			}
		}
		BuildQuery(clauses, jieba.AnalyzerQuery, time.Time{}, time.Time{})
	})
}

func asQueryError(err error, target **QueryError) bool {
	qe, ok := err.(*QueryError)
	*target = qe
	return ok
}
