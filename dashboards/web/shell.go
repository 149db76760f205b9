package web

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/dashboards/i18n"
	"github.com/netpulse/netpulse/jsonapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Shell is the frame every page is drawn in: the session check, the nav bar,
// the message catalogues and the security headers. Other dashboard packages
// (performance reports) build one with NewShell to mount their pages with
// the same look and the same rules, without depending on the Server.
type Shell struct {
	reg    *access.Registry
	cats   map[string]i18n.Catalogue
	pages  map[string]map[string]*template.Template // lang -> page file -> set
	secure bool
	log    *slog.Logger
	// routes, when set, tells whether an optional page (reports) is mounted,
	// so the nav never links to a 404.
	routes interface {
		Handler(*http.Request) (http.Handler, string)
	}
}

// ShellOptions configures a Shell.
type ShellOptions struct {
	Secure bool // set the Secure flag on cookies (serving over TLS)
	Log    *slog.Logger
	// Routes is the serve mux; with it the nav hides optional pages that no
	// subsystem has mounted.
	Routes interface {
		Handler(*http.Request) (http.Handler, string)
	}
}

// NewShell parses the embedded templates for every language.
func NewShell(reg *access.Registry, o ShellOptions) (*Shell, error) {
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Shell{reg: reg, cats: cats, pages: map[string]map[string]*template.Template{}, secure: o.Secure, log: o.Log, routes: o.Routes}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	for lang, cat := range cats {
		s.pages[lang] = map[string]*template.Template{}
		base, err := template.New("layout.html").Funcs(funcs(lang, cat)).ParseFS(templateFS, "templates/layout.html")
		if err != nil {
			return nil, fmt.Errorf("parse layout: %w", err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
			if name == "layout" {
				continue
			}
			t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
			if err != nil {
				return nil, fmt.Errorf("parse template %s: %w", f, err)
			}
			s.pages[lang][name] = t
		}
	}
	return s, nil
}

func funcs(lang string, cat i18n.Catalogue) template.FuncMap {
	return template.FuncMap{
		"t": cat.Text,
		// col names a table column; fields an API adds later show as
		// their JSON name until the catalogue has them. A context ("source")
		// picks a more specific name first.
		"col": func(k string, context ...string) string {
			for _, c := range context {
				if s, ok := cat["col."+c+"."+k]; ok {
					return s
				}
			}
			if s, ok := cat["col."+k]; ok {
				return s
			}
			return k
		},
		"lang": func() string { return lang },
		"time": func(v any) string { return fmtTime(v) },
		"highlight": func(s string) template.HTML {
			return highlight(s)
		},
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"sevclass": func(s string) string {
			switch strings.ToLower(s) {
			case "critical", "high", "p1":
				return "sev-critical"
			case "warning", "medium", "p2":
				return "sev-warning"
			default:
				return "sev-info"
			}
		},
		"has": func(m map[string]any, k string) bool { _, ok := m[k]; return ok },
		"str": plain,
		// cell shows one API value in a table: times in CST, codes by
		// their catalogue names.
		"cell": func(col string, v any) string {
			s := plain(v)
			switch {
			case col == "at" || strings.HasSuffix(col, "_at"):
				return fmtTime(v)
			case col == "kind":
				if t, ok := cat["venue."+s]; ok {
					return t
				}
				if t, ok := cat["source_kind."+s]; ok {
					return t
				}
			case col == "actor":
				// "user:li" is the audit log's principal id; the reader
				// wants the name (the role has its own column).
				if name, ok := strings.CutPrefix(s, "user:"); ok {
					return name
				}
			case col == "chain" && s == "":
				// One node writes one chain, which has no name.
				return cat["audit.chain_single"]
			case col == "role":
				if t, ok := cat["role."+s]; ok {
					return t
				}
			case col == "id_type" || col == "action" || col == "outcome":
				if t, ok := cat["code."+s]; ok {
					return t
				}
			}
			return s
		},
		// day turns a day facet (20261129) into a date (2026-11-29).
		"day": func(s string) string {
			if len(s) == 8 {
				return s[:4] + "-" + s[4:6] + "-" + s[6:]
			}
			return s
		},
		"query": url.QueryEscape,
		"add":   func(a, b int) int { return a + b },
	}
}

// plain shows a decoded JSON value as text, integers without exponent.
func plain(v any) string {
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprint(v)
}

// fmtTime shows an API timestamp in China Standard Time, the officers' clock.
func fmtTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return ""
		}
		t = *x
	case string:
		p, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return x
		}
		t = p
	default:
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format("2006-01-02 15:04")
}

