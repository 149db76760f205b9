// Package shards keeps the post search index as one Bleve (scorch) index per
// day under a data folder: it routes documents to their day, drops days past
// the retention, re-indexes a day into a new generation when the analyser
// changes and swaps it in atomically, and hands searchers a consistent set of
// indexes behind a Bleve IndexAlias.
package shards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/chinese/jieba"
)

// Doc is one post as the index holds it. ID is the document id, so indexing
// the same post again replaces it — within its day. A post re-published with
// a published_at on another day would exist in both days; the crawler keeps
// published_at stable for a post id.
type Doc struct {
	ID          string
	Source      string
	URL         string
	Title       string
	Body        string
	Author      string
	PublishedAt time.Time
	ClusterID   uint64
	// Cut, if the stage before made one, is the post's jieba cut; with
	// Config.Tokens set, the text fields are indexed from it instead of
	// being cut again (when it was made with the current dictionary).
	Cut *jieba.Cut
}

// Texts gives the bodies of posts by id from where they are kept anyway
// (ClickHouse's netpulse.posts): with it, the index keeps no copy of the
// body. Ids it does not know are left out of the answer.
type Texts interface {
	PostBodies(ctx context.Context, ids []string) (map[string]string, error)
}

// Tokens turns a field's words of a cut into the index analyser's tokens
// (jieba.Segmenter satisfies it).
type Tokens interface {
	IndexTokens(text string, spans []jieba.Span) analysis.TokenStream
	Usable(c *jieba.Cut, title, body string) bool
}

// Field names in the index.
const (
	FieldTitle     = "title"
	FieldBody      = "body"
	FieldSource    = "source"
	FieldAuthor    = "author"
	FieldURL       = "url"
	FieldPublished = "published_at"
	FieldDay       = "day"
	FieldCluster   = "cluster_id"
	// FieldSortKey orders posts newest first: the publication time in
	// fixed-width nanoseconds, then the post id. Sorting on it reads one
	// short doc value per match; sorting on published_at read its sixteen
	// prefix-coded terms, and a tie-break on _id loaded every match's id.
	FieldSortKey = "sort_key"
)

// SortKey is the FieldSortKey value of a post: SortKeyTime, "|", the id.
func SortKey(published time.Time, id string) string {
	return SortKeyTime(published) + "|" + id
}

// SortKeyTime is the time part of a sort key, SortKeyTimeLen bytes: the
// nanoseconds since 1970 (none before), zero-padded so that keys order as
// times do.
func SortKeyTime(t time.Time) string { return fmt.Sprintf("%020d", max(t.UnixNano(), 0)) }

// SortKeyTimeLen is the length of SortKeyTime's answer.
const SortKeyTimeLen = 20

