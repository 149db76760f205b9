package search

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/netpulse/netpulse/search/shards"
)

func loadCorpus(t testing.TB) []shards.Doc {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []shards.Doc
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p corpusPost
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, shards.Doc{ID: p.ID, Source: p.Source, Author: p.Author, Title: p.Title, Body: p.Body, PublishedAt: p.PublishedAt})
	}
	return docs
}

type scores struct {
	p10, recall, precision float64 // means over the queries
	perQuery               map[string][3]float64
}

// evaluate runs every judged query through the production query path
// (ParseQuery, BuildQuery) and scores precision@10, recall over all hits,
// and precision over all hits.
func evaluate(t testing.TB, s *shards.Set, judgments map[string][]string) scores {
	t.Helper()
	sc := scores{perQuery: map[string][3]float64{}}
	snap := s.Snapshot(time.Time{}, time.Time{})
	defer snap.Release()
	for q, rel := range judgments {
		relevant := map[string]bool{}
		for _, id := range rel {
			relevant[id] = true
		}
		clauses, err := ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		req := bleve.NewSearchRequestOptions(BuildQuery(clauses, s.QueryAnalyzer(), time.Time{}, time.Time{}), 10000, 0, false)
		req.SortBy([]string{"-_score", "_id"})
		res, err := snap.Alias.SearchInContext(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		hitsRel, top := 0, 0
		for i, h := range res.Hits {
			if relevant[h.ID] {
				hitsRel++
				if i < 10 {
					top++
				}
			}
		}
		p10 := float64(top) / 10
		recall := float64(hitsRel) / float64(len(rel))
		prec := 0.0
		if len(res.Hits) > 0 {
			prec = float64(hitsRel) / float64(len(res.Hits))
		}
		sc.perQuery[q] = [3]float64{p10, recall, prec}
		sc.p10 += p10
		sc.recall += recall
		sc.precision += prec
	}
	n := float64(len(judgments))
	sc.p10, sc.recall, sc.precision = sc.p10/n, sc.recall/n, sc.precision/n
	return sc
}

// TestRelevance compares jieba with Bleve's cjk bigrams and the standard
// analyser on the judged fixture, and fails if jieba stops beating bigrams.
func TestRelevance(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes the fixture corpus three times")
	}
	docs := loadCorpus(t)
	var judgments map[string][]string
	data, err := os.ReadFile(filepath.Join("testdata", "judgments.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &judgments); err != nil {
		t.Fatal(err)
	}
	if len(docs) < 2000 || len(judgments) < 30 {
		t.Fatalf("fixture has %d posts and %d queries; want at least 2000 and 30", len(docs), len(judgments))
	}
	results := map[string]scores{}
	for _, a := range analyzers {
		s := openSet(t, t.TempDir(), a.index, a.query)
		if err := indexAll(s, context.Background(), docs); err != nil {
			t.Fatal(err)
		}
		results[a.name] = evaluate(t, s, judgments)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-10s %8s %8s %8s\n", "analyser", "P@10", "recall", "prec")
	for _, a := range analyzers {
		r := results[a.name]
		fmt.Fprintf(&report, "%-10s %8.3f %8.3f %8.3f\n", a.name, r.p10, r.recall, r.precision)
	}
	queries := make([]string, 0, len(judgments))
	for q := range judgments {
		queries = append(queries, q)
	}
	sort.Strings(queries)
	fmt.Fprintf(&report, "\n%-8s %5s | %-17s | %-17s | %-17s  (P@10 recall prec)\n", "query", "rel", "jieba", "cjk", "standard")
	for _, q := range queries {
		fmt.Fprintf(&report, "%-8s %5d", q, len(judgments[q]))
		for _, a := range analyzers {
			v := results[a.name].perQuery[q]
			fmt.Fprintf(&report, " | %.2f %.2f %.2f", v[0], v[1], v[2])
		}
		fmt.Fprintln(&report)
	}
	t.Log("\n" + report.String())
	j, c := results["jieba"], results["cjk"]
	if j.p10 <= c.p10 {
		t.Errorf("jieba P@10 %.3f does not beat cjk bigrams' %.3f", j.p10, c.p10)
	}
	if f1(j) <= f1(c) {
		t.Errorf("jieba F1 over all hits %.3f does not beat cjk bigrams' %.3f", f1(j), f1(c))
	}
}

func f1(s scores) float64 {
	if s.precision+s.recall == 0 {
		return 0
	}
	return 2 * s.precision * s.recall / (s.precision + s.recall)
}
