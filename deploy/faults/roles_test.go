package faults

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrawlOnlyNodeRaisesFailingSource: a node that only crawls has no
// alert board, yet a source it crawls that keeps failing must reach the
// duty officers. It raises the alert into the store; an api node's board
// finds it there. The two roles run one after the other on one data folder,
// so they share one store as scaled-out nodes share ClickHouse.
func TestCrawlOnlyNodeRaisesFailingSource(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
	}))
	defer broken.Close()
	data := t.TempDir()
	admin := addUser(t, data, "ro-admin", "admin")
	duty := addUser(t, data, "ro-duty", "duty") // of 测试大队, the unit that owns monitoring here
	// The failing-source alert belongs to the unit that owns the
	// monitoring (alerts-config unit), so that unit's duty officer sees it.
	alertsCfg := filepath.Join(t.TempDir(), "alerts.yaml")
	if err := os.WriteFile(alertsCfg, []byte("unit: 测试大队\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data, "--roles", "crawl", "--alerts-config", alertsCfg)

	src := `{"name":"broken-feed","kind":"rss","url":"` + broken.URL + `/feed.xml","interval":"1s","host_delay":"0s","max_depth":1,"max_pages":3,"enabled":true}`
	if r := s.mustCall(t, "POST", "/api/v1/sources", admin, []byte(src), "Content-Type", "application/json"); r.code != http.StatusCreated {
		t.Fatalf("add source: %s", r)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := s.mustCall(t, "GET", "/api/v1/sources/health", admin, nil)
		if r.code == http.StatusOK && strings.Contains(compact(r.body), `"failing":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source never became failing on the crawl node: %s", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r := s.mustCall(t, "GET", "/api/v1/alerts", duty, nil); r.code != http.StatusNotFound {
		t.Errorf("a crawl-only node serves the alert board: %s", r)
	}

	s.stop()
	s.args = []string{"--roles", "api", "--alerts-config", alertsCfg}
	s.start()
	r := s.mustCall(t, "GET", "/api/v1/alerts", duty, nil)
	if r.code != http.StatusOK {
		t.Fatalf("alert board on the api node: %s", r)
	}
	if body := string(r.body); !strings.Contains(body, "feed-source-failing") || !strings.Contains(body, "broken-feed") {
		t.Fatalf("the api node's board lacks the failing-source alert the crawl node raised: %s", r)
	}
}

// compact drops the spaces of a JSON answer so that fields can be matched
// as text.
func compact(b []byte) string { return strings.NewReplacer(" ", "", "\n", "").Replace(string(b)) }
