package search

import (
	"context"
	"reflect"
	"testing"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

// TestLeanIndexAnswersAsStored: an index that keeps no bodies (they come
// from the store for the page's hits) gives the same answers, highlighted
// fragments included, as one that stores them.
func TestLeanIndexAnswersAsStored(t *testing.T) {
	docs := append(newPostGen(600, 3).take(600), fixture...)
	lean := openSet(t, t.TempDir(), jieba.AnalyzerIndex, jieba.AnalyzerQuery)
	if err := indexAll(lean, context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	stored, err := shards.Open(shards.Config{Dir: t.TempDir(), IndexAnalyzer: jieba.AnalyzerIndex,
		QueryAnalyzer: jieba.AnalyzerQuery, Fingerprint: seg.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	defer stored.Close()
	if err := stored.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if stored.Texts() != nil || lean.Texts() == nil {
		t.Fatal("one set must store bodies and the other not")
	}
	fragments := 0
	for _, req := range []Request{
		{Query: "诈骗"}, {Query: `"电信诈骗"`}, {Query: "火灾 -电动车"}, {Query: "临江区", SortTime: true},
		{Query: "title:火灾"}, {Query: "诈骗", Facets: true, Collapse: true},
	} {
		want, err := newSearcher(t, stored).Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := newSearcher(t, lean).Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got.TookMS, want.TookMS = 0, 0
		if len(got.Hits) != len(want.Hits) {
			t.Fatalf("%+v: %d hits, stored %d", req, len(got.Hits), len(want.Hits))
		}
		for i := range got.Hits {
			if !reflect.DeepEqual(got.Hits[i], want.Hits[i]) {
				t.Fatalf("%+v: hit %d\n%+v\nstored\n%+v", req, i, got.Hits[i], want.Hits[i])
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v: lean index answered\n%+v\nstored\n%+v", req, got, want)
		}
		for _, h := range got.Hits {
			fragments += len(h.Fragments)
		}
	}
	if fragments == 0 {
		t.Fatal("no fragments at all: the comparison proves nothing")
	}
}
