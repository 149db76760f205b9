package search

import (
	"context"
	"fmt"
	"sync"

	"github.com/blevesearch/bleve/v2"
	blevesearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/netpulse/netpulse/search/shards"
)

// Source facets are counted here, not by Bleve. Bleve's terms facet reads
// each match's doc values (find the chunk, unpack it, search it for the
// document, turn the bytes into a string, look it up in a map): half of a
// faceted query's CPU at a million posts. Instead, each day's index view
// gets a table from document number to source, built once from the
// source terms' postings (a day's worth of documents, about a millisecond)
// and kept while the view lasts: a closed day's view changes only when
// its segments merge. Counting is then one array read per match.

// sourceTable maps the document numbers of one index view to sources.
type sourceTable struct {
	reader index.IndexReader // the view it was built from
	once   sync.Once
	err    error
	names  []string // ordinal-1 → source
	ords   []uint16 // document number → ordinal (0: no source)
}

func (t *sourceTable) build(ctx context.Context) {
	t.once.Do(func() { t.err = t.load(ctx) })
}

func (t *sourceTable) load(ctx context.Context) error {
	dict, err := t.reader.FieldDict(shards.FieldSource)
	if err != nil {
		return fmt.Errorf("source terms: %w", err)
	}
	for {
		e, err := dict.Next()
		if err != nil {
			dict.Close()
			return fmt.Errorf("source terms: %w", err)
		}
		if e == nil {
			break
		}
		t.names = append(t.names, e.Term)
	}
	dict.Close()
	if len(t.names) >= 1<<16 {
		return fmt.Errorf("%d sources in one day: more than the table holds", len(t.names))
	}
	var doc index.TermFieldDoc
	for i, name := range t.names {
		tfr, err := t.reader.TermFieldReader(ctx, []byte(name), shards.FieldSource, false, false, false)
		if err != nil {
			return fmt.Errorf("source %q postings: %w", name, err)
		}
		for {
			d, err := tfr.Next(&doc)
			if err != nil {
				tfr.Close()
				return fmt.Errorf("source %q postings: %w", name, err)
			}
			if d == nil {
				break
			}
			n := d.ID.Value()
			if n >= uint64(len(t.ords)) {
				t.ords = append(t.ords, make([]uint16, int(n)+1-len(t.ords))...)
			}
			t.ords[n] = uint16(i + 1)
		}
		tfr.Close()
	}
	return nil
}

// sourceTables keeps the latest table of each day's index.
type sourceTables struct {
	mu     sync.Mutex
	tables map[bleve.Index]*sourceTable
}

// forView returns the table of the view r of idx, building it if the view
// is new. The previous view's table is dropped.
func (st *sourceTables) forView(ctx context.Context, idx bleve.Index, r index.IndexReader) (*sourceTable, error) {
	st.mu.Lock()
	if st.tables == nil {
		st.tables = map[bleve.Index]*sourceTable{}
	}
	t := st.tables[idx]
	if t == nil || t.reader != r {
		t = &sourceTable{reader: r}
		st.tables[idx] = t
	}
	st.mu.Unlock()
	t.build(ctx)
	return t, t.err
}

// forget drops tables of indexes no longer searched (retired days).
func (st *sourceTables) forget(live map[bleve.Index]bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for idx := range st.tables {
		if !live[idx] {
			delete(st.tables, idx)
		}
	}
}

// countSources returns ctx set up so that a search of idx counts the
// sources of all its matches into counts (by name), alongside Bleve's
// usual top-N collection. counts is written when that search ends.
//
// The request must not let Bleve stop early (Score "none" with a score
// sort does, when it has no facets of its own): counts must see every
// match.
func (st *sourceTables) countSources(ctx context.Context, idx bleve.Index, counts map[string]int) context.Context {
	var table *sourceTable
	var tally []int
	mk := blevesearch.MakeDocumentMatchHandler(func(sc *blevesearch.SearchContext) (blevesearch.DocumentMatchHandler, bool, error) {
		topN, loadID, err := collector.MakeTopNDocumentMatchHandler(sc)
		if err != nil {
			return nil, false, err
		}
		if table, err = st.forView(ctx, idx, sc.IndexReader); err != nil {
			return nil, false, err
		}
		tally = make([]int, len(table.names)+1)
		return func(d *blevesearch.DocumentMatch) error {
			if d == nil { // the end: hand over the counts
				for i, n := range tally[1:] {
					if n > 0 {
						counts[table.names[i]] += n
					}
				}
				return topN(nil)
			}
			// Before topN: it may return d to the pool.
			if n := d.IndexInternalID.Value(); n < uint64(len(table.ords)) {
				tally[table.ords[n]]++
			}
			return topN(d)
		}, loadID, nil
	})
	return context.WithValue(ctx, blevesearch.MakeDocumentMatchHandlerKey, mk)
}
