package shards

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/netpulse/netpulse/chinese/jieba"
)

// corpusPost is one line of a corpus file (JSON lines).
type corpusPost struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Source    string    `json:"source"`
	Published time.Time `json:"published"`
}

func readCorpus(t testing.TB, path string, n int) []Doc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out []Doc
	for sc.Scan() && len(out) < n {
		var p corpusPost
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("corpus line %d: %v", len(out)+1, err)
		}
		out = append(out, Doc{ID: p.ID, Source: p.Source, Title: p.Title, Body: p.Body, Author: "a" + p.ID[len(p.ID)-3:],
			URL: "https://weibo.example/" + p.ID, PublishedAt: p.Published, ClusterID: uint64(len(out)/3 + 1)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIndexSizeBreakdown builds one index of a corpus per mapping variant,
// each changing one option of the production mapping, and prints the
// sizes: what each part of the index costs. Set NETPULSE_SIZE_CORPUS to a
// JSON-lines corpus (id, title, body, source, published) to run it.
func TestIndexSizeBreakdown(t *testing.T) {
	path := os.Getenv("NETPULSE_SIZE_CORPUS")
	if path == "" {
		t.Skip("NETPULSE_SIZE_CORPUS not set")
	}
	docs := readCorpus(t, path, envN("NETPULSE_SIZE_POSTS", 100000))
	days := map[string]int{}
	text := 0
	for _, d := range docs {
		days[d.PublishedAt.Format("20060102")]++
		text += len(d.Title) + len(d.Body)
	}
	t.Logf("%d posts, %d days, %.1f MiB of title+body", len(docs), len(days), float64(text)/(1<<20))
	field := func(m *mapping.IndexMappingImpl, name string) *mapping.FieldMapping {
		return m.DefaultMapping.Properties[name].Fields[0]
	}
	variants := []struct {
		name string
		edit func(m *mapping.IndexMappingImpl)
	}{
		{"production", func(*mapping.IndexMappingImpl) {}},
		{"body not stored", func(m *mapping.IndexMappingImpl) { field(m, FieldBody).Store = false }},
		{"title+body not stored", func(m *mapping.IndexMappingImpl) {
			field(m, FieldBody).Store = false
			field(m, FieldTitle).Store = false
		}},
		{"no term vectors", func(m *mapping.IndexMappingImpl) {
			field(m, FieldBody).IncludeTermVectors = false
			field(m, FieldTitle).IncludeTermVectors = false
		}},
		{"no term vectors, not stored", func(m *mapping.IndexMappingImpl) {
			for _, f := range []string{FieldBody, FieldTitle} {
				field(m, f).IncludeTermVectors = false
				field(m, f).Store = false
			}
		}},
		{"no title/body at all", func(m *mapping.IndexMappingImpl) {
			delete(m.DefaultMapping.Properties, FieldBody)
			delete(m.DefaultMapping.Properties, FieldTitle)
		}},
		{"published_at indexed (mapping v3)", func(m *mapping.IndexMappingImpl) { field(m, FieldPublished).Index = true }},
		{"no sort_key", func(m *mapping.IndexMappingImpl) { delete(m.DefaultMapping.Properties, FieldSortKey) }},
		{"no day", func(m *mapping.IndexMappingImpl) { delete(m.DefaultMapping.Properties, FieldDay) }},
		{"no cluster", func(m *mapping.IndexMappingImpl) { delete(m.DefaultMapping.Properties, FieldCluster) }},
		{"no url", func(m *mapping.IndexMappingImpl) { delete(m.DefaultMapping.Properties, FieldURL) }},
		{"no author", func(m *mapping.IndexMappingImpl) { delete(m.DefaultMapping.Properties, FieldAuthor) }},
		{"keywords skip freq/norm", func(m *mapping.IndexMappingImpl) {
			for _, f := range []string{FieldSource, FieldAuthor, FieldDay, FieldCluster, FieldSortKey} {
				field(m, f).SkipFreqNorm = true
			}
		}},
		{"text skip freq/norm", func(m *mapping.IndexMappingImpl) {
			for _, f := range []string{FieldBody, FieldTitle} {
				field(m, f).SkipFreqNorm = true
			}
		}},
	}
	base := t.TempDir()
	var s0 *Set
	if os.Getenv("NETPULSE_SIZE_VARIANTS") == "0" {
		variants = nil
	}
	for i, v := range variants {
		m := NewMapping(jieba.AnalyzerIndex)
		v.edit(m)
		dir := filepath.Join(base, fmt.Sprint(i))
		idx, err := bleve.New(dir, m)
		if err != nil {
			t.Fatal(err)
		}
		if s0 == nil {
			s0 = &Set{cfg: Config{Location: time.UTC}}
		}
		start := time.Now()
		for lo := 0; lo < len(docs); lo += 1000 {
			b := idx.NewBatch()
			for j := lo; j < min(lo+1000, len(docs)); j++ {
				if err := b.Index(docs[j].ID, s0.toIndexed(&docs[j])); err != nil {
					t.Fatal(err)
				}
			}
			if err := idx.Batch(b); err != nil {
				t.Fatal(err)
			}
		}
		took := time.Since(start)
		idx.Close()
		t.Logf("%-32s %7.1f MiB  %5.0f B/post  built in %s", v.name, float64(DirBytes(dir))/(1<<20),
			float64(DirBytes(dir))/float64(len(docs)), took.Round(time.Millisecond))
		os.RemoveAll(dir)
	}
	// The day-sharded set as production builds it: one index per day, so
	// with a corpus over years this is slow (each day's index is created
	// and persisted on its own). NETPULSE_SIZE_SET_POSTS bounds it.
	docs = docs[:min(len(docs), envN("NETPULSE_SIZE_SET_POSTS", len(docs)))]
	clear(days)
	for _, d := range docs {
		days[d.PublishedAt.Format("20060102")]++
	}
	dir := filepath.Join(base, "set")
	s, err := Open(Config{Dir: dir, IndexAnalyzer: jieba.AnalyzerIndex, QueryAnalyzer: jieba.AnalyzerQuery, Fingerprint: seg.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(docs); lo += 1000 {
		if err := s.Index(context.Background(), docs[lo:min(lo+1000, len(docs))]); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	var files []string
	sizes := map[string]int64{}
	blocks := map[string]int64{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			info, _ := e.Info()
			kind := filepath.Ext(p)
			if kind == "" {
				kind = filepath.Base(p)
			}
			if sizes[kind] == 0 {
				files = append(files, kind)
			}
			sizes[kind] += info.Size()
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				blocks[kind] += st.Blocks * 512
			}
		}
		return nil
	})
	sort.Strings(files)
	t.Logf("day-sharded set: %d posts, %.1f MiB over %d days (%.0f KiB a day)", len(docs), float64(DirBytes(dir))/(1<<20),
		len(days), float64(DirBytes(dir))/1024/float64(len(days)))
	for _, k := range files {
		t.Logf("  %-24s %7.1f MiB (%.1f MiB allocated on disk)", k, float64(sizes[k])/(1<<20), float64(blocks[k])/(1<<20))
	}
}

func envN(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

// TestDayShardOverhead prints what one day's index costs on disk beyond its
// segments, after k single-post batches (as a live day gets them) and after
// the day is rebuilt into a new generation in one pass. Set
// NETPULSE_SIZE_CORPUS (any value) to run it.
func TestDayShardOverhead(t *testing.T) {
	if os.Getenv("NETPULSE_SIZE_CORPUS") == "" {
		t.Skip("NETPULSE_SIZE_CORPUS not set")
	}
	for _, k := range []int{1, 10, 100, 1000} {
		dir := t.TempDir()
		s := openJieba(t, dir, 0)
		for i := 0; i < k; i++ {
			if err := s.Index(context.Background(), []Doc{post(fmt.Sprintf("p%d", i), 3, "临江区发生一起电信诈骗案，警方提醒市民注意防范。")}); err != nil {
				t.Fatal(err)
			}
		}
		live := DirBytes(dir)
		time.Sleep(5 * time.Second) // scorch merges and removes files in the background
		settled := DirBytes(dir)
		if err := s.reindexDay(context.Background(), s.Day(day(3))); err != nil {
			t.Fatal(err)
		}
		s.Close()
		t.Logf("%4d batches: %6.1f KiB, 5 s later %6.1f KiB; rebuilt in one pass: %6.1f KiB", k, float64(live)/1024,
			float64(settled)/1024, float64(DirBytes(dir))/1024)
	}
}
