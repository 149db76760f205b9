package scatter

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/netpulse/netpulse/search/shards"
)

// Stats are the figures Bleve's TF-IDF scoring reads from an index, per
// day shard: the live document count, the document frequency of every
// term the query looked up, and the terms a range query enumerated from
// the dictionary. Summed over the nodes, they are the figures of one index
// holding every node's posts of that day.
type Stats struct {
	Days map[string]*DayStats `json:"days"`
}

// DayStats are one day's figures.
type DayStats struct {
	Docs  uint64      `json:"docs"`
	Terms []TermStat  `json:"terms,omitempty"`
	Dicts []DictStats `json:"dicts,omitempty"`
}

// TermStat is the document frequency of one term of one field.
type TermStat struct {
	Field   string `json:"field"`
	Term    []byte `json:"term"` // numeric terms are binary
	DocFreq uint64 `json:"df"`
}

// DictStats are the terms of field between First and Last that the query
// enumerated (date ranges do).
type DictStats struct {
	Field string   `json:"field"`
	First []byte   `json:"first"`
	Last  []byte   `json:"last"`
	Terms [][]byte `json:"terms"`
}

type termKey struct{ field, term string }
type dictKey struct{ field, first, last string }

// dayAcc accumulates one day's stats; add sums another node's.
type dayAcc struct {
	docs  uint64
	terms map[termKey]uint64
	dicts map[dictKey]map[string]bool
}

func newDayAcc() *dayAcc {
	return &dayAcc{terms: map[termKey]uint64{}, dicts: map[dictKey]map[string]bool{}}
}

func (d *dayAcc) add(s *DayStats) {
	d.docs += s.Docs
	for _, t := range s.Terms {
		d.terms[termKey{t.Field, string(t.Term)}] += t.DocFreq
	}
	for _, ds := range s.Dicts {
		k := dictKey{ds.Field, string(ds.First), string(ds.Last)}
		if d.dicts[k] == nil {
			d.dicts[k] = map[string]bool{}
		}
		for _, t := range ds.Terms {
			d.dicts[k][string(t)] = true
		}
	}
}

func (d *dayAcc) stats() *DayStats {
	out := &DayStats{Docs: d.docs}
	for k, n := range d.terms {
		out.Terms = append(out.Terms, TermStat{Field: k.field, Term: []byte(k.term), DocFreq: n})
	}
	sort.Slice(out.Terms, func(i, j int) bool {
		if out.Terms[i].Field != out.Terms[j].Field {
			return out.Terms[i].Field < out.Terms[j].Field
		}
		return bytes.Compare(out.Terms[i].Term, out.Terms[j].Term) < 0
	})
	for k, set := range d.dicts {
		ds := DictStats{Field: k.field, First: []byte(k.first), Last: []byte(k.last)}
		for t := range set {
			ds.Terms = append(ds.Terms, []byte(t))
		}
		sort.Slice(ds.Terms, func(i, j int) bool { return bytes.Compare(ds.Terms[i], ds.Terms[j]) < 0 })
		out.Dicts = append(out.Dicts, ds)
	}
	return out
}

// Merge sums the stats of several nodes.
func Merge(parts ...*Stats) *Stats {
	acc := map[string]*dayAcc{}
	for _, p := range parts {
		if p == nil {
			continue
		}
		for day, ds := range p.Days {
			if acc[day] == nil {
				acc[day] = newDayAcc()
			}
			acc[day].add(ds)
		}
	}
	out := &Stats{Days: map[string]*DayStats{}}
	for day, a := range acc {
		out.Days[day] = a.stats()
	}
	return out
}

// statsQuery wraps a query so that its searchers see the index through a
// reader that either records the figures scoring reads (collect) or
// answers them from the cluster-wide sums (apply). Bleve's own pre-search
// carries only BM25's document count and field lengths, not per-term
// document frequencies, and none at all for TF-IDF, which the post index
// uses; wrapping the reader gives the exact figures of one big index.
type statsQuery struct {
	inner   query.Query
	collect *collector  // record mode
	global  *Stats      // apply mode
	lookup  globalIndex // built from global
}

type collector struct {
	mu   sync.Mutex
	days map[string]*dayAcc
}

func (c *collector) stats() *Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &Stats{Days: map[string]*DayStats{}}
	for d, a := range c.days {
		out.Days[d] = a.stats()
	}
	return out
}

type globalIndex map[string]*globalDay

type globalDay struct {
	docs  uint64
	terms map[termKey]uint64
	dicts map[dictKey][][]byte
}

func indexStats(s *Stats) globalIndex {
	out := globalIndex{}
	for day, ds := range s.Days {
		g := &globalDay{docs: ds.Docs, terms: map[termKey]uint64{}, dicts: map[dictKey][][]byte{}}
		for _, t := range ds.Terms {
			g.terms[termKey{t.Field, string(t.Term)}] = t.DocFreq
		}
		for _, d := range ds.Dicts {
			g.dicts[dictKey{d.Field, string(d.First), string(d.Last)}] = d.Terms
		}
		out[day] = g
	}
	return out
}

func collectQuery(q query.Query) (*statsQuery, *collector) {
	c := &collector{days: map[string]*dayAcc{}}
	return &statsQuery{inner: q, collect: c}, c
}

