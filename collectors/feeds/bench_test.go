package feeds

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchSite serves a news site of n articles, 20 links per list page,
// built from the fixture article so that pages are realistic in size.
func benchSite(b *testing.B, n int) *httptest.Server {
	tmpl, err := os.ReadFile(filepath.Join("testdata", "site", "news", "2.html"))
	if err != nil {
		b.Fatal(err)
	}
	const perPage = 20
	mux := http.NewServeMux()
	mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n") })
	mux.HandleFunc("/list/{page}", func(w http.ResponseWriter, r *http.Request) {
		var p int
		fmt.Sscanf(r.PathValue("page"), "%d", &p)
		var sb strings.Builder
		sb.WriteString(`<html><head><meta charset="utf-8"><title>列表</title></head><body><ul class="news-list">`)
		for i := p * perPage; i < (p+1)*perPage && i < n; i++ {
			fmt.Fprintf(&sb, `<li><a class="title" href="/a/%d.html">第%d条</a></li>`, i, i)
		}
		sb.WriteString(`</ul><div class="pager">`)
		if (p+1)*perPage < n {
			fmt.Fprintf(&sb, `<a class="next" href="/list/%d">下一页</a>`, p+1)
		}
		sb.WriteString(`</div></body></html>`)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, sb.String())
	})
	mux.HandleFunc("/a/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(r.PathValue("id"), ".html")
		page := strings.Replace(string(tmpl), "城南仓库火灾无人员伤亡", "第"+id+"号通报：城南仓库火灾无人员伤亡", 2)
		page = strings.Replace(page, "过火面积约600平方米", "过火面积约"+id+"平方米，编号"+id, 1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkCrawl measures the whole path for an HTML site: HTTP fetch
// through colly, charset handling, extraction, date parsing, jieba +
// SimHash, JSON, a durable journal publish and the seen marks. Reported
// as pages parsed per second (list and article pages) and posts
// produced per second.
func BenchmarkCrawl(b *testing.B) {
	const articles = 200
	srv := benchSite(b, articles)
	src := Source{Name: "bench", Kind: KindHTML, URL: srv.URL + "/list/0", Enabled: true, MaxDepth: 100, MaxPages: 1000,
		Selectors: Selectors{List: "ul.news-list a.title", Next: ".pager a.next", Title: "h1.article-title",
			Body: ".article-content", Author: ".author", Time: ".pubtime"}}
	var pages, posts int
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b, b.TempDir(), Config{})
		b.StartTimer()
		start := time.Now()
		run, err := e.crawler.Crawl(context.Background(), noDelay(src))
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if run.Posts != articles {
			b.Fatalf("posts = %d, want %d", run.Posts, articles)
		}
		pages += run.Pages
		posts += run.Posts
		b.StopTimer()
		e.close()
		b.StartTimer()
	}
	b.ReportMetric(float64(pages)/elapsed.Seconds(), "pages/s")
	b.ReportMetric(float64(posts)/elapsed.Seconds(), "posts/s")
}

// BenchmarkFeed measures an RSS feed of 100 items: one fetch, gofeed
// parse, SimHash and publish.
func BenchmarkFeed(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>`)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, `<item><title>第%d条 暴雨致城区多处积水</title><link>/i/%d</link><pubDate>Sat, 28 Nov 2026 15:20:00 +0800</pubDate>`+
			`<description>受强降雨影响，第%d号路段下穿隧道积水严重，已临时封闭。请驾驶人提前规划路线，切勿涉水行驶。编号%d。</description></item>`, i, i, i, i*7919)
	}
	sb.WriteString(`</channel></rss>`)
	feed := sb.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, feed)
	}))
	b.Cleanup(srv.Close)
	var posts int
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b, b.TempDir(), Config{})
		b.StartTimer()
		start := time.Now()
		run, err := e.crawler.Crawl(context.Background(), noDelay(feedSource("bench", KindRSS, srv.URL+"/rss.xml")))
		elapsed += time.Since(start)
		if err != nil || run.Posts != 100 {
			b.Fatalf("run %+v err %v", run, err)
		}
		posts += run.Posts
		b.StopTimer()
		e.close()
		b.StartTimer()
	}
	b.ReportMetric(float64(posts)/elapsed.Seconds(), "posts/s")
}