// Config configures a Set.
type Config struct {
	Dir string
	// Retention: days that ended longer ago than this are dropped. 0 keeps all.
	Retention time.Duration
	// Location decides where days begin (Asia/Shanghai for a Chinese unit).
	// nil means UTC.
	Location *time.Location
	// IndexAnalyzer and QueryAnalyzer are Bleve analyser names for the text
	// fields (jieba.AnalyzerIndex and jieba.AnalyzerQuery in production).
	IndexAnalyzer string
	QueryAnalyzer string
	// Fingerprint names the analyser's current output (jieba's version and
	// dictionary). A day indexed under another fingerprint is stale until
	// Reindex rebuilds it. nil means the analyser never changes.
	Fingerprint func() string
	// Tokens, if set, indexes posts that carry a usable Cut from it; it
	// must produce what IndexAnalyzer would.
	Tokens Tokens
	// Texts, if set, makes the index lean: the body is indexed but not
	// stored; highlighting (search) and re-indexing read it from Texts.
	// nil stores the body in the index.
	Texts Texts
	// CompactAfter is how long after a day ends Run rebuilds its index in
	// one pass (and again after late posts reach it). A day written in
	// many small batches holds many small segments and a root file grown
	// by every commit: 100 single-post batches leave 1.1 MiB once scorch
	// has merged, where the same posts rebuilt take 0.1 MiB
	// (TestDayShardOverhead). The rebuild cuts every post again, so it
	// waits until the day has gone quiet. 0 means two hours; negative,
	// never.
	CompactAfter time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// shard is one generation of one day's index.
type shard struct {
	day  string // YYYYMMDD
	gen  int
	dir  string
	meta meta
	idx  bleve.Index
	refs sync.WaitGroup // searches holding this shard
	// dirty: written since it was built or opened; last: when. Both
	// guarded by writeMu.
	dirty bool
	last  time.Time
}

type meta struct {
	Day         string `json:"day"`
	Gen         int    `json:"gen"`
	Analyzer    string `json:"analyzer"`
	Fingerprint string `json:"fingerprint"`
	// Compacted: built in one pass after the day ended (see Compact).
	Compacted bool `json:"compacted,omitempty"`
}

// Set is the day-sharded index.
type Set struct {
	cfg Config
	log *slog.Logger

	// writeMu serialises writers with re-indexing, so that a re-index never
	// copies a document older than one written meanwhile.
	writeMu sync.Mutex

	mu     sync.RWMutex
	shards map[string]*shard
	alias  bleve.IndexAlias // every live shard; swapped under mu
	closed bool

	docs    *prometheus.CounterVec
	batches prometheus.Histogram
	live    prometheus.Gauge
}

// Open opens (or creates) the set in cfg.Dir. For every day it keeps the
// highest complete generation and removes leftovers of an interrupted
// re-index.
func Open(cfg Config) (*Set, error) {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Fingerprint == nil {
		fp := "static-" + cfg.IndexAnalyzer
		cfg.Fingerprint = func() string { return fp }
	}
	if cfg.IndexAnalyzer == "" || cfg.QueryAnalyzer == "" {
		return nil, errors.New("open shards: index and query analysers must be named")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open shards %s: %w", cfg.Dir, err)
	}
	s := &Set{
		cfg:    cfg,
		log:    cfg.Logger,
		shards: map[string]*shard{},
		alias:  bleve.NewIndexAlias(),
		docs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netpulse_search_docs_indexed_total", Help: "Posts written to the search index, by outcome."}, []string{"outcome"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "netpulse_search_batch_seconds", Help: "Time to index and persist one batch.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		live: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netpulse_search_shards", Help: "Live day indexes."}),
	}
	if cfg.Registerer != nil {
		if err := registerAll(cfg.Registerer, s.docs, s.batches, s.live); err != nil {
			return nil, fmt.Errorf("open shards: %w", err)
		}
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("open shards %s: %w", cfg.Dir, err)
	}
	best := map[string]meta{}
	for _, e := range entries {
		m, err := readMeta(filepath.Join(cfg.Dir, e.Name()))
		if err != nil || e.Name() != dirName(m.Day, m.Gen) {
			continue // incomplete generation; removed below
		}
		if m.Gen > best[m.Day].Gen {
			best[m.Day] = m
		}
	}
	for _, e := range entries {
		day, gen, ok := parseDirName(e.Name())
		if !ok {
			continue
		}
		if b, live := best[day]; live && b.Gen == gen {
			continue
		}
		if err := os.RemoveAll(filepath.Join(cfg.Dir, e.Name())); err != nil {
			return nil, fmt.Errorf("open shards: remove stale %s: %w", e.Name(), err)
		}
	}
	for day, m := range best {
		dir := filepath.Join(cfg.Dir, dirName(day, m.Gen))
		idx, err := bleve.Open(dir)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("open shard %s: %w", dir, err)
		}
		sh := &shard{day: day, gen: m.Gen, dir: dir, meta: m, idx: idx}
		s.shards[day] = sh
		s.alias.Add(idx)
	}
	s.live.Set(float64(len(s.shards)))
	return s, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func dirName(day string, gen int) string { return day + ".g" + strconv.Itoa(gen) }

func parseDirName(name string) (day string, gen int, ok bool) {
	day, g, ok := strings.Cut(name, ".g")
	if !ok || len(day) != 8 {
		return "", 0, false
	}
	gen, err := strconv.Atoi(g)
	return day, gen, err == nil
}

const metaFile = "netpulse-shard.json"

func readMeta(dir string) (meta, error) {
	var m meta
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(data, &m)
	return m, err
}

// writeMeta marks a generation complete; Open ignores folders without it.
func writeMeta(dir string, m meta) error {
	data, _ := json.Marshal(m)
	tmp := filepath.Join(dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, metaFile))
}

