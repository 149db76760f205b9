package feeds

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/posts"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current extraction")

// goldenPost is what the golden files pin down for each fixture page.
type goldenPost struct {
	Path        string `json:"path"`
	Title       string `json:"title"`
	Body        string `json:"body"`
	Author      string `json:"author"`
	PublishedAt string `json:"published_at"`
}

func toGolden(t *testing.T, ps []posts.Post) []goldenPost {
	out := make([]goldenPost, len(ps))
	for i, p := range ps {
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = goldenPost{Path: u.Path, Title: p.Title, Body: p.Body, Author: p.Author,
			PublishedAt: p.PublishedAt.In(cst).Format(time.RFC3339)}
	}
	return out
}

func checkGolden(t *testing.T, name string, got []goldenPost) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, b)
	}
}

func TestCrawlFixtures(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name string
		src  Source
		want Run
	}{
		// index.html links 1, 2 and a robots-disallowed page; index_2 links
		// 3 and 1 again (with a fragment, the same page).
		{"news", newsSource(s.URL), Run{Pages: 5, Robots: 1, Posts: 3}},
		// GBK pages, one without any charset declaration, over two list pages.
		{"forum", forumSource(s.URL), Run{Pages: 5, Posts: 3}},
		// No body selector: a three-page article joined, an ASP.NET page
		// wrapped in <form>, and a page too large for the full extractor.
		{"gov", govSource(s.URL), Run{Pages: 6, Posts: 3, FastPath: 1}},
		{"rss", feedSource("rss", KindRSS, s.URL+"/feeds/rss.xml"), Run{Pages: 1, Posts: 2}},
		{"atom", feedSource("atom", KindAtom, s.URL+"/feeds/atom.xml"), Run{Pages: 1, Posts: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, t.TempDir(), Config{})
			run := crawl(t, e, tt.src)
			if run != tt.want {
				t.Errorf("run = %+v, want %+v", run, tt.want)
			}
			got := e.published(t)
			for _, p := range got {
				if strings.Contains(p.Body, "不应出现") || strings.Contains(p.Body, "alert(") || strings.Contains(p.Body, "首页") {
					t.Errorf("%s: script or navigation text in body: %q", p.URL, p.Body)
				}
				if p.FetchedAt.IsZero() || p.ClusterID == 0 || (p.ID != PostID(p.URL) && !strings.HasSuffix(p.URL, ".xml")) {
					t.Errorf("%s: incomplete post %+v", p.URL, p)
				}
			}
			checkGolden(t, tt.name, toGolden(t, got))
			h, ok := e.health.Get(tt.src.Name)
			if !ok || h.LastSuccessAt.IsZero() || h.LastRun.Posts != tt.want.Posts || h.RobotsSkippedTotal != int64(tt.want.Robots) {
				t.Errorf("health = %+v", h)
			}
		})
	}
	if n := s.count("/private/internal.html"); n != 0 {
		t.Errorf("robots.txt-disallowed page fetched %d times", n)
	}
}

// TestRestartDoesNotRefetch crawls, restarts the collector on the same data
// directory, and crawls again: list pages and feeds must be asked
// conditionally (answered 304) and no article page fetched a second time.
func TestRestartDoesNotRefetch(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	srcs := []Source{newsSource(s.URL), forumSource(s.URL), feedSource("rss", KindRSS, s.URL+"/feeds/rss.xml")}

	first := newEnv(t, dir, Config{})
	for _, src := range srcs {
		crawl(t, first, src)
	}
	firstPosts := len(first.published(t))
	first.close()

	articles := []string{"/news/1.html", "/news/2.html", "/news/3.html", "/forum/thread-101-1-1.html",
		"/forum/thread-102-1-1.html", "/forum/thread-103-1-1.html"}
	for _, a := range articles {
		if n := s.count(a); n != 1 {
			t.Fatalf("first run fetched %s %d times, want 1", a, n)
		}
	}

	second := newEnv(t, dir, Config{})
	for _, src := range srcs {
		run := crawl(t, second, src)
		if run.Posts != 0 || run.Pages != 0 || run.NotModified != 1 {
			t.Errorf("%s after restart: %+v, want one 304 and nothing else", src.Name, run)
		}
	}
	for _, a := range articles {
		if n := s.count(a); n != 1 {
			t.Errorf("%s fetched %d times across the restart, want 1", a, n)
		}
	}
	if n := len(second.published(t)); n != firstPosts {
		t.Errorf("raw.posts holds %d posts after the second run, want still %d", n, firstPosts)
	}

	// A list page that changed (new ETag) is fetched again, but its links
	// are all seen (the robots-refused one included) and the unchanged
	// second page answers 304.
	if err := second.store.SetValidators(map[string]Validators{s.URL + "/news/index.html": {ETag: `"stale"`}}); err != nil {
		t.Fatal(err)
	}
	run := crawl(t, second, srcs[0])
	if want := (Run{Pages: 1, NotModified: 1, Seen: 3}); run != want {
		t.Errorf("changed list page: %+v, want %+v", run, want)
	}
}

