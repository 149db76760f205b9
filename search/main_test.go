package search

import (
	"os"
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
	cfg := shards.Config{Dir: dir, IndexAnalyzer: index, QueryAnalyzer: query}
	if index == jieba.AnalyzerIndex {
		cfg.Fingerprint = seg.Fingerprint
	}
	s, err := shards.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSearcher(t testing.TB, s *shards.Set) *Searcher {
	t.Helper()
	sr, err := NewSearcher(s, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}
