package feeds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/posts"
)

var cst = time.FixedZone("CST", 8*3600)

// testNow is the crawler's clock in tests, so that "3小时前" is stable.
var testNow = time.Date(2026, 11, 28, 16, 30, 0, 0, cst)

// site serves testdata/site like a well-behaved web server (ETag and
// Last-Modified, 304 on a match) plus a few misbehaving paths, and counts
// requests per path.
type site struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	flaky int // /flaky/ answers 500 this many times before serving
}

func newSite(t testing.TB) *site {
	t.Helper()
	s := &site{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *site) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

var lastModified = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Format(http.TimeFormat)

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	flaky := s.flaky
	if strings.HasPrefix(r.URL.Path, "/flaky/") && s.flaky > 0 {
		s.flaky--
	}
	s.mu.Unlock()

	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/slow/"):
		select { // hold the request until the client gives up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case p == "/gen/huge.html":
		// Larger than maintext.MaxElements: the extractor's fast path.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(hugePage))
		return
	case strings.HasPrefix(p, "/flaky/"):
		if flaky > 0 {
			http.Error(w, "upstream overloaded", http.StatusInternalServerError)
			return
		}
		p = strings.TrimPrefix(p, "/flaky")
	}
	data, err := os.ReadFile(filepath.Join("testdata", "site", filepath.FromSlash(path.Clean(p))))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", lastModified)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	switch path.Ext(p) {
	case ".xml":
		w.Header().Set("Content-Type", "application/xml")
	case ".txt":
		w.Header().Set("Content-Type", "text/plain")
	default:
		// No charset on purpose: the GBK forum declares it only in <meta>.
		w.Header().Set("Content-Type", "text/html")
	}
	w.Write(data)
}

// env is a crawler over a real journal and a real state store in dir.
type env struct {
	store   *Store
	health  *Health
	journal *journal.Journal
	crawler *Crawler
	reg     *prometheus.Registry
}

func newEnv(t testing.TB, dir string, cfg Config) *env {
	t.Helper()
	return newEnvTok(t, dir, cfg, testSeg)
}

func newEnvTok(t testing.TB, dir string, cfg Config, tok Cutter) *env {
	t.Helper()
	st, err := OpenStore(filepath.Join(dir, "feeds"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(journal.Options{Dir: filepath.Join(dir, "bus"), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := NewHealth(st, reg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 5 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Allow == nil {
		// The fixture sites run on loopback; nothing else internal.
		cfg.Allow = []string{"127.0.0.1/32"}
	}
	c, err := NewCrawler(cfg, st, h, j, tok, reg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, health: h, journal: j, crawler: c, reg: reg}
	t.Cleanup(func() { e.close() })
	return e
}

func (e *env) close() {
	if e.journal != nil {
		e.journal.Close()
		e.journal = nil
	}
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
}

// published reads every post on raw.posts from the start.
func (e *env) published(t testing.TB) []posts.Post {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	group := "test-" + time.Now().Format("150405.000000000")
	c, err := e.journal.Subscribe(ctx, group, bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lag, err := e.journal.Lag(ctx, group, bus.TopicPosts)
	if err != nil {
		t.Fatal(err)
	}
	var out []posts.Post
	for int64(len(out)) < lag {
		msgs, err := c.Fetch(ctx, 100)
		if err != nil {
			t.Fatalf("fetch raw.posts after %d of %d: %v", len(out), lag, err)
		}
		for _, m := range msgs {
			p, err := posts.Decode(m.Value)
			if err != nil {
				t.Fatalf("published post does not decode: %v", err)
			}
			if string(m.Key) != p.Source {
				t.Errorf("message key %q, want the source %q", m.Key, p.Source)
			}
			out = append(out, p)
		}
	}
	return out
}

// hugePage is a reply list of about 20,000 elements.
var hugePage = func() string {
	var b strings.Builder
	b.WriteString(`<html><head><meta charset="utf-8"><title>网友回复汇总</title></head><body><h1>网友回复汇总</h1><div class="replies">`)
	for i := range 5000 {
		fmt.Fprintf(&b, `<div class="r"><div><span>网友%d</span><div>这是第%d条回复，内容完整。</div></div></div>`, i, i)
	}
	b.WriteString(`</div></body></html>`)
	return b.String()
}()

// Fixture sources, pointed at a site by base URL.
func newsSource(base string) Source {
	return Source{Name: "news", Kind: KindHTML, URL: base + "/news/index.html", Enabled: true,
		Interval: Duration(time.Minute), HostDelay: -0, MaxDepth: 5, MaxPages: 50,
		Selectors: Selectors{List: "ul.news-list a.title", Next: ".pager a.next", Title: "h1.article-title",
			Body: ".article-content", Author: ".author", Time: ".pubtime"}}
}

// govSource defines only the list selector: articles go through the
// general extractor, one of them split over three pages.
func govSource(base string) Source {
	return Source{Name: "gov", Kind: KindHTML, URL: base + "/gov/list.html", Enabled: true,
		Interval: Duration(time.Minute), MaxDepth: 1, MaxPages: 50,
		Selectors: Selectors{List: "ul.list a"}}
}

func forumSource(base string) Source {
	return Source{Name: "forum", Kind: KindHTML, URL: base + "/forum/list-1.html", Enabled: true,
		Interval: Duration(time.Minute), MaxDepth: 5, MaxPages: 50,
		Selectors: Selectors{List: "#threadlist td.subject", Next: "a.nxt", Title: "#thread_subject",
			Body: "#postmessage", Author: ".pi a.xi2", Time: "#authorposton"}}
}

func feedSource(name string, kind Kind, u string) Source {
	return Source{Name: name, Kind: kind, URL: u, Enabled: true, Interval: Duration(time.Minute)}
}

func noDelay(s Source) Source {
	s = s.WithDefaults()
	s.HostDelay = Duration(time.Nanosecond) // WithDefaults leaves non-zero alone
	return s
}

func crawl(t testing.TB, e *env, src Source) Run {
	t.Helper()
	run, err := e.crawler.Crawl(context.Background(), noDelay(src))
	if err != nil {
		t.Fatalf("crawl %s: %v", src.Name, err)
	}
	return run
}

func mustNot(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: %v", what, err)
	}
}