var cst = time.FixedZone("CST", 8*3600)

// highlight makes a search fragment safe to show while keeping its <mark>
// tags: every text run is unescaped then escaped again, so the result is
// the same whether or not the search engine escaped its fragments, and no
// other markup survives.
func highlight(s string) template.HTML {
	var b strings.Builder
	for s != "" {
		i := strings.Index(s, "<mark>")
		j := strings.Index(s, "</mark>")
		next, tag, n := len(s), "", 0
		if i >= 0 && i < next {
			next, tag, n = i, "<mark>", 6
		}
		if j >= 0 && j < next {
			next, tag, n = j, "</mark>", 7
		}
		b.WriteString(template.HTMLEscapeString(htmlUnescape(s[:next])))
		b.WriteString(tag)
		s = s[next+n:]
	}
	out := b.String()
	// Balance tags so a fragment cut inside a highlight cannot spill.
	if d := strings.Count(out, "<mark>") - strings.Count(out, "</mark>"); d > 0 {
		out += strings.Repeat("</mark>", d)
	}
	return template.HTML(out)
}

// navItem is one link in the nav bar.
type navItem struct {
	Path, Key string
	Roles     []access.Role
	Optional  bool // shown only if some subsystem mounted it
}

var nav = []navItem{
	{Path: "/search", Key: "nav.search", Roles: []access.Role{access.RoleAnalyst}},
	{Path: "/trends", Key: "nav.trends", Roles: []access.Role{access.RoleAnalyst, access.RoleDuty}},
	{Path: "/alerts", Key: "nav.alerts", Roles: []access.Role{access.RoleDuty}},
	{Path: "/venues", Key: "nav.venues", Roles: []access.Role{access.RoleDuty}, Optional: true},
	{Path: "/operator", Key: "nav.operator", Roles: []access.Role{access.RoleOperator}},
	{Path: "/admin", Key: "nav.admin", Roles: []access.Role{access.RoleAdmin}},
	{Path: "/audit", Key: "nav.audit", Roles: []access.Role{access.RoleAuditor}},
	{Path: "/reports/", Key: "nav.reports", Roles: []access.Role{access.RoleLeader}, Optional: true},
}

func (s *Shell) navFor(role access.Role) []navItem {
	var out []navItem
	for _, n := range nav {
		if !slices.Contains(n.Roles, role) {
			continue
		}
		if n.Optional && !s.mounted(n.Path) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func (s *Shell) mounted(path string) bool {
	if s.routes == nil {
		return true
	}
	r, _ := http.NewRequest(http.MethodGet, path, nil)
	_, pattern := s.routes.Handler(r)
	return pattern != ""
}

// Page is what the layout needs besides the page's own data.
type Page struct {
	Lang      string
	Title     string
	Active    string
	ActiveNav string // path of the nav item to highlight
	User      access.Principal
	CSRF      string
	HXHeaders string
	Nav       []navItem
	Body      template.HTML // for pages drawn by other packages
	Data      any
}

type sessionKey struct{}

type sessionInfo struct {
	P    access.Principal
	CSRF string
}

// Guard lets a browser request through only with a live session whose role
// is one of roles; other callers go to the login page (or get 403). State-
// changing requests must carry the session's CSRF token in the X-CSRF-Token
// header (htmx) or the "csrf" form field. The principal is put in the
// request context for access.FromContext.
func (s *Shell) Guard(roles ...access.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return s.secure1(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := r.Cookie(access.SessionCookie)
			var p access.Principal
			var csrf string
			if err == nil {
				p, csrf, err = s.reg.Session(r.Context(), c.Value)
			}
			if err != nil {
				if !errors.Is(err, access.ErrUnauthenticated) && !errors.Is(err, http.ErrNoCookie) {
					s.logFailure(r, slog.LevelError, "session check", "err", err)
					s.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
					return
				}
				if r.Header.Get("HX-Request") != "" {
					w.Header().Set("HX-Redirect", "/login")
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			ctx := access.WithPrincipal(r.Context(), p)
			ctx = contextWithSession(ctx, sessionInfo{P: p, CSRF: csrf})
			r = r.WithContext(ctx)
			if !slices.Contains(roles, p.Role) {
				s.Error(w, r, http.StatusForbidden, "error.forbidden")
				return
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				got := access.CSRFToken(r)
				if csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
					s.Error(w, r, http.StatusForbidden, "error.csrf")
					return
				}
			}
			next.ServeHTTP(w, r)
		}))
	}
}

