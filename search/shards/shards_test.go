package shards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/netpulse/netpulse/chinese/jieba"
)

var seg *jieba.Segmenter

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shards-jieba")
	if err != nil {
		panic(err)
	}
	seg, err = jieba.Open(dir)
	if err != nil {
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

func openJieba(t *testing.T, dir string, retention time.Duration) *Set {
	t.Helper()
	s, err := Open(Config{Dir: dir, Retention: retention, IndexAnalyzer: jieba.AnalyzerIndex,
		QueryAnalyzer: jieba.AnalyzerQuery, Fingerprint: seg.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func day(d int) time.Time { return time.Date(2026, 11, d, 9, 30, 0, 0, time.UTC) }

func post(id string, d int, body string) Doc {
	return Doc{ID: id, Source: "weibo", Title: "标题" + id, Body: body, Author: "a", PublishedAt: day(d), ClusterID: 7}
}

func count(t *testing.T, s *Set, q query.Query) uint64 {
	t.Helper()
	sn := s.Snapshot(time.Time{}, time.Time{})
	defer sn.Release()
	res, err := sn.Alias.Search(bleve.NewSearchRequest(q))
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

func match(s *Set, text string) query.Query {
	m := query.NewMatchQuery(text)
	m.SetField(FieldBody)
	m.Analyzer = s.QueryAnalyzer()
	return m
}

func TestReplayedBatchDoesNotDuplicate(t *testing.T) {
	s := openJieba(t, t.TempDir(), 0)
	batch := []Doc{
		post("p1", 27, "临江区发生一起电信诈骗案"),
		post("p2", 28, "滨江路发生交通事故"),
		post("p3", 28, "北湖镇突发火灾"),
	}
	ctx := context.Background()
	for range 3 {
		if err := s.Index(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, query.NewMatchAllQuery()); n != 3 {
		t.Errorf("after three replays: %d documents, want 3", n)
	}
	if n := count(t, s, match(s, "诈骗")); n != 1 {
		t.Errorf("诈骗 matches %d documents, want 1", n)
	}
	if got := len(s.Days()); got != 2 {
		t.Errorf("%d days, want 2", got)
	}
}

func TestReopenKeepsDays(t *testing.T) {
	dir := t.TempDir()
	s := openJieba(t, dir, 0)
	if err := s.Index(context.Background(), []Doc{post("p1", 27, "火灾"), post("p2", 28, "洪水")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// An interrupted re-index leaves a generation without its marker.
	if err := os.MkdirAll(filepath.Join(dir, dirName("20261128", 2)), 0o750); err != nil {
		t.Fatal(err)
	}
	s2 := openJieba(t, dir, 0)
	if n := count(t, s2, query.NewMatchAllQuery()); n != 2 {
		t.Errorf("reopened: %d documents, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(dir, dirName("20261128", 2))); !os.IsNotExist(err) {
		t.Errorf("incomplete generation not removed: %v", err)
	}
}

func TestDropExpired(t *testing.T) {
	dir := t.TempDir()
	s := openJieba(t, dir, 48*time.Hour)
	now := time.Now().UTC()
	docs := []Doc{
		{ID: "old", Source: "s", Body: "旧闻火灾", PublishedAt: now.Add(-72 * time.Hour)},
		{ID: "mid", Source: "s", Body: "昨日火灾", PublishedAt: now.Add(-24 * time.Hour)},
		{ID: "new", Source: "s", Body: "今日火灾", PublishedAt: now},
	}
	// Index as if the clock were three days back, so "old" is accepted.
	s.cfg.Retention = 0
	if err := s.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	s.cfg.Retention = 48 * time.Hour
	oldDir := filepath.Join(dir, dirName(s.Day(docs[0].PublishedAt), 1))
	if _, err := os.Stat(oldDir); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.DropExpired(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != s.Day(docs[0].PublishedAt) {
		t.Fatalf("dropped %v, want the day of the old post", dropped)
	}
	if _, err := os.Stat(oldDir); !os.IsNotExist(err) {
		t.Errorf("old day's folder still there: %v", err)
	}
	if n := count(t, s, match(s, "火灾")); n != 2 {
		t.Errorf("火灾 matches %d, want 2 after the drop", n)
	}
	// A late post for a dropped day is not indexed again.
	if err := s.Index(context.Background(), docs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oldDir); !os.IsNotExist(err) {
		t.Errorf("expired post recreated its day: %v", err)
	}
}

// TestReloadReindexSwapWhileSearching changes the dictionary, re-indexes
// into a new generation and swaps it in while searches run; no search may
// fail, and afterwards the new word is a single token in index and query.
func TestReloadReindexSwapWhileSearching(t *testing.T) {
	dir := t.TempDir()
	s := openJieba(t, dir, 0)
	ctx := context.Background()
	var docs []Doc
	for i := range 300 {
		docs = append(docs, post(fmt.Sprintf("p%03d", i), 20+i%5, fmt.Sprintf("第%d起：嫌疑人通过蓝鲸跑腿平台诱骗受害人刷单，涉案%d元", i, 1000+i)))
	}
	docs = append(docs, post("other", 22, "市民在蓝鲸馆参观，之后帮邻居跑腿买菜"))
	if err := s.Index(ctx, docs); err != nil {
		t.Fatal(err)
	}
	// Before the word is known, the query is cut into parts that also match
	// the unrelated post.
	if n := count(t, s, match(s, "蓝鲸跑腿")); n != 301 {
		t.Fatalf("before reload: %d matches, want 301", n)
	}

	stop := make(chan struct{})
	var searches, failures atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sn := s.Snapshot(time.Time{}, time.Time{})
				res, err := sn.Alias.Search(bleve.NewSearchRequest(match(s, "刷单")))
				sn.Release()
				searches.Add(1)
				if err != nil || res.Total != 300 {
					failures.Add(1)
					t.Errorf("search during reindex: total=%v err=%v", res, err)
					return
				}
			}
		}()
	}

	user := filepath.Join(t.TempDir(), "userdict.utf8")
	shipped, err := os.ReadFile(seg.Paths().Domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(user, append(shipped, "蓝鲸跑腿 3000 n\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.LoadUserDict(seg.Paths().Domain) })
	if changed, err := seg.LoadUserDict(user); err != nil || !changed {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if got := len(s.Stale()); got != 5 {
		t.Errorf("%d stale days after the reload, want 5", got)
	}
	rebuilt, err := s.Reindex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let searchers run on the new generation too
	close(stop)
	wg.Wait()
	if len(rebuilt) != 5 || len(s.Stale()) != 0 {
		t.Errorf("rebuilt %v, stale after: %v", rebuilt, s.Stale())
	}
	if searches.Load() == 0 || failures.Load() != 0 {
		t.Errorf("%d searches, %d failures", searches.Load(), failures.Load())
	}
	if n := count(t, s, match(s, "蓝鲸跑腿")); n != 300 {
		t.Errorf("after reindex: %d matches, want 300 (the unrelated post no longer matches)", n)
	}
	for _, d := range s.Days() {
		if d.Gen != 2 {
			t.Errorf("day %s at generation %d, want 2", d.Day, d.Gen)
		}
		if _, err := os.Stat(filepath.Join(dir, dirName(d.Day, 1))); !os.IsNotExist(err) {
			t.Errorf("generation 1 of %s not removed", d.Day)
		}
	}
	if n, _ := s.Alias().DocCount(); n != 301 {
		t.Errorf("alias holds %d documents, want 301", n)
	}
}

// TestCompactRebuildsClosedDays: a day that has ended is rebuilt in one
// pass, smaller and with the same posts, once no post has reached it for a
// while; it is left alone until a late post reaches it; a day still open is
// not touched.
func TestCompactRebuildsClosedDays(t *testing.T) {
	dir := t.TempDir()
	s := openJieba(t, dir, 0)
	today := time.Now().UTC()
	ended := today.AddDate(0, 0, -3)
	doc := func(id string, at time.Time) Doc {
		d := post(id, 1, "临江区发生一起电信诈骗案")
		d.PublishedAt = at
		return d
	}
	for i := 0; i < 40; i++ { // one post a batch, as a quiet live day gets them
		for _, at := range []time.Time{ended, today} {
			if err := s.Index(context.Background(), []Doc{doc(fmt.Sprintf("%s-%d", s.Day(at), i), at)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dayDir := func(at time.Time) string {
		for _, info := range s.Days() {
			if info.Day == s.Day(at) {
				return info.Dir
			}
		}
		t.Fatalf("day %s not live", s.Day(at))
		return ""
	}
	before, open := DirBytes(dayDir(ended)), dayDir(today)
	if got, _ := s.Compact(context.Background(), time.Now()); len(got) != 0 {
		t.Fatalf("compacted %v while its posts were still arriving", got)
	}
	later := time.Now().Add(2 * compactQuiet)
	got, err := s.Compact(context.Background(), later)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{s.Day(ended)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("compacted %v, want %v", got, want)
	}
	if after := DirBytes(dayDir(ended)); after >= before {
		t.Errorf("the ended day took %d bytes before compacting and %d after", before, after)
	}
	if dayDir(today) != open {
		t.Error("the open day was rebuilt")
	}
	if n := count(t, s, match(s, "电信诈骗")); n != 80 {
		t.Fatalf("%d posts found after compacting, want 80", n)
	}
	if got, _ := s.Compact(context.Background(), later); len(got) != 0 {
		t.Fatalf("compacted %v again without a write", got)
	}
	if err := s.Index(context.Background(), []Doc{doc("late", ended)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Compact(context.Background(), time.Now().Add(2*compactQuiet)); len(got) != 1 {
		t.Fatalf("after a late post compacted %v, want the ended day", got)
	}
	if n := count(t, s, match(s, "电信诈骗")); n != 81 {
		t.Fatalf("%d posts found, want 81", n)
	}
	// A reopened set keeps the mark: nothing to do.
	s.Close()
	s2 := openJieba(t, dir, 0)
	if got, _ := s2.Compact(context.Background(), time.Now().Add(2*compactQuiet)); len(got) != 0 {
		t.Fatalf("reopened set compacted %v again", got)
	}
	if n := count(t, s2, match(s2, "电信诈骗")); n != 81 {
		t.Fatalf("%d posts found after reopening, want 81", n)
	}
}

// TestReindexedEndedDayIsNotCompactedAgain: a mapping upgrade rebuilds
// every day in one pass; an ended day comes out compact, so Compact must
// not cut all its posts a second time.
func TestReindexedEndedDayIsNotCompactedAgain(t *testing.T) {
	s := openJieba(t, t.TempDir(), 0)
	ended := time.Now().UTC().AddDate(0, 0, -3)
	for i := 0; i < 5; i++ {
		d := post(fmt.Sprintf("r%d", i), 1, "临江区发生一起电信诈骗案")
		d.PublishedAt = ended
		if err := s.Index(context.Background(), []Doc{d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.reindexDay(context.Background(), s.Day(ended)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Compact(context.Background(), time.Now().Add(2*compactQuiet)); len(got) != 0 {
		t.Fatalf("compacted %v right after a one-pass rebuild", got)
	}
}