func applyQuery(q query.Query, global *Stats) *statsQuery {
	return &statsQuery{inner: q, global: global, lookup: indexStats(global)}
}

func (q *statsQuery) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	day, err := dayOf(r)
	if err != nil {
		return nil, err
	}
	if q.collect != nil {
		q.collect.mu.Lock()
		acc := q.collect.days[day]
		if acc == nil {
			acc = newDayAcc()
			q.collect.days[day] = acc
		}
		q.collect.mu.Unlock()
		return q.inner.Searcher(ctx, &recordingReader{IndexReader: r, acc: acc, mu: &q.collect.mu}, m, opts)
	}
	g := q.lookup[day]
	if g == nil {
		// A day the stats round did not see (it appeared in between):
		// score it with local figures rather than fail the search.
		return q.inner.Searcher(ctx, r, m, opts)
	}
	return q.inner.Searcher(ctx, &globalReader{IndexReader: r, g: g}, m, opts)
}

// dayOf names the day of a day shard: the one term of its day field.
func dayOf(r index.IndexReader) (string, error) {
	fd, err := r.FieldDict(shards.FieldDay)
	if err != nil {
		return "", fmt.Errorf("day of shard: %w", err)
	}
	defer fd.Close()
	e, err := fd.Next()
	if err != nil {
		return "", fmt.Errorf("day of shard: %w", err)
	}
	if e == nil {
		return "", nil // an empty shard
	}
	return e.Term, nil
}

// recordingReader notes what scoring reads. Embedding the interface hides
// the optional IndexReaderContains, which sends range queries through
// FieldDictRange, where their terms can be recorded and later replaced.
type recordingReader struct {
	index.IndexReader
	mu  *sync.Mutex
	acc *dayAcc
}

func (r *recordingReader) DocCount() (uint64, error) {
	n, err := r.IndexReader.DocCount()
	if err == nil {
		r.mu.Lock()
		r.acc.docs = n
		r.mu.Unlock()
	}
	return n, err
}

func (r *recordingReader) TermFieldReader(ctx context.Context, term []byte, field string, freq, norm, vectors bool) (index.TermFieldReader, error) {
	tfr, err := r.IndexReader.TermFieldReader(ctx, term, field, freq, norm, vectors)
	if err == nil {
		r.mu.Lock()
		r.acc.terms[termKey{field, string(term)}] = tfr.Count()
		r.mu.Unlock()
	}
	return tfr, err
}

func (r *recordingReader) FieldDictRange(field string, first, last []byte) (index.FieldDict, error) {
	fd, err := r.IndexReader.FieldDictRange(field, first, last)
	if err != nil {
		return nil, err
	}
	k := dictKey{field, string(first), string(last)}
	r.mu.Lock()
	if r.acc.dicts[k] == nil {
		r.acc.dicts[k] = map[string]bool{}
	}
	set := r.acc.dicts[k]
	r.mu.Unlock()
	return &recordingDict{FieldDict: fd, mu: r.mu, set: set}, nil
}

type recordingDict struct {
	index.FieldDict
	mu  *sync.Mutex
	set map[string]bool
}

func (d *recordingDict) Next() (*index.DictEntry, error) {
	e, err := d.FieldDict.Next()
	if e != nil {
		d.mu.Lock()
		d.set[e.Term] = true
		d.mu.Unlock()
	}
	return e, err
}

// globalReader answers scoring's figures from the cluster-wide sums.
type globalReader struct {
	index.IndexReader
	g *globalDay
}

func (r *globalReader) DocCount() (uint64, error) { return r.g.docs, nil }

func (r *globalReader) TermFieldReader(ctx context.Context, term []byte, field string, freq, norm, vectors bool) (index.TermFieldReader, error) {
	tfr, err := r.IndexReader.TermFieldReader(ctx, term, field, freq, norm, vectors)
	if err != nil {
		return nil, err
	}
	if n, ok := r.g.terms[termKey{field, string(term)}]; ok {
		return &countedTFR{TermFieldReader: tfr, count: n}, nil
	}
	return tfr, nil
}

func (r *globalReader) FieldDictRange(field string, first, last []byte) (index.FieldDict, error) {
	terms, ok := r.g.dicts[dictKey{field, string(first), string(last)}]
	if !ok {
		return r.IndexReader.FieldDictRange(field, first, last)
	}
	return &listDict{terms: terms}, nil
}

// countedTFR is a term's postings on this node with the cluster's
// document frequency.
type countedTFR struct {
	index.TermFieldReader
	count uint64
}

func (t *countedTFR) Count() uint64 { return t.count }

// listDict enumerates the cluster's terms of a range, so that every node
// builds the same disjunction (Bleve scales a disjunction's score by the
// share of its clauses that match).
type listDict struct {
	terms [][]byte
	i     int
}

func (d *listDict) Next() (*index.DictEntry, error) {
	if d.i >= len(d.terms) {
		return nil, nil
	}
	e := &index.DictEntry{Term: string(d.terms[d.i])}
	d.i++
	return e, nil
}
func (d *listDict) Close() error      { return nil }
func (d *listDict) Cardinality() int  { return len(d.terms) }
func (d *listDict) BytesRead() uint64 { return 0 }
