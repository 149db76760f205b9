package faults

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// principal is one way of calling: a bearer token, a browser session, or
// nothing.
type principal struct {
	name    string // "none", "venue", or the role name; "session:" prefix for browser sessions
	role    string // "" for none
	token   string
	session string // np_session cookie value
	csrf    string
}

// population registers one user per role (with a password), a venue and an
// operator bound to it, before serve starts.
type population struct {
	data     string
	venue    venueKey
	tokens   map[string]string // role → bearer token
	password string
}

var userRoles = []string{"admin", "analyst", "duty", "leader", "auditor", "operator"}

func populate(t *testing.T, data string) *population {
	t.Helper()
	p := &population{data: data, tokens: map[string]string{}, password: "Correct-Horse-9-battery"}
	p.venue = registerVenues(t, data, "AC-", 1)[0]
	for _, r := range userRoles {
		extra := []string{"--password", p.password}
		if r == "operator" {
			extra = append(extra, "--venue", p.venue.code)
		}
		p.tokens[r] = addUser(t, data, "u-"+r, r, extra...)
	}
	return p
}

var noRedirect = &http.Client{Transport: insecureClient.Transport, Timeout: insecureClient.Timeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in through the login form and returns the session cookie and
// its CSRF token (read from the page, as a browser would), and the status
// of the form post.
func login(t *testing.T, s *server, name, password string) (sid, csrf string, code int) {
	t.Helper()
	resp, err := noRedirect.Get(s.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var loginCSRF string
	for _, c := range resp.Cookies() {
		if c.Name == "np_login_csrf" {
			loginCSRF = c.Value
		}
	}
	form := url.Values{"name": {name}, "password": {password}, "csrf": {loginCSRF}}
	req, _ := http.NewRequest("POST", s.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "np_login_csrf", Value: loginCSRF})
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "np_session" && c.Value != "" {
			sid = c.Value
		}
	}
	if sid == "" {
		return "", "", resp.StatusCode
	}
	// Any page of the layout carries the session's CSRF token; home may
	// redirect to the role's first page.
	r := sessionCall(t, s, "GET", "/", sid, "", nil)
	if loc := r.header.Get("Location"); r.code/100 == 3 && strings.HasPrefix(loc, "/") {
		r = sessionCall(t, s, "GET", loc, sid, "", nil)
	}
	if m := csrfField.FindSubmatch(r.body); m != nil {
		csrf = string(m[1])
	}
	return sid, csrf, resp.StatusCode
}

// sessionCall sends a request as a browser session, without following
// redirects.
func sessionCall(t *testing.T, s *server, method, path, sid, csrf string, body []byte, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.base+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "np_session", Value: sid})
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

// principals returns every caller kind: nobody, each bearer token, the
// venue key, and a browser session per user role.
func (p *population) principals(t *testing.T, s *server) []principal {
	t.Helper()
	out := []principal{{name: "none"}, {name: "venue", role: "venue", token: p.venue.key}}
	for _, r := range userRoles {
		out = append(out, principal{name: r, role: r, token: p.tokens[r]})
	}
	for _, r := range userRoles {
		sid, csrf, code := login(t, s, "u-"+r, p.password)
		if sid == "" {
			t.Fatalf("login as u-%s: status %d, no session", r, code)
		}
		out = append(out, principal{name: "session:" + r, role: r, session: sid, csrf: csrf})
	}
	return out
}

func (pr principal) call(t *testing.T, s *server, method, path string, body []byte, hdr ...string) reply {
	t.Helper()
	if pr.session != "" {
		return sessionCall(t, s, method, path, pr.session, pr.csrf, body, hdr...)
	}
	if pr.token != "" {
		hdr = append(hdr, "Authorization", "Bearer "+pr.token)
	}
	return sessionCall(t, s, method, path, "", "", body, hdr...)
}
