package scatter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
	"github.com/netpulse/netpulse/search"
	"github.com/netpulse/netpulse/search/shards"
)

var (
	seg *jieba.Segmenter
	// db is the one chDB engine of this test process, standing in for the
	// cluster's shared ClickHouse.
	db *store.DB
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scatter-jieba")
	if err != nil {
		panic(err)
	}
	backend, err := chdb.Open(filepath.Join(dir, "chdb"))
	if err != nil {
		panic(err)
	}
	db = store.New(backend, nil)
	if err := db.Migrate(context.Background(), deploy.Schema()); err != nil {
		panic(err)
	}
	if seg, err = jieba.Open(dir); err != nil {
		panic(err)
	}
	if err := jieba.Register(seg); err != nil {
		panic(err)
	}
	code := m.Run()
	db.Close()
	seg.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func loadPosts(t testing.TB) []shards.Doc {
	t.Helper()
	f, err := os.Open("testdata/posts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []shards.Doc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p struct {
			ID, Source, Author, Title, Body string
			PublishedAt                     time.Time `json:"published_at"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		d := shards.Doc{ID: p.ID, Source: p.Source, Author: p.Author, Title: p.Title, Body: p.Body,
			PublishedAt: p.PublishedAt, URL: "https://example.test/" + p.ID}
		// Every fifth post shares a near-duplicate cluster with its
		// neighbour, so that collapsing has work to do across nodes.
		if n := len(out); n%5 == 0 {
			d.ClusterID = uint64(1 + n/10)
		}
		out = append(out, d)
	}
	return out
}

func openSet(t testing.TB, dir string, docs []shards.Doc) *shards.Set {
	t.Helper()
	s, err := shards.Open(shards.Config{Dir: dir, IndexAnalyzer: jieba.AnalyzerIndex, QueryAnalyzer: jieba.AnalyzerQuery,
		Fingerprint: seg.Fingerprint, Location: time.FixedZone("CST", 8*3600)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	return s
}

const testToken = "cluster-secret"

// cluster splits docs over three nodes the way raw.posts partitions do
// (six partitions, two per node) and returns a coordinator over them and
// the single index of all docs.
func cluster(t *testing.T) (*Coordinator, *search.Searcher) {
	t.Helper()
	docs := loadPosts(t)
	parts := make([][]shards.Doc, 3)
	for _, d := range docs {
		p := bus.PartitionFor([]byte(d.ID), 6)
		parts[p/2] = append(parts[p/2], d)
	}
	var urls []string
	for i, part := range parts {
		set := openSet(t, filepath.Join(t.TempDir(), fmt.Sprint("node", i)), part)
		mux := http.NewServeMux()
		NewNode(set, testToken, nil).Routes(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	single := openSet(t, filepath.Join(t.TempDir(), "single"), docs)
	s, err := search.NewSearcher(single, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCoordinator(func(context.Context) ([]string, error) { return urls, nil }, testToken, 10*time.Second)
	return c, s
}

func TestClusterEqualsSingleIndex(t *testing.T) {
	c, single := cluster(t)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	cases := []struct {
		name string
		req  search.Request
	}{
		{"relevance", search.Request{Query: "诈骗", Facets: true}},
		{"relevance page 3", search.Request{Query: "诈骗", Page: 3, Size: 10}},
		{"two words", search.Request{Query: "网贷 上海", Facets: true}},
		{"phrase", search.Request{Query: `"手续费"`}},
		{"negation", search.Request{Query: "警方 -盗窃", Facets: true}},
		{"field", search.Request{Query: "source:weibo 提醒"}},
		{"date range", search.Request{Query: "警方", From: day("2026-11-20"), To: day("2026-11-24").Add(24*time.Hour - 1), Facets: true}},
		{"time sort", search.Request{Query: "警方", SortTime: true, Page: 2, Size: 15, Facets: true}},
		{"everything by time", search.Request{SortTime: true, Size: 50, Facets: true}},
		{"collapsed", search.Request{Query: "诈骗", Collapse: true, Facets: true}},
		{"collapsed page 2", search.Request{Query: "警方", Collapse: true, Page: 2, Size: 10}},
		{"no match", search.Request{Query: "不存在的词语组合xyz", Facets: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			want, err := single.Search(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Search(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "no match" && len(want.Hits) == 0 {
				t.Fatalf("the single index found nothing for %q; the case tests nothing", tc.req.Query)
			}
			sameResult(t, got, want, tc.req.SortTime)
		})
	}
}

// sameResult compares totals, facets and hits. Hits with equal sort keys
// may come in any order in Bleve itself, so each run of equal scores is
// compared as a set.
func sameResult(t *testing.T, got, want *search.Result, byTime bool) {
	t.Helper()
	if got.Total != want.Total {
		t.Errorf("total %d, single index %d", got.Total, want.Total)
	}
	if (got.Facets == nil) != (want.Facets == nil) {
		t.Fatalf("facets %v, single index %v", got.Facets, want.Facets)
	}
	if want.Facets != nil {
		if !slices.Equal(got.Facets.Source, want.Facets.Source) {
			t.Errorf("source facet %v, single index %v", got.Facets.Source, want.Facets.Source)
		}
		if !slices.Equal(got.Facets.Day, want.Facets.Day) {
			t.Errorf("day facet %v, single index %v", got.Facets.Day, want.Facets.Day)
		}
	}
	if len(got.Hits) != len(want.Hits) {
		t.Fatalf("%d hits, single index %d", len(got.Hits), len(want.Hits))
	}
	for i := range want.Hits {
		g, w := got.Hits[i], want.Hits[i]
		if math.Abs(g.Score-w.Score) > 1e-9*math.Max(1, math.Abs(w.Score)) {
			t.Fatalf("hit %d: score %v (%s), single index %v (%s)", i, g.Score, g.ID, w.Score, w.ID)
		}
	}
	norm := func(hs []search.Hit) []search.Hit {
		out := slices.Clone(hs)
		for i := range out {
			out[i].Score = math.Round(out[i].Score*1e9) / 1e9
		}
		tied := func(a, b search.Hit) bool {
			if byTime {
				return a.PublishedAt.Equal(b.PublishedAt) && a.ID == b.ID
			}
			return a.Score == b.Score
		}
		for lo := 0; lo < len(out); {
			hi := lo + 1
			for hi < len(out) && tied(out[lo], out[hi]) {
				hi++
			}
			run := out[lo:hi]
			sort.Slice(run, func(i, j int) bool { return run[i].ID < run[j].ID })
			lo = hi
		}
		return out
	}
	g, w := norm(got.Hits), norm(want.Hits)
	for i := range w {
		gj, _ := json.Marshal(g[i])
		wj, _ := json.Marshal(w[i])
		if string(gj) != string(wj) {
			t.Errorf("hit %d:\n cluster %s\n single  %s", i, gj, wj)
		}
	}
}

func TestNodeRefusesWithoutToken(t *testing.T) {
	set := openSet(t, t.TempDir(), loadPosts(t)[:10])
	mux := http.NewServeMux()
	NewNode(set, testToken, nil).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		name, auth string
		code       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer nope", http.StatusUnauthorized},
		{"right", "Bearer " + testToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+PathStats, jsonBody(t, Shape{Query: "警方"}))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
}

func TestMergeSumsStats(t *testing.T) {
	a := &Stats{Days: map[string]*DayStats{"20261120": {Docs: 3, Terms: []TermStat{{Field: "body", Term: []byte("x"), DocFreq: 2}},
		Dicts: []DictStats{{Field: "published_at", First: []byte{1}, Last: []byte{9}, Terms: [][]byte{{2}, {5}}}}}}}
	b := &Stats{Days: map[string]*DayStats{"20261120": {Docs: 4, Terms: []TermStat{{Field: "body", Term: []byte("x"), DocFreq: 1}},
		Dicts: []DictStats{{Field: "published_at", First: []byte{1}, Last: []byte{9}, Terms: [][]byte{{3}, {5}}}}},
		"20261121": {Docs: 1}}}
	m := Merge(a, b, nil)
	d := m.Days["20261120"]
	if d.Docs != 7 || len(d.Terms) != 1 || d.Terms[0].DocFreq != 3 {
		t.Fatalf("merged day %+v", d)
	}
	if len(d.Dicts) != 1 || len(d.Dicts[0].Terms) != 3 {
		t.Fatalf("merged dictionary %+v, want the union {2,3,5}", d.Dicts)
	}
	if m.Days["20261121"].Docs != 1 {
		t.Fatalf("day only on one node lost: %+v", m.Days)
	}
}

func jsonBody(t *testing.T, v any) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// TestLocalFiguresWouldDiffer shows what the stats round is for: the same
// nodes scoring with their own figures rank differently from one index.
func TestLocalFiguresWouldDiffer(t *testing.T) {
	c, single := cluster(t)
	ctx := context.Background()
	req := search.Request{Query: "网贷 上海"}
	want, err := single.Search(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	peers, _ := c.peers(ctx)
	resps := make([]*HitsResponse, len(peers))
	hr := HitsRequest{Shape: Shape{Query: req.Query}, Size: 20}
	if err := c.each(ctx, peers, PathHits, func(int) any { return hr }, func(i int) any {
		resps[i] = &HitsResponse{}
		return resps[i]
	}); err != nil {
		t.Fatal(err)
	}
	local := mergeHits(resps, false).hits
	differ := 0
	for i := range min(len(local), len(want.Hits)) {
		if math.Abs(local[i].Score-want.Hits[i].Score) > 1e-9 {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("local figures gave the single index's scores; the split is too even to test the stats round")
	}
}

type postRow struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	URL         string    `json:"url"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	Author      string    `json:"author"`
	PublishedAt time.Time `json:"published_at"`
	FetchedAt   time.Time `json:"fetched_at"`
	ClusterID   uint64    `json:"cluster_id"`
	Lang        string    `json:"lang"`
}

// TestRepairRebuildsALostNode loses one of three nodes for good, replaces
// it with an empty one, and rebuilds from the shared store what no node
// holds any more: the cluster then answers like one index again.
func TestRepairRebuildsALostNode(t *testing.T) {
	ctx := context.Background()
	docs := loadPosts(t)
	rows := make([]postRow, len(docs))
	for i, d := range docs {
		rows[i] = postRow{ID: d.ID, Source: d.Source, URL: d.URL, Title: d.Title, Body: d.Body, Author: d.Author,
			PublishedAt: d.PublishedAt, FetchedAt: d.PublishedAt, ClusterID: d.ClusterID, Lang: "zh"}
	}
	if err := db.Insert(ctx, "netpulse.posts", rows); err != nil {
		t.Fatal(err)
	}
	parts := make([][]shards.Doc, 3)
	for _, d := range docs {
		p := bus.PartitionFor([]byte(d.ID), 6)
		parts[p/2] = append(parts[p/2], d)
	}
	// Node 2 is gone; node 2' starts with nothing.
	parts[2] = nil
	var urls []string
	for i, part := range parts {
		set := openSet(t, filepath.Join(t.TempDir(), fmt.Sprint("node", i)), part)
		mux := http.NewServeMux()
		NewNode(set, testToken, nil).WithRepair(db, set).Routes(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	c := NewCoordinator(func(context.Context) ([]string, error) { return urls, nil }, testToken, 30*time.Second)
	single, err := search.NewSearcher(openSet(t, filepath.Join(t.TempDir(), "single"), docs), 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := search.Request{Query: "警方", Facets: true}
	want, err := single.Search(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Search(ctx, req); err != nil || got.Total == want.Total {
		t.Fatalf("before the repair the cluster should miss the lost node's posts: %v, total %d of %d", err, got.Total, want.Total)
	}

	span := Span{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	res, err := c.Repair(ctx, db, span)
	if err != nil {
		t.Fatal(err)
	}
	lost := len(docs) - len(parts[0]) - len(parts[1])
	if res.Stored != len(docs) || res.Rebuilt != lost || res.Node != urls[2] {
		t.Fatalf("repair %+v; want %d stored, %d rebuilt on %s", res, len(docs), lost, urls[2])
	}
	got, err := c.Search(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, got, want, false)

	// A second repair finds nothing to do.
	if res, err := c.Repair(ctx, db, span); err != nil || res.Rebuilt != 0 || res.Indexed != len(docs) {
		t.Fatalf("second repair %+v, %v", res, err)
	}
}