// MappingVersion is the version of NewMapping. Bump it when the fields or
// their options change: days built with another mapping become stale and are
// re-indexed like after a dictionary change.
const MappingVersion = 4

// fingerprint is what a day index records: analyser output and mapping.
func (s *Set) fingerprint() string {
	lean := ""
	if s.cfg.Texts != nil {
		lean = "-lean"
	}
	return fmt.Sprintf("%s/m%d%s", s.cfg.Fingerprint(), MappingVersion, lean)
}

// Texts is where the bodies of a lean index are; nil if the index stores
// them.
func (s *Set) Texts() Texts { return s.cfg.Texts }

// Day returns the shard key of t.
func (s *Set) Day(t time.Time) string { return t.In(s.cfg.Location).Format("20060102") }

// Mapping returns the index mapping of new shards.
func (s *Set) Mapping() mapping.IndexMapping {
	m := NewMapping(s.cfg.IndexAnalyzer)
	if s.cfg.Texts != nil {
		m.DefaultMapping.Properties[FieldBody].Fields[0].Store = false
	}
	return m
}

// NewMapping builds the post mapping with analyzer on the text fields.
// Nothing goes into _all and nothing is mapped dynamically: each extra field
// costs indexing time.
func NewMapping(analyzer string) *mapping.IndexMappingImpl {
	text := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = analyzer
		f.Store = true
		f.IncludeTermVectors = true // highlighting and phrase queries
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	keyword := func(store, docValues bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = store
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = docValues
		return f
	}
	url := mapping.NewTextFieldMapping()
	url.Index = false
	url.Store = true
	url.IncludeInAll = false
	url.IncludeTermVectors = false
	url.DocValues = false
	// The time is stored to show, not indexed: ranges use FieldSortKey
	// (search.TimeRange), as sorting does. Indexed, Bleve would write 16
	// prefix-coded terms per post.
	published := mapping.NewDateTimeFieldMapping()
	published.Index = false
	published.Store = true
	published.IncludeInAll = false
	published.DocValues = false

	doc := mapping.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(FieldTitle, text())
	doc.AddFieldMappingsAt(FieldBody, text())
	doc.AddFieldMappingsAt(FieldSource, keyword(true, true))
	doc.AddFieldMappingsAt(FieldAuthor, keyword(true, false))
	doc.AddFieldMappingsAt(FieldDay, keyword(false, true))
	doc.AddFieldMappingsAt(FieldCluster, keyword(true, false))
	doc.AddFieldMappingsAt(FieldSortKey, keyword(false, true))
	doc.AddFieldMappingsAt(FieldURL, url)
	doc.AddFieldMappingsAt(FieldPublished, published)

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = analyzer
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	return m
}

// indexed is the document as Bleve maps it.
type indexed struct {
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Source    string    `json:"source"`
	Author    string    `json:"author"`
	URL       string    `json:"url"`
	Published time.Time `json:"published_at"`
	Day       string    `json:"day"`
	Cluster   string    `json:"cluster_id"`
	SortKey   string    `json:"sort_key"`
}

func (s *Set) toIndexed(d *Doc) indexed {
	return indexed{
		Title: d.Title, Body: d.Body, Source: d.Source, Author: d.Author, URL: d.URL,
		Published: d.PublishedAt.UTC(), Day: s.Day(d.PublishedAt),
		Cluster: strconv.FormatUint(d.ClusterID, 10), SortKey: SortKey(d.PublishedAt, d.ID),
	}
}

