package web

import (
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/dashboards/i18n"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	if len(cats) != len(i18n.Languages()) {
		t.Fatalf("loaded %d catalogues, want %d", len(cats), len(i18n.Languages()))
	}
	for _, m := range i18n.Missing(cats) {
		t.Errorf("missing key %s", m)
	}
	for lang, c := range cats {
		for k, v := range c {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %s is empty", lang, k)
			}
		}
	}
}

// Every key the templates and handlers name must be in the catalogue, so
// no "[key]" placeholder reaches the screen.
func TestEveryUsedKeyIsInTheCatalogue(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	zh := cats["zh-CN"]
	used := map[string]bool{}
	keyRe := regexp.MustCompile(`"((?:app|nav|login|error|home|search|trends|alerts|operator|admin|audit|role|sev|venue|col)\.[a-z_.0-9]+)"`)
	check := func(name string, b []byte) {
		for _, m := range keyRe.FindAllSubmatch(b, -1) {
			used[string(m[1])] = true
		}
	}
	files, _ := fs.Glob(templateFS, "templates/*.html")
	for _, f := range files {
		b, _ := templateFS.ReadFile(f)
		check(f, b)
	}
	goFiles, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		check(f, b)
	}
	// Keys built at run time.
	for _, r := range access.UserRoles {
		used["role."+string(r)] = true
	}
	for _, s := range []string{"critical", "warning", "info"} {
		used["sev."+s] = true
	}
	for a := range alertActions {
		used["alerts.done_"+a] = true
	}
	for _, k := range []string{"alerts.fb_useful", "alerts.fb_noise", "trends.status_bursting", "trends.status_cooling"} {
		used[k] = true
	}
	for k := range used {
		if strings.HasSuffix(k, "_") || strings.HasSuffix(k, ".") {
			continue // a prefix completed at run time
		}
		if _, ok := zh[k]; !ok {
			t.Errorf("key %q is used but not in zh-CN.json", k)
		}
	}
	if len(used) < 100 {
		t.Errorf("found only %d keys; the scan is broken", len(used))
	}
}

func TestHighlight(t *testing.T) {
	tests := []struct{ in, want string }{
		{"江岸区<mark>诈骗</mark>警示", "江岸区<mark>诈骗</mark>警示"},
		{"<script>alert(1)</script><mark>火灾</mark>", "&lt;script&gt;alert(1)&lt;/script&gt;<mark>火灾</mark>"},
		{"a &lt;b&gt; <mark>c</mark>", "a &lt;b&gt; <mark>c</mark>"},
		{"<mark>unclosed", "<mark>unclosed</mark>"},
		{`<img src=x onerror=alert(1)>`, "&lt;img src=x onerror=alert(1)&gt;"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(highlight(tt.in)); got != tt.want {
			t.Errorf("highlight(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var tagRe = regexp.MustCompile(`<(/?)([a-zA-Z]+)`)

func FuzzHighlight(f *testing.F) {
	for _, s := range []string{"<mark>火</mark>灾", "<b>x</b>", "<mark><mark>", "&lt;mark&gt;x", "</mark>a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(highlight(s))
		for _, m := range tagRe.FindAllStringSubmatch(out, -1) {
			if m[2] != "mark" {
				t.Fatalf("highlight(%q) let a <%s> tag through: %q", s, m[2], out)
			}
		}
		if strings.Count(out, "<mark>") > strings.Count(out, "</mark>") {
			t.Fatalf("highlight(%q) leaves a <mark> open: %q", s, out)
		}
	})
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/search?q=1", "/search?q=1"},
		{"//evil.example/", ""},
		{"/\\evil.example", ""},
		{"https://evil.example/", ""},
		{"search", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// newTestServer runs the UI on a real access registry, with no other
// subsystem mounted.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	reg, err := access.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, r := range []access.Role{access.RoleAnalyst, access.RoleAuditor} {
		if _, err := reg.AddUser(ctx, access.UserSpec{Name: string(r), Role: r, Password: string(r) + "-test-pass"}); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	s, err := New(Options{Access: reg, Mux: mux})
	if err != nil {
		t.Fatal(err)
	}
	s.Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func loginAs(t *testing.T, ts *httptest.Server, c *http.Client, name, pass string) *http.Response {
	t.Helper()
	resp, err := c.Get(ts.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(ts.URL + "/login")
	var tok string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == loginCSRFCookie {
			tok = ck.Value
		}
	}
	resp, err = c.PostForm(ts.URL+"/login", url.Values{"name": {name}, "password": {pass}, "csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestLoginSessionAndRoles(t *testing.T) {
	ts := newTestServer(t)
	c := client()

	resp, err := c.Get(ts.URL + "/search")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous /search: %d to %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A login without the form's token is refused.
	resp, err = c.PostForm(ts.URL+"/login", url.Values{"name": {"analyst"}, "password": {"analyst-test-pass"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp := loginAs(t, ts, c, "analyst", "wrong-password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
	resp = loginAs(t, ts, c, "analyst", "analyst-test-pass")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d, want 303", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == access.SessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Strict", sess)
	}

	tests := []struct {
		method, path string
		csrf         bool
		want         int
	}{
		{"GET", "/search", false, http.StatusOK},
		{"GET", "/audit", false, http.StatusForbidden},
		{"GET", "/alerts", false, http.StatusForbidden},
		{"POST", "/search/reveal", false, http.StatusForbidden},
		{"POST", "/search/reveal", true, http.StatusOK},
		{"GET", "/static/app.js", false, http.StatusOK},
	}
	page, _ := c.Get(ts.URL + "/search")
	body := readAll(t, page)
	m := regexp.MustCompile(`hx-headers="\{&#34;X-CSRF-Token&#34;:&#34;([^&]+)&#34;\}"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in hx-headers of /search")
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader("id=x&case_ref=C-1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tt.csrf {
			req.Header.Set(access.CSRFHeader, m[1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s (csrf %v): %d, want %d", tt.method, tt.path, tt.csrf, resp.StatusCode, tt.want)
		}
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: security headers missing: %v", tt.path, h)
		}
	}

	// Logout ends the session.
	req, _ := http.NewRequest("POST", ts.URL+"/logout", strings.NewReader("csrf="+url.QueryEscape(m[1])))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", resp, err)
	}
	resp, _ = c.Get(ts.URL + "/search")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("/search after logout: %d, want a redirect to login", resp.StatusCode)
	}
}

// The nav offers each role only its own pages, and no inline script is
// ever rendered (the CSP would block it).
func TestNavAndNoInlineScript(t *testing.T) {
	ts := newTestServer(t)
	c := client()
	loginAs(t, ts, c, "auditor", "auditor-test-pass")
	resp, err := c.Get(ts.URL + "/audit")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	nav := regexp.MustCompile(`(?s)<nav class="mainnav".*?</nav>`).FindString(body)
	if !strings.Contains(nav, `href="/audit"`) || strings.Contains(nav, `href="/search"`) || strings.Contains(nav, `href="/alerts"`) {
		t.Errorf("auditor nav = %s", nav)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]+</script>| on[a-z]+="`).MatchString(body) {
		t.Errorf("inline script in /audit")
	}
	if !strings.Contains(body, "审计日志") {
		t.Errorf("/audit is not in Chinese by default")
	}
	// English on request, from the catalogue.
	c.Jar.SetCookies(resp.Request.URL, []*http.Cookie{{Name: i18n.Cookie, Value: "en"}})
	resp, _ = c.Get(ts.URL + "/audit")
	if body := readAll(t, resp); !strings.Contains(body, "Audit log") {
		t.Errorf("/audit in English lacks its title")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}