// contentSecurityPolicy allows scripts only from our own origin: every
// script is a static file, none inline. ECharts sets inline styles, hence
// style-src 'unsafe-inline' (styles cannot run code).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; " +
	"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// secure1 sets the security headers on every response of the UI.
func (s *Shell) secure1(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// Render draws a page: the layout around the page template named page,
// with data as .Data.
func (s *Shell) Render(w http.ResponseWriter, r *http.Request, status int, page, titleKey string, data any) {
	s.render(w, r, status, page, "layout", titleKey, data, "")
}

// Frame draws body (HTML made by the caller) inside the layout, titled
// title. It is how other packages put their pages in the shell; r must
// have passed Guard.
func (s *Shell) Frame(w http.ResponseWriter, r *http.Request, title string, body template.HTML) {
	s.render(w, r, http.StatusOK, "frame", "layout", "", nil, title, body)
}

// Fragment draws only the named template of page (for htmx swaps).
func (s *Shell) Fragment(w http.ResponseWriter, r *http.Request, page, name string, data any) {
	s.render(w, r, http.StatusOK, page, name, "", data, "")
}

// FragmentStatus renders a fragment with a status other than 200 (a 400
// for a case reference the records API refused, say).
func (s *Shell) FragmentStatus(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	s.render(w, r, status, page, name, "", data, "")
}

func (s *Shell) render(w http.ResponseWriter, r *http.Request, status int, page, name, titleKey string, data any, title string, body ...template.HTML) {
	lang := i18n.Of(r)
	t := s.pages[lang][page]
	if t == nil {
		http.Error(w, "no template "+page, http.StatusInternalServerError)
		return
	}
	pd := s.pageData(r, lang, page, titleKey, data)
	if title != "" {
		pd.Title = title
	}
	if len(body) > 0 {
		pd.Body = body[0]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, pd); err != nil {
		s.logFailure(r, slog.LevelError, "render page", "page", page, "template", name, "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Shell) pageData(r *http.Request, lang, page, titleKey string, data any) Page {
	pd := Page{Lang: lang, Active: page, Data: data}
	if titleKey != "" {
		pd.Title = s.cats[lang].Text(titleKey)
	}
	if si, ok := sessionFrom(r); ok {
		pd.User, pd.CSRF = si.P, si.CSRF
		pd.Nav = s.navFor(si.P.Role)
		for _, n := range pd.Nav {
			if r.URL.Path == n.Path || strings.HasPrefix(r.URL.Path, strings.TrimSuffix(n.Path, "/")+"/") {
				pd.ActiveNav = n.Path
			}
		}
		b, _ := json.Marshal(map[string]string{access.CSRFHeader: si.CSRF})
		pd.HXHeaders = string(b)
	}
	return pd
}

// Error draws an error page (or a short fragment for htmx requests).
func (s *Shell) Error(w http.ResponseWriter, r *http.Request, status int, key string) {
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<div class="notice notice-error">%s</div>`, template.HTMLEscapeString(s.cats[i18n.Of(r)].Text(key)))
		return
	}
	s.Render(w, r, status, "error", key, map[string]any{"Status": status, "Key": key})
}

// T translates key in the request's language.
func (s *Shell) T(r *http.Request, key string, args ...any) string {
	return s.cats[i18n.Of(r)].Text(key, args...)
}

// logFailure logs a step that failed behind a page at level, or at debug
// when the client went away (jsonapi.LogFailure says why).
func (s *Shell) logFailure(r *http.Request, level slog.Level, msg string, args ...any) {
	jsonapi.LogFailure(s.log, r, level, msg, args...)
}
