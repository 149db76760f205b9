package multinode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// feedSite serves one RSS feed per source at /feed/NAME, slowly, and
// records who fetched which feed (by User-Agent) and how many fetches of
// one feed overlapped.
type feedSite struct {
	mu       sync.Mutex
	inFlight map[string]int
	overlap  map[string]int            // source → fetches that began while another was running
	by       map[string]map[string]int // source → user agent → fetches
}

func (f *feedSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/feed/")
	if !ok {
		http.NotFound(w, r) // robots.txt and the rest: allowed, nothing there
		return
	}
	f.mu.Lock()
	if f.inFlight[name] > 0 {
		f.overlap[name]++
	}
	f.inFlight[name]++
	if f.by[name] == nil {
		f.by[name] = map[string]int{}
	}
	f.by[name][r.UserAgent()]++
	f.mu.Unlock()
	// Long enough that two schedulers crawling one source would overlap.
	time.Sleep(150 * time.Millisecond)
	f.mu.Lock()
	f.inFlight[name]--
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>%[1]s</title><link>http://%[2]s/</link><description>test</description>`+
		`<item><title>%[1]s 通报</title><link>http://%[2]s/a/%[1]s/1</link><guid>%[1]s-1</guid><pubDate>%[3]s</pubDate><description>警方提醒：谨防电信诈骗。</description></item>`+
		`</channel></rss>`, name, r.Host, time.Now().UTC().Format(time.RFC1123Z))
}

// fetchers returns, per source, the user agents that fetched it since the
// last reset, and the overlaps, and resets.
func (f *feedSite) take() (map[string]map[string]int, map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	by, ov := f.by, f.overlap
	f.by, f.overlap = map[string]map[string]int{}, map[string]int{}
	return by, ov
}

// sourceNames picks two names per partition of netpulse.crawl, so that
// every node of any split owns some.
func sourceNames() []string {
	per := map[int]int{}
	var out []string
	for i := 0; len(out) < 2*partitions; i++ {
		name := fmt.Sprintf("src-%d", i)
		if p := bus.PartitionFor([]byte(name), partitions); per[p] < 2 {
			per[p]++
			out = append(out, name)
		}
	}
	return out
}

// TestCrawlSplit runs two crawl nodes with the same twelve sources: each
// source must be crawled by one node only and never by two at once, and
// when one node dies the other takes its sources over.
func TestCrawlSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two netpulse processes")
	}
	useBroker(t)
	site := &feedSite{inFlight: map[string]int{}, overlap: map[string]int{}, by: map[string]map[string]int{}}
	srv := httptest.NewServer(site)
	defer srv.Close()

	dir := t.TempDir()
	names := sourceNames()
	var nodes []*node
	var tokens []string
	// One admin for the cluster: ca brings its registry into the state
	// topic, cb joins with an empty one and learns the account from it.
	token := admin(t, filepath.Join(dir, "ca"), "user", "add", "--name", "admin", "--role", "admin")
	for _, n := range []string{"ca", "cb"} {
		nodes = append(nodes, startNode(t, n, filepath.Join(dir, n),
			// The test's sites listen on loopback, which the crawler
			// refuses unless crawl-allow names it.
			kafkaFlags("--roles", "crawl", "--user-agent", "np-"+n, "--log-level", "info", "--crawl-allow", "127.0.0.1/32")...))
		tokens = append(tokens, token)
	}
	// Sources are added once, through ca: the registry is the cluster's.
	for _, name := range names {
		// 3 s, not the 1 s minimum: the scheduler fills its slots in
		// registry order each tick, and with twelve sources on one
		// host (serialised by the host delay) a 1 s interval starves
		// the last names on a node that runs all of them.
		src := map[string]any{"name": name, "kind": "rss", "url": srv.URL + "/feed/" + name,
			"enabled": true, "interval": "3s", "host_delay": "10ms", "max_depth": 1, "max_pages": 2}
		body, _ := json.Marshal(src)
		if _, err := call(context.Background(), "POST", nodes[0].base+"/api/v1/sources", token, "application/json", body, nil); err != nil {
			t.Fatal(err)
		}
	}
	var listed struct {
		Sources []struct {
			Name string `json:"name"`
		} `json:"sources"`
	}
	if _, err := call(context.Background(), "GET", nodes[1].base+"/api/v1/sources", token, "", nil, &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Sources) != len(names) {
		t.Fatalf("cb lists %d sources added through ca, want %d: %+v", len(listed.Sources), len(names), listed.Sources)
	}
	waitAssignment(t, "netpulse.crawl", "netpulse.crawl", 2, partitions)
	site.take()
	time.Sleep(6 * time.Second)
	by, overlap := site.take()
	perNode := map[string]int{}
	for _, name := range names {
		if len(by[name]) != 1 {
			t.Errorf("source %s fetched by %v, want exactly one node", name, by[name])
		}
		for ua := range by[name] {
			perNode[ua]++
		}
		if overlap[name] > 0 {
			t.Errorf("source %s: %d fetches overlapped another", name, overlap[name])
		}
	}
	if len(perNode) != 2 {
		t.Errorf("sources per node %v, want both nodes crawling", perNode)
	}
	if t.Failed() {
		for _, n := range nodes {
			t.Logf("log of %s:\n%s", n.name, n.tail())
		}
		t.FailNow()
	}

	nodes[0].kill()
	waitAssignment(t, "netpulse.crawl", "netpulse.crawl", 1, partitions)
	site.take()
	// One node now runs all twelve; the site's host delay serialises them.
	time.Sleep(8 * time.Second)
	by, overlap = site.take()
	for _, name := range names {
		if by[name]["np-cb"] == 0 || len(by[name]) != 1 {
			t.Errorf("after ca died, source %s fetched by %v, want np-cb only", name, by[name])
		}
		if overlap[name] > 0 {
			t.Errorf("source %s: %d fetches overlapped another", name, overlap[name])
		}
	}
	if t.Failed() {
		var list json.RawMessage
		_, err := call(context.Background(), "GET", nodes[1].base+"/api/v1/sources", tokens[1], "", nil, &list)
		t.Logf("sources of cb (%v): %s", err, list)
		t.Logf("log of cb:\n%s", nodes[1].tail())
	}
}
