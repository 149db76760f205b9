package search

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/cjk"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

// seg is the process's one segmenter, as in serve.
var seg *jieba.Segmenter

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "search-jieba")
	if err != nil {
		panic(err)
	}
	if seg, err = jieba.Open(dir); err != nil {
		panic(err)
	}
	if err := jieba.Register(seg); err != nil {
		panic(err)
	}
	code := m.Run()
	seg.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// analyzers are the three set-ups compared in the relevance check and the
// benchmarks: name, index analyser, query analyser.
var analyzers = []struct{ name, index, query string }{
	{"jieba", jieba.AnalyzerIndex, jieba.AnalyzerQuery},
	{"cjk", "cjk", "cjk"},
	{"standard", "standard", "standard"},
}

func openSet(t testing.TB, dir, index, query string) *shards.Set {
	t.Helper()
	texts := &memTexts{m: map[string]string{}}
	cfg := shards.Config{Dir: dir, IndexAnalyzer: index, QueryAnalyzer: query, Texts: texts}
	if index == jieba.AnalyzerIndex {
		cfg.Fingerprint = seg.Fingerprint
	}
	s, err := shards.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	setTexts.Store(s, texts)
	return s
}

// memTexts keeps the bodies that the lean index leaves out, as
// netpulse.posts does in serve: one per set, which tests fill by indexing
// through indexAll.
type memTexts struct {
	mu sync.Mutex
	m  map[string]string
}

func (t *memTexts) PostBodies(_ context.Context, ids []string) (map[string]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if b, ok := t.m[id]; ok {
			out[id] = b
		}
	}
	return out, nil
}

// setTexts finds the texts of a set opened by openSet.
var setTexts sync.Map // *shards.Set → *memTexts

// indexAll stores docs' bodies, then indexes docs, as the posts stage does.
func indexAll(s *shards.Set, ctx context.Context, docs []shards.Doc) error {
	v, _ := setTexts.Load(s)
	texts := v.(*memTexts)
	texts.mu.Lock()
	for _, d := range docs {
		texts.m[d.ID] = d.Body
	}
	texts.mu.Unlock()
	return s.Index(ctx, docs)
}

func newSearcher(t testing.TB, s *shards.Set) *Searcher {
	t.Helper()
	sr, err := NewSearcher(s, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}
