package faults

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 15 ("Trust"), classes 1, 6, 7 and 9, against a real netpulse serve.

// TestTrustRuleSQL: threshold-rule SQL that reads a file, decrypts,
// touches personal, audit or system tables or hides behind comments is
// refused with a 400 naming the sql field; a rule over the allowed tables
// is stored and listed without a disabled reason.
func TestTrustRuleSQL(t *testing.T) {
	data := t.TempDir()
	admin := addUser(t, data, "rules-admin", "admin")
	s := startServer(t, data)
	rule := func(name, sql string) []byte {
		b, _ := json.Marshal(sql)
		return []byte(fmt.Sprintf("rules:\n  - {name: %s, type: threshold, op: '>', value: 0, unit: u1, sql: %s}\n", name, b))
	}
	for i, sql := range []string{
		"SELECT count() AS value FROM file /**/ ('keys/id-enc.key', LineAsString)",
		"SELECT toFloat64(length(decrypt('aes-256-gcm', unhex(id_enc), 'k'))) AS value FROM netpulse.access_records",
		"select COUNT() as value from `netpulse`.\"access_records\"",
		"SELECT count() AS value FROM netpulse.posts WHERE id IN (SELECT record_id FROM netpulse.access_records)",
		"SELECT count() AS value FROM netpulse.audit_log",
		"SELECT count() AS value FROM netpulse.intake_quarantine",
		"SELECT count() AS value FROM system.tables",
		"SELECT dictGet('d', 'a', 1) AS value",
		"SELECT count() AS value FROM url('http://127.0.0.1:1/', LineAsString)",
		"SELECT 1 AS value; DROP TABLE netpulse.audit_log",
		"SELECT count() AS value FROM netpulse.posts SETTINGS readonly = 0",
	} {
		r := s.mustCall(t, "POST", "/api/v1/rules", admin, rule(fmt.Sprintf("bad-%d", i), sql), "Content-Type", "application/yaml")
		if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"sql"`) {
			t.Errorf("%s\n→ %s, want 400 naming sql", sql, r)
		}
	}
	r := s.mustCall(t, "POST", "/api/v1/rules", admin, rule("crawl-broken", "SELECT countIf(ok = 0) AS value FROM netpulse.crawl_runs WHERE started_at > now() - INTERVAL 1 HOUR"), "Content-Type", "application/yaml")
	if r.code != http.StatusCreated {
		t.Fatalf("allowed rule: %s", r)
	}
	var list struct {
		Rules []struct {
			Name     string `json:"name"`
			Disabled string `json:"disabled"`
		} `json:"rules"`
	}
	decode(t, s.mustCall(t, "GET", "/api/v1/rules", admin, nil), &list)
	found := false
	for _, x := range list.Rules {
		if x.Name == "crawl-broken" {
			found = x.Disabled == ""
		}
		if strings.HasPrefix(x.Name, "bad-") {
			t.Errorf("refused rule %s was stored", x.Name)
		}
	}
	if !found {
		t.Errorf("allowed rule missing or disabled: %+v", list.Rules)
	}
}

// TestTrustLoginBurst: 40 wrong passwords for one name in parallel get at
// most the lockout count of password checks (401) and the rest 429 (or 503
// while the check slots are full); a name that does not exist is locked the
// same way; 100 parallel logins with unknown names grow the server's
// resident memory by less than 256 MiB.
func TestTrustLoginBurst(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "burst-duty", "duty", "--password", "right-password-1")
	s := startServer(t, data)
	burst := func(n int, name func(i int) string) map[int]int {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, code := login(t, s, name(i), fmt.Sprintf("wrong-%d", i))
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return codes
	}
	for _, who := range []string{"burst-duty", "burst-nobody"} {
		codes := burst(40, func(int) string { return who })
		if codes[http.StatusUnauthorized] > 5 || codes[http.StatusTooManyRequests]+codes[http.StatusServiceUnavailable] < 35 {
			t.Errorf("%s: 40 parallel wrong passwords → %v, want at most 5 checked (401), the rest 429/503", who, codes)
		}
	}
	if sid, _, code := login(t, s, "burst-duty", "right-password-1"); sid != "" || code != http.StatusTooManyRequests {
		t.Errorf("right password while locked: code %d, session %v", code, sid != "")
	}

	base := s.rssKB("VmRSS")
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v := int64(s.rssKB("VmRSS")); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	codes := burst(100, func(i int) string { return fmt.Sprintf("ghost-%d", i) })
	close(stop)
	<-sampled
	growMiB := float64(peak.Load()-int64(base)) / 1024
	t.Logf("100 parallel logins with unknown names: %v; RSS %d MiB before, peak %d MiB, growth %.0f MiB",
		codes, base/1024, peak.Load()/1024, growMiB)
	if growMiB >= 256 {
		t.Errorf("memory grew by %.0f MiB under 100 parallel logins, want under 256", growMiB)
	}
	if codes[http.StatusUnauthorized]+codes[http.StatusServiceUnavailable] != 100 {
		t.Errorf("unknown names: %v, want 401 or 503 for each", codes)
	}
}

// TestTrustCrawlerStaysOutside: a source on a site the config allows links
// to serve's own /metrics, to another loopback service by name and by
// address, and redirects there. The crawler fetches none of them, and source
// health shows the refusals.
func TestTrustCrawlerStaysOutside(t *testing.T) {
	var internalHits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		fmt.Fprint(w, "<html><body><h1 class=t>secret</h1><div class=b>internal</div></body></html>")
	}))
	defer internal.Close()
	_, internalPort, _ := net.SplitHostPort(internal.Listener.Addr().String())
	data := t.TempDir()
	admin := addUser(t, data, "crawl-admin", "admin")
	serveAddr := ""
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/list.html":
			fmt.Fprintf(w, `<html><body><ul class="l">
<li><a href="http://%[1]s/metrics">m</a></li>
<li><a href="%[2]s/a">a</a></li>
<li><a href="http://localhost:%[3]s/b">b</a></li>
<li><a href="/hop">c</a></li>
<li><a href="/public.html">p</a></li></ul></body></html>`, serveAddr, internal.URL, internalPort)
		case "/hop":
			http.Redirect(w, r, internal.URL+"/via-redirect", http.StatusFound)
		case "/public.html":
			fmt.Fprint(w, `<html><body><h1 class="t">公开通报</h1><div class="b">这是一条公开的通报正文，用于检验采集。</div></body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()
	s := startServer(t, data, "--crawl-allow", site.Listener.Addr().String())
	serveAddr = s.addr
	src := map[string]any{"name": "outside", "kind": "html", "url": site.URL + "/list.html", "enabled": true,
		"interval": "1m", "host_delay": "1ms", "max_depth": 1, "max_pages": 20,
		"selectors": map[string]string{"list": "ul.l a", "title": "h1.t", "body": "div.b"}}
	body, _ := json.Marshal(src)
	if r := s.mustCall(t, "POST", "/api/v1/sources", admin, body, "Content-Type", "application/json"); r.code/100 != 2 {
		t.Fatalf("create source: %s", r)
	}
	var health struct {
		RefusedTotal int    `json:"refused_total"`
		LastRefused  string `json:"last_refused"`
		LastRun      struct {
			Posts int `json:"posts"`
		} `json:"last_run"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := s.mustCall(t, "GET", "/api/v1/sources/health", admin, nil)
		var all []json.RawMessage
		var wrapped struct {
			Sources []json.RawMessage `json:"sources"`
		}
		if json.Unmarshal(r.body, &all) != nil {
			json.Unmarshal(r.body, &wrapped)
			all = wrapped.Sources
		}
		for _, raw := range all {
			if strings.Contains(string(raw), `"source":"outside"`) {
				json.Unmarshal(raw, &health)
			}
		}
		if health.RefusedTotal > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal service was fetched %d times", n)
	}
	if health.RefusedTotal != 4 || !strings.Contains(health.LastRefused, "crawl-allow") || health.LastRun.Posts != 1 {
		t.Errorf("source health = %+v, want 4 refused with the reason and the 1 public post", health)
	}
	if strings.Contains(s.logText(), `"url":"http://`+serveAddr+`/metrics"`) && !strings.Contains(s.logText(), "refused") {
		t.Errorf("serve's /metrics was fetched")
	}
}

// TestTrustSmallOnes: /metrics moves to --metrics-listen, the profiler is
// only there; the CSRF token is
// not taken from the query string.
func TestTrustSmallOnes(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "small-admin", "admin", "--password", "right-password-2")
	metricsAddr := freeAddr(t)
	s := startServer(t, data, "--metrics-listen", metricsAddr)
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics on --metrics-listen: %d", resp.StatusCode)
	}
	if r := s.mustCall(t, "GET", "/metrics", "", nil); r.code == http.StatusOK && strings.Contains(string(r.body), "# HELP") {
		t.Errorf("the main address still serves /metrics")
	}
	// The profiler is on the metrics address only, never on the main one.
	resp, err = http.Get("http://" + metricsAddr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /debug/pprof/ on --metrics-listen: %d", resp.StatusCode)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap"} {
		if r := s.mustCall(t, "GET", path, "", nil); r.code == http.StatusOK {
			t.Errorf("the main address serves %s", path)
		}
	}
	resp, err = http.Get("http://" + metricsAddr + "/api/v1/rules")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("the metrics address serves the API")
		}
	}

	sid, csrf, code := login(t, s, "small-admin", "right-password-2")
	if sid == "" || csrf == "" {
		t.Fatalf("login: %d", code)
	}
	doc := []byte("rules:\n  - {name: csrf-probe, type: keyword, query: 火灾, unit: u1}\n")
	if r := sessionCall(t, s, "POST", "/api/v1/rules/validate?csrf="+csrf, sid, "", doc, "Content-Type", "application/yaml"); r.code != http.StatusForbidden {
		t.Errorf("CSRF token in the query string: %s, want 403", r)
	}
	if r := sessionCall(t, s, "POST", "/api/v1/rules/validate", sid, csrf, doc, "Content-Type", "application/yaml"); r.code != http.StatusOK {
		t.Errorf("CSRF token in the header: %s, want 200", r)
	}
}

// TestTrustUnitScope: a duty officer or leader of one unit sees that unit's
// venues and reports only; a district-wide one (unit *) and the admin see
// every unit's.
func TestTrustUnitScope(t *testing.T) {
	data := t.TempDir()
	addVenue(t, data, "SCOPE-A")
	runBin(t, "admin", "venue", "add", "--data", data, "--code", "SCOPE-B", "--kind", "cafe",
		"--name", "别队网吧", "--district", "测试区", "--unit", "别的大队")
	admin := addUser(t, data, "scope-admin", "admin")
	duty := addUser(t, data, "scope-duty", "duty")       // unit 测试大队
	leader := addUser(t, data, "scope-leader", "leader") // unit 测试大队
	wide := runBin(t, "admin", "user", "add", "--data", data, "--name", "scope-wide", "--role", "leader", "--unit", "*")
	s := startServer(t, data)
	venues := func(token string) string {
		r := s.mustCall(t, "GET", "/api/v1/intake/deliveries", token, nil)
		if r.code != http.StatusOK {
			t.Fatalf("deliveries: %s", r)
		}
		return string(r.body)
	}
	if b := venues(duty); !strings.Contains(b, "SCOPE-A") || strings.Contains(b, "SCOPE-B") {
		t.Errorf("duty officer of 测试大队 sees %s, want SCOPE-A only", b)
	}
	for _, tok := range []string{admin, wide} {
		if b := venues(tok); !strings.Contains(b, "SCOPE-A") || !strings.Contains(b, "SCOPE-B") {
			t.Errorf("district-wide caller sees %s, want both venues", b)
		}
	}
	if r := s.mustCall(t, "GET", "/api/v1/reports?unit=%E5%88%AB%E7%9A%84%E5%A4%A7%E9%98%9F", leader, nil); r.code != http.StatusForbidden {
		t.Errorf("leader of 测试大队 reading 别的大队's report: %s, want 403", r)
	}
	if r := s.mustCall(t, "GET", "/api/v1/reports?unit=%E5%88%AB%E7%9A%84%E5%A4%A7%E9%98%9F", wide, nil); r.code != http.StatusOK {
		t.Errorf("district-wide leader reading 别的大队's report: %s, want 200", r)
	}
}