func TestRetry500ThenOK(t *testing.T) {
	s := newSite(t)
	s.flaky = 2
	e := newEnv(t, t.TempDir(), Config{Retries: 3})
	run := crawl(t, e, feedSource("flaky", KindRSS, s.URL+"/flaky/feeds/rss.xml"))
	if run.Posts != 2 {
		t.Errorf("posts = %d, want 2 after the server recovered", run.Posts)
	}
	if n := s.count("/flaky/feeds/rss.xml"); n != 3 {
		t.Errorf("requests = %d, want 2 failures and 1 success", n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	s := newSite(t)
	s.flaky = 100
	e := newEnv(t, t.TempDir(), Config{Retries: 2})
	_, err := e.crawler.Crawl(context.Background(), noDelay(feedSource("down", KindRSS, s.URL+"/flaky/feeds/rss.xml")))
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("err = %v, want HTTP 500 after retries", err)
	}
	if n := s.count("/flaky/feeds/rss.xml"); n != 3 {
		t.Errorf("requests = %d, want 1 + 2 retries", n)
	}
	h, _ := e.health.Get("down")
	if h.ConsecutiveFailures != 1 || !strings.Contains(h.LastError, "HTTP 500") || h.Failing {
		t.Errorf("health = %+v", h)
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	s := newSite(t)
	e := newEnv(t, t.TempDir(), Config{Timeout: 50 * time.Millisecond, Retries: 1})
	_, err := e.crawler.Crawl(context.Background(), noDelay(feedSource("slow", KindRSS, s.URL+"/slow/feed.xml")))
	if err == nil {
		t.Fatal("crawl of a server that never answers succeeded")
	}
	if n := s.count("/slow/feed.xml"); n != 2 {
		t.Errorf("requests = %d, want the first try and one retry", n)
	}
	h, _ := e.health.Get("slow")
	if h.LastError == "" || h.LastErrorAt.IsZero() {
		t.Errorf("timeout not recorded in health: %+v", h)
	}
}

func TestFailingFlag(t *testing.T) {
	s := newSite(t)
	s.flaky = 1000
	e := newEnv(t, t.TempDir(), Config{Retries: -1})
	var reported []SourceHealth
	e.health.OnFailing(func(_ context.Context, sh SourceHealth) error {
		reported = append(reported, sh)
		return nil
	})
	src := noDelay(feedSource("down", KindRSS, s.URL+"/flaky/feeds/rss.xml"))
	for i := 1; i <= 4; i++ {
		e.crawler.Crawl(context.Background(), src)
		h, _ := e.health.Get("down")
		if want := i >= 3; h.Failing != want || h.ConsecutiveFailures != i {
			t.Errorf("after %d failures: %+v, want failing=%v", i, h, want)
		}
	}
	if len(reported) != 1 || reported[0].ConsecutiveFailures != 3 || !strings.Contains(reported[0].LastError, "HTTP 500") {
		t.Errorf("failing reported %d times (%+v), want once at the third failure", len(reported), reported)
	}
	s.mu.Lock()
	s.flaky = 0
	s.mu.Unlock()
	if _, err := e.crawler.Crawl(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if h, _ := e.health.Get("down"); h.Failing || h.ConsecutiveFailures != 0 {
		t.Errorf("after recovery: %+v", h)
	}
}

func TestRobotsBlockedStartPage(t *testing.T) {
	s := newSite(t)
	e := newEnv(t, t.TempDir(), Config{UserAgent: "BadBot"})
	run, err := e.crawler.Crawl(context.Background(), noDelay(newsSource(s.URL)))
	if err == nil || run.Robots != 1 || run.Pages != 0 {
		t.Errorf("run = %+v err = %v, want the start page refused by robots.txt", run, err)
	}
	if n := s.count("/news/index.html"); n != 0 {
		t.Errorf("disallowed start page fetched %d times", n)
	}
	if h, _ := e.health.Get("news"); h.RobotsSkippedTotal != 1 {
		t.Errorf("health robots = %d, want 1", h.RobotsSkippedTotal)
	}
}