// Index writes docs into their days' indexes and returns once they are
// persisted. Documents older than the retention are skipped (counted in
// netpulse_search_docs_indexed_total{outcome="expired"}).
func (s *Set) Index(ctx context.Context, docs []Doc) error {
	if len(docs) == 0 {
		return nil
	}
	start := time.Now()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	byDay := map[string][]*Doc{}
	cutoff := s.cutoff(time.Now())
	expired := 0
	for i := range docs {
		d := &docs[i]
		day := s.Day(d.PublishedAt)
		if cutoff != "" && day < cutoff {
			expired++
			continue
		}
		byDay[day] = append(byDay[day], d)
	}
	days := make([]string, 0, len(byDay))
	for day := range byDay {
		days = append(days, day)
	}
	sort.Strings(days)
	for _, day := range days {
		if err := ctx.Err(); err != nil {
			return err
		}
		sh, err := s.shardFor(day)
		if err != nil {
			return err
		}
		b := sh.idx.NewBatch()
		for _, d := range byDay[day] {
			if err := s.add(b, sh.idx.Mapping(), d); err != nil {
				return fmt.Errorf("index post %s: %w", d.ID, err)
			}
		}
		sh.dirty, sh.last = true, time.Now()
		if err := batch(sh.idx, b); err != nil {
			// What the failed batch left in memory may not match the disk
			// (a full disk mid-persist): start again from what is persisted.
			if rerr := s.reopen(sh); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return fmt.Errorf("index %d posts into day %s: %w", len(byDay[day]), day, err)
		}
	}
	s.docs.WithLabelValues("indexed").Add(float64(len(docs) - expired))
	s.docs.WithLabelValues("expired").Add(float64(expired))
	s.batches.Observe(time.Since(start).Seconds())
	return nil
}

// add puts d into b. A post with a usable cut is mapped as usual and then
// gets text fields that take their tokens from the cut: Bleve's mapping
// would cut it again through the named analyser.
func (s *Set) add(b *bleve.Batch, m mapping.IndexMapping, d *Doc) error {
	if s.cfg.Tokens == nil || !s.cfg.Tokens.Usable(d.Cut, d.Title, d.Body) {
		return b.Index(d.ID, s.toIndexed(d))
	}
	doc := document.NewDocument(d.ID)
	if err := m.MapDocument(doc, s.toIndexed(d)); err != nil {
		return err
	}
	for i, f := range doc.Fields {
		tf, ok := f.(*document.TextField)
		if !ok {
			continue
		}
		var text string
		var spans []jieba.Span
		switch f.Name() {
		case FieldTitle:
			text, spans = d.Title, d.Cut.Title
		case FieldBody:
			text, spans = d.Body, d.Cut.Body
		default:
			continue
		}
		doc.Fields[i] = document.NewTextFieldCustom(f.Name(), tf.ArrayPositions(), tf.Value(), tf.Options(),
			precut{s.cfg.Tokens, text, spans})
	}
	return b.IndexAdvanced(doc)
}

// precut is an analyser that makes a field's tokens from its cut. Scorch
// analyses a batch's documents on its own workers, so this runs there.
type precut struct {
	tok   Tokens
	text  string
	spans []jieba.Span
}

func (p precut) Analyze([]byte) analysis.TokenStream { return p.tok.IndexTokens(p.text, p.spans) }

// batch applies b, turning a panic inside Bleve into an error: scorch can
// panic on a batch after a failed persist (a full disk), and the caller
// retries without committing rather than losing the process.
func batch(idx bleve.Index, b *bleve.Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bleve batch panicked: %v", p)
		}
	}()
	return idx.Batch(b)
}

// reopen replaces sh by the same generation opened afresh from disk, after
// searches holding it are done. Caller holds writeMu. If it cannot be
// opened the day has no live shard and the next Index fails until it can.
func (s *Set) reopen(sh *shard) error {
	s.mu.Lock()
	if s.shards[sh.day] == sh {
		delete(s.shards, sh.day)
	}
	s.alias.Remove(sh.idx)
	s.mu.Unlock()
	sh.refs.Wait()
	func() {
		defer func() { recover() }() // a broken scorch may panic on close too
		sh.idx.Close()
	}()
	idx, err := bleve.Open(sh.dir)
	if err != nil {
		return fmt.Errorf("reopen shard %s: %w", sh.dir, err)
	}
	fresh := &shard{day: sh.day, gen: sh.gen, dir: sh.dir, meta: sh.meta, idx: idx}
	s.mu.Lock()
	s.shards[sh.day] = fresh
	s.alias.Add(idx)
	s.mu.Unlock()
	s.log.Warn("shard reopened from disk after a failed batch", "day", sh.day, "dir", sh.dir)
	return nil
}

// shardFor returns the live shard of day, creating generation 1 if needed.
// Caller holds writeMu.
func (s *Set) shardFor(day string) (*shard, error) {
	s.mu.RLock()
	sh, ok := s.shards[day]
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, errors.New("shards: closed")
	}
	if ok {
		return sh, nil
	}
	sh, err := s.create(day, 1)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.shards[day] = sh
	s.alias.Add(sh.idx)
	s.live.Set(float64(len(s.shards)))
	s.mu.Unlock()
	return sh, nil
}

