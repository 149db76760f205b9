package feeds

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestInternalAddresses(t *testing.T) {
	for _, c := range []struct {
		addr     string
		internal bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"172.31.255.255", true},
		{"192.168.1.1", true}, {"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"0.1.2.3", true},
		{"224.0.0.1", true}, {"239.255.255.250", true}, {"255.255.255.255", true}, {"::1", true}, {"::", true},
		{"fe80::1", true}, {"fd00::1", true}, {"ff02::1", true}, {"ff05::2", true}, {"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true}, {"64:ff9b::7f00:1", true}, {"2002:7f00:1::", true}, {"::127.0.0.1", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"172.32.0.1", false}, {"2606:4700:4700::1111", false}, {"::ffff:8.8.8.8", false},
	} {
		if got := internal(netip.MustParseAddr(c.addr)); got != c.internal {
			t.Errorf("internal(%s) = %v, want %v", c.addr, got, c.internal)
		}
	}
}

func TestAllowList(t *testing.T) {
	p, err := parseAllow([]string{"127.0.0.1:8081", "10.9.0.0/16", "fd12::5"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ap string
		ok bool
	}{
		{"127.0.0.1:8081", true}, {"127.0.0.1:8080", false}, {"10.9.3.4:80", true}, {"10.10.0.1:80", false},
		{"[fd12::5]:443", true}, {"[fd12::6]:443", false}, {"[::ffff:127.0.0.1]:8081", true}, {"93.184.216.34:80", true},
	} {
		err := p.permit(netip.MustParseAddrPort(c.ap))
		if (err == nil) != c.ok {
			t.Errorf("permit(%s) = %v, want allowed %v", c.ap, err, c.ok)
		}
	}
	if _, err := parseAllow([]string{"localhost"}); err == nil {
		t.Error("a host name in the allow list was accepted")
	}
}

// TestCrawlerRefusesInternalNetwork: a public-looking site (allowed by
// address and port) links to an internal service directly, by a DNS name,
// by IPv6 and through a redirect. None of those is fetched; each shows in
// the run and in source health as refused, and the site's own articles
// still come through.
func TestCrawlerRefusesInternalNetwork(t *testing.T) {
	inner := newCountingServer(t, "127.0.0.1:0")
	inner6 := newCountingServer(t, "[::1]:0")
	_, innerPort, _ := net.SplitHostPort(inner.Listener.Addr().String())
	var outer *httptest.Server
	outer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/news/index.html":
			fmt.Fprintf(w, `<html><body><ul class="news-list">
<li><a class="title" href="/news/ok.html">ok</a></li>
<li><a class="title" href="%[1]s/metrics">direct</a></li>
<li><a class="title" href="http://localhost:%[2]s/by-name">by name</a></li>
<li><a class="title" href="%[3]s/v6">v6</a></li>
<li><a class="title" href="/go">redirect</a></li>
</ul></body></html>`, inner.URL, innerPort, inner6.URL)
		case "/go":
			http.Redirect(w, r, inner.URL+"/redirected", http.StatusFound)
		case "/news/ok.html":
			fmt.Fprint(w, `<html><body><h1 class="article-title">公开文章</h1><div class="article-content">正文内容足够长，用于抽取。</div></body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(outer.Close)
	// Only the outer site's own address and port are allowed.
	e := newEnv(t, t.TempDir(), Config{Allow: []string{outer.Listener.Addr().String()}})
	run := crawl(t, e, newsSource(outer.URL))
	if got := inner.hits(); got != 0 {
		t.Errorf("internal service was asked %d times: %v", got, inner.paths())
	}
	if got := inner6.hits(); got != 0 {
		t.Errorf("internal IPv6 service was asked %d times", got)
	}
	if run.Refused != 4 || run.Posts != 1 {
		t.Errorf("run = %+v, want 4 refused and the 1 public post", run)
	}
	sh, _ := e.health.Get("news")
	if sh.RefusedTotal != 4 || !strings.Contains(sh.LastRefused, "crawl-allow") {
		t.Errorf("health = refused %d, last %q; want 4 and the reason", sh.RefusedTotal, sh.LastRefused)
	}
	// Refused links are not asked for again on the next run.
	run = crawl(t, e, newsSource(outer.URL))
	if run.Refused != 0 {
		t.Errorf("second run refused %d again, want them remembered", run.Refused)
	}
}

type countingServer struct {
	*httptest.Server
	ch chan string
}

func newCountingServer(t *testing.T, addr string) *countingServer {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	c := &countingServer{ch: make(chan string, 100)}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.ch <- r.URL.Path
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><body><h1 class="article-title">internal</h1><div class="article-content">netpulse_http_requests_total 5</div></body></html>`)
	}))
	c.Listener.Close()
	c.Listener = ln
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func (c *countingServer) hits() int { return len(c.ch) }

func (c *countingServer) paths() []string {
	var out []string
	for len(c.ch) > 0 {
		out = append(out, <-c.ch)
	}
	return out
}