// create makes a new, complete-marked generation of day. A generation made
// for re-indexing is marked only after it is filled (see reindexDay).
func (s *Set) create(day string, gen int) (*shard, error) {
	dir := filepath.Join(s.cfg.Dir, dirName(day, gen))
	idx, err := bleve.New(dir, s.Mapping())
	if err != nil {
		return nil, fmt.Errorf("create shard %s: %w", dir, err)
	}
	m := meta{Day: day, Gen: gen, Analyzer: s.cfg.IndexAnalyzer, Fingerprint: s.fingerprint()}
	sh := &shard{day: day, gen: gen, dir: dir, meta: m, idx: idx}
	if gen == 1 {
		if err := writeMeta(dir, m); err != nil {
			idx.Close()
			return nil, fmt.Errorf("create shard %s: %w", dir, err)
		}
	}
	return sh, nil
}

// Snapshot is a consistent view of some days for one search. Release it
// when the search is done; retired indexes close only after every snapshot
// holding them is released.
type Snapshot struct {
	Alias bleve.IndexAlias
	// Days are in ascending order; Indexes[i] holds Days[i]. Searchers
	// that need each day's own answer (its total is the day's facet
	// count; newest-first search stops at the days that fill a page) ask
	// the indexes one by one instead of through the alias.
	Days    []string
	Indexes []bleve.Index
	shards  []*shard
	once    sync.Once
}

// Release lets retired indexes close.
func (sn *Snapshot) Release() {
	sn.once.Do(func() {
		for _, sh := range sn.shards {
			sh.refs.Done()
		}
	})
}

// Snapshot returns the days overlapping [from, to] (zero times mean open
// ends) behind one IndexAlias.
func (s *Set) Snapshot(from, to time.Time) *Snapshot {
	lo, hi := "", "99999999"
	if !from.IsZero() {
		lo = s.Day(from)
	}
	if !to.IsZero() {
		hi = s.Day(to)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sn := &Snapshot{}
	for day, sh := range s.shards {
		if day < lo || day > hi {
			continue
		}
		sh.refs.Add(1)
		sn.shards = append(sn.shards, sh)
	}
	sort.Slice(sn.shards, func(i, j int) bool { return sn.shards[i].day < sn.shards[j].day })
	for _, sh := range sn.shards {
		sn.Days = append(sn.Days, sh.day)
		sn.Indexes = append(sn.Indexes, sh.idx)
	}
	sn.Alias = bleve.NewIndexAlias(sn.Indexes...)
	return sn
}

// Alias is the IndexAlias over every live day; Reindex and DropExpired
// change it atomically. Searches that must not see an index close under
// them use Snapshot instead.
func (s *Set) Alias() bleve.IndexAlias { return s.alias }

// Location is where this set's days begin.
func (s *Set) Location() *time.Location { return s.cfg.Location }

// QueryAnalyzer is the analyser name for text queries on this set.
func (s *Set) QueryAnalyzer() string { return s.cfg.QueryAnalyzer }

// Days lists the live days with their generation and fingerprint.
func (s *Set) Days() []DayInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]DayInfo, 0, len(s.shards))
	for _, sh := range s.shards {
		out = append(out, DayInfo{Day: sh.day, Gen: sh.gen, Fingerprint: sh.meta.Fingerprint, Dir: sh.dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out
}

// DayInfo describes one live day index.
type DayInfo struct {
	Day         string
	Gen         int
	Fingerprint string
	Dir         string
}

// cutoff returns the first day kept at now, or "" when everything is kept.
func (s *Set) cutoff(now time.Time) string {
	if s.cfg.Retention <= 0 {
		return ""
	}
	return s.Day(now.Add(-s.cfg.Retention))
}

// DropExpired removes the days before the retention cutoff at now.
func (s *Set) DropExpired(now time.Time) (dropped []string, err error) {
	cutoff := s.cutoff(now)
	if cutoff == "" {
		return nil, nil
	}
	s.mu.Lock()
	var old []*shard
	for day, sh := range s.shards {
		if day < cutoff {
			old = append(old, sh)
			delete(s.shards, day)
			s.alias.Remove(sh.idx)
			dropped = append(dropped, day)
		}
	}
	s.live.Set(float64(len(s.shards)))
	s.mu.Unlock()
	sort.Strings(dropped)
	for _, sh := range old {
		if e := s.retire(sh); e != nil {
			err = errors.Join(err, e)
		}
	}
	if len(dropped) > 0 {
		s.log.Info("dropped expired search days", "days", dropped, "cutoff", cutoff)
	}
	return dropped, err
}

// retire waits for searches holding sh, then closes and deletes it.
func (s *Set) retire(sh *shard) error {
	sh.refs.Wait()
	err := sh.idx.Close()
	if e := os.RemoveAll(sh.dir); e != nil {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("retire shard %s: %w", sh.dir, err)
	}
	return nil
}

// Stale lists the days indexed under another fingerprint than the current.
func (s *Set) Stale() []string {
	fp := s.fingerprint()
	var out []string
	for _, d := range s.Days() {
		if d.Fingerprint != fp {
			out = append(out, d.Day)
		}
	}
	return out
}

// Reindex rebuilds every stale day into a new generation from the documents
// stored in the old one and swaps it in. Searchers keep answering from the
// old generation until the swap. Writers wait while a day is being rebuilt
// (one day at a time, so a long re-index lets them through between days):
// a write racing the copy could otherwise be overwritten by an older copy.
func (s *Set) Reindex(ctx context.Context) (rebuilt []string, err error) {
	for _, day := range s.Stale() {
		if err := s.reindexDay(ctx, day); err != nil {
			return rebuilt, err
		}
		rebuilt = append(rebuilt, day)
	}
	return rebuilt, nil
}

func (s *Set) reindexDay(ctx context.Context, day string) error {
	// A day that has ended comes out of the one-pass rebuild as compact as
	// Compact would make it: marking it so spares every post a second cut
	// after a mapping upgrade. A late post still marks it dirty.
	ended := day < s.Day(time.Now())
	return s.rebuildDay(ctx, day, func(*shard) bool { return true }, ended)
}

// rebuildDay copies day into a new generation and swaps it in, if want
// says so of the live one (asked under writeMu); compacted marks the new
// generation as built after the day ended.
func (s *Set) rebuildDay(ctx context.Context, day string, want func(*shard) bool, compacted bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	old, ok := s.shards[day]
	s.mu.RUnlock()
	if !ok || !want(old) {
		return nil
	}
	fresh, err := s.create(day, old.gen+1)
	if err != nil {
		return err
	}
	fresh.meta.Compacted = compacted
	abandon := func(err error) error {
		fresh.idx.Close()
		os.RemoveAll(fresh.dir)
		return fmt.Errorf("reindex day %s: %w", day, err)
	}
	n, err := s.copyDocs(ctx, old.idx, fresh.idx)
	if err != nil {
		return abandon(err)
	}
	if err := writeMeta(fresh.dir, fresh.meta); err != nil {
		return abandon(err)
	}
	s.mu.Lock()
	s.shards[day] = fresh
	s.alias.Swap([]bleve.Index{fresh.idx}, []bleve.Index{old.idx})
	s.mu.Unlock()
	s.log.Info("rebuilt search day", "day", day, "gen", fresh.gen, "docs", n, "fingerprint", fresh.meta.Fingerprint,
		"compacted", compacted)
	return s.retire(old)
}

// Compact rebuilds, in one pass each, the days that ended at least
// CompactAfter before now and were not rebuilt since their last write.
// Searchers keep the old generation until the swap; writers to the day
// wait for it.
func (s *Set) Compact(ctx context.Context, now time.Time) (compacted []string, err error) {
	grace := s.cfg.CompactAfter
	if grace == 0 {
		grace = 2 * time.Hour
	}
	if grace < 0 {
		return nil, nil
	}
	// Days before this one ended at least grace ago.
	open := s.Day(now.Add(-grace))
	fp := s.fingerprint()
	for _, d := range s.Days() {
		if d.Day >= open || d.Fingerprint != fp {
			continue // still open, or stale: Reindex rebuilds it
		}
		done := false
		err := s.rebuildDay(ctx, d.Day, func(sh *shard) bool {
			// A day still being written (a backfill) waits until it is
			// quiet rather than being rebuilt again and again.
			done = (!sh.meta.Compacted || sh.dirty) && now.Sub(sh.last) >= compactQuiet
			return done
		}, true)
		if err != nil {
			return compacted, err
		}
		if done {
			compacted = append(compacted, d.Day)
		}
	}
	return compacted, nil
}

// copyDocs re-analyses every document stored in from into to.
func (s *Set) copyDocs(ctx context.Context, from, to bleve.Index) (int, error) {
	const page = 1000
	var after []string
	n := 0
	for {
		req := bleve.NewSearchRequestOptions(query.NewMatchAllQuery(), page, 0, false)
		req.Fields = []string{"*"}
		req.SortBy([]string{"_id"})
		if after != nil {
			req.SearchAfter = after
		}
		res, err := from.SearchInContext(ctx, req)
		if err != nil {
			return n, err
		}
		if len(res.Hits) == 0 {
			return n, nil
		}
		bodies, err := s.bodies(ctx, res.Hits)
		if err != nil {
			return n, err
		}
		b := to.NewBatch()
		for _, h := range res.Hits {
			d := s.fromStored(h.ID, h.Fields)
			if body, ok := bodies[h.ID]; ok {
				d.Body = body
			}
			if err := b.Index(h.ID, d); err != nil {
				return n, fmt.Errorf("copy %s: %w", h.ID, err)
			}
		}
		if err := to.Batch(b); err != nil {
			return n, err
		}
		n += len(res.Hits)
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
}

// bodies returns the bodies of the hits that the index does not store,
// from Texts; a body missing there too fails the re-index rather than
// leaving the post unsearchable.
func (s *Set) bodies(ctx context.Context, hits search.DocumentMatchCollection) (map[string]string, error) {
	var ids []string
	for _, h := range hits {
		if _, stored := h.Fields[FieldBody]; !stored {
			ids = append(ids, h.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if s.cfg.Texts == nil {
		return nil, fmt.Errorf("%d posts (%s, …) have no stored body and the set has no Texts to read it from", len(ids), ids[0])
	}
	bodies, err := s.cfg.Texts.PostBodies(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read %d bodies: %w", len(ids), err)
	}
	for _, id := range ids {
		if _, ok := bodies[id]; !ok {
			return nil, fmt.Errorf("post %s: body neither in the index nor in the store", id)
		}
	}
	return bodies, nil
}

// fromStored rebuilds the indexed document from its stored fields.
func (s *Set) fromStored(id string, f map[string]interface{}) indexed {
	str := func(k string) string { v, _ := f[k].(string); return v }
	d := indexed{
		Title: str(FieldTitle), Body: str(FieldBody), Source: str(FieldSource), Author: str(FieldAuthor),
		URL: str(FieldURL), Cluster: str(FieldCluster),
	}
	d.Published, _ = time.Parse(time.RFC3339Nano, str(FieldPublished))
	d.Day = s.Day(d.Published)
	d.SortKey = SortKey(d.Published, id)
	return d
}

// compactQuiet is how long a day must go without writes before Compact
// rebuilds it: late posts and backfills come in bursts.
const compactQuiet = 10 * time.Minute

// Run drops expired days every interval and compacts ended, quiet days
// (checked every minute) until ctx ends.
func (s *Set) Run(ctx context.Context, interval time.Duration) error {
	drop := time.NewTicker(interval)
	defer drop.Stop()
	compact := time.NewTicker(time.Minute)
	defer compact.Stop()
	for {
		if _, err := s.DropExpired(time.Now()); err != nil {
			s.log.Error("drop expired search days", "err", err)
		}
		for {
			if _, err := s.Compact(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Error("compact search days", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-compact.C:
				continue
			case <-drop.C:
			}
			break
		}
	}
}

// Close closes every index; in-flight snapshots must be released first.
func (s *Set) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeAllLocked()
}

func (s *Set) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeAllLocked()
}

func (s *Set) closeAllLocked() error {
	var err error
	for _, sh := range s.shards {
		sh.refs.Wait()
		if e := sh.idx.Close(); e != nil {
			err = errors.Join(err, fmt.Errorf("close shard %s: %w", sh.dir, e))
		}
	}
	return err
}
