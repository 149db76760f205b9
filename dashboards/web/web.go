// Package web is the browser UI of netpulse: server-rendered pages for
// analysts, duty officers, venue operators, auditors, admins and leaders.
//
// Pages are html/template documents enhanced with htmx rather than a
// single-page front end: the server already holds the data, the session and
// the role checks, so rendering there keeps one source of truth, needs no
// Node toolchain to build, works over the slow links of district stations,
// and lets the pages call the very same JSON APIs (in process) that outside
// clients use. htmx and Apache ECharts are vendored minified files embedded
// in the binary; all JavaScript lives in static files so that the Content
// Security Policy forbids inline scripts.
package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/dashboards/i18n"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Options are the Server's dependencies.
type Options struct {
	Access *access.Registry
	// Mux serves the JSON APIs of the other subsystems; pages call it in
	// process. It is also where Register adds the UI routes.
	Mux *http.ServeMux
	// DB answers the trend queries that no API serves yet.
	DB     *store.DB
	Log    *slog.Logger
	Secure bool // TLS: cookies get the Secure flag
	// DeadLetters, if set, counts the messages held in the dead-letter
	// topic (shown on the admin page: input the pipeline could not use).
	DeadLetters func(ctx context.Context) (int64, error)
	// SourceTitles maps feed source names to the names pages show; nil,
	// or a name it lacks, shows the source's name.
	SourceTitles func(context.Context) (map[string]string, error)
}

// Server holds the UI's handlers.
type Server struct {
	*Shell
	access *access.Registry
	api    apiClient
	db     *store.DB
	log    *slog.Logger
	secure bool
	static http.Handler
	dead   func(ctx context.Context) (int64, error)
	titles func(context.Context) (map[string]string, error)
}

// sourceTitles maps source names to display names; on failure the pages
// show names, which is worse to read but still right.
func (s *Server) sourceTitles(ctx context.Context) map[string]string {
	if s.titles == nil {
		return nil
	}
	m, err := s.titles(ctx)
	if err != nil {
		s.log.Debug("source titles", "err", err)
	}
	return m
}

// sourceTitle is name's display name under titles.
func sourceTitle(titles map[string]string, name string) string {
	if t := titles[name]; t != "" {
		return t
	}
	return name
}

// New builds the UI server.
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	sh, err := NewShell(o.Access, ShellOptions{Secure: o.Secure, Log: o.Log, Routes: o.Mux})
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return &Server{Shell: sh, access: o.Access, api: apiClient{mux: o.Mux}, db: o.DB, log: o.Log,
		secure: o.Secure, static: http.StripPrefix("/static/", http.FileServerFS(sub)), dead: o.DeadLetters, titles: o.SourceTitles}, nil
}

// Register adds the UI's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	analyst := s.Guard(access.RoleAnalyst)
	trends := s.Guard(access.RoleAnalyst, access.RoleDuty)
	duty := s.Guard(access.RoleDuty)
	operator := s.Guard(access.RoleOperator)
	admin := s.Guard(access.RoleAdmin)
	auditor := s.Guard(access.RoleAuditor)
	anyone := s.Guard(access.UserRoles...)

	mux.Handle("GET /static/", s.secure1(http.HandlerFunc(s.serveStatic)))
	mux.Handle("GET /favicon.ico", s.secure1(http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently)))
	mux.Handle("GET /login", s.secure1(http.HandlerFunc(s.loginPage)))
	mux.Handle("POST /login", s.secure1(http.HandlerFunc(s.login)))
	mux.Handle("POST /logout", anyone(http.HandlerFunc(s.logout)))
	mux.Handle("GET /lang/{lang}", s.secure1(http.HandlerFunc(s.setLang)))
	mux.Handle("GET /{$}", anyone(http.HandlerFunc(s.home)))

	mux.Handle("GET /search", analyst(http.HandlerFunc(s.searchPage)))
	mux.Handle("GET /search/posts", analyst(http.HandlerFunc(s.searchPosts)))
	mux.Handle("GET /search/posts.csv", analyst(http.HandlerFunc(s.exportPosts)))
	// Record searches are POSTs: their filters (identity numbers, names,
	// case references) travel in the body, never in a URL that proxies,
	// browser history and download lists keep.
	mux.Handle("POST /search/records", analyst(http.HandlerFunc(s.searchRecords)))
	mux.Handle("POST /search/records.csv", analyst(http.HandlerFunc(s.exportRecords)))
	mux.Handle("POST /search/reveal", analyst(http.HandlerFunc(s.reveal)))

	mux.Handle("GET /trends", trends(http.HandlerFunc(s.trendsPage)))
	mux.Handle("GET /trends/term", trends(http.HandlerFunc(s.termHistory)))

	mux.Handle("GET /alerts", duty(http.HandlerFunc(s.alertsPage)))
	mux.Handle("GET /alerts/board", duty(http.HandlerFunc(s.alertsBoard)))
	mux.Handle("POST /alerts/{id}/{action}", duty(http.HandlerFunc(s.alertAction)))
	mux.Handle("GET /venues", duty(http.HandlerFunc(s.venuesPage)))

	mux.Handle("GET /operator", operator(http.HandlerFunc(s.operatorPage)))
	mux.Handle("GET /operator/lists", operator(http.HandlerFunc(s.operatorLists)))
	mux.Handle("POST /operator/upload", operator(http.HandlerFunc(s.operatorUpload)))
	mux.Handle("GET /operator/receipts/{batch}", operator(http.HandlerFunc(s.operatorReceipt)))
	mux.Handle("POST /operator/quarantine/{id}", operator(http.HandlerFunc(s.operatorFix)))

	mux.Handle("GET /admin", admin(http.HandlerFunc(s.adminPage)))
	mux.Handle("POST /admin/venues", admin(http.HandlerFunc(s.adminAddVenue)))
	mux.Handle("POST /admin/venues/{code}/rotate", admin(http.HandlerFunc(s.adminRotateKey)))
	mux.Handle("POST /admin/sources", admin(http.HandlerFunc(s.adminAddSource)))

	mux.Handle("GET /audit", auditor(http.HandlerFunc(s.auditPage)))
	mux.Handle("GET /audit/entries", auditor(http.HandlerFunc(s.auditEntries)))
	mux.Handle("POST /audit/verify", auditor(http.HandlerFunc(s.auditVerify)))
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	// Assets are embedded and change only with the binary.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	s.static.ServeHTTP(w, r)
}

// home sends a user to the first page their role may see.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	si, _ := sessionFrom(r)
	items := s.navFor(si.P.Role)
	if len(items) == 0 {
		// A role whose pages are not mounted yet (reports) gets a page
		// saying so rather than an error.
		s.Render(w, r, http.StatusOK, "error", "home.nothing", map[string]any{"Status": "", "Key": "home.nothing"})
		return
	}
	http.Redirect(w, r, items[0].Path, http.StatusSeeOther)
}

const loginCSRFCookie = "np_login_csrf"

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, errKey string) {
	// Login has no session yet, so its CSRF token is a double-submit cookie.
	tok := access.NewSecret("")
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	s.Render(w, r, status, "login", "login.title", map[string]string{
		"CSRF": tok, "Error": errKey, "Next": safeNext(r.FormValue("next")),
	})
}

// safeNext keeps redirects after login on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") {
		return ""
	}
	if u, err := url.Parse(n); err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return n
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCSRFCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.showLogin(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	sid, _, err := s.access.Login(r.Context(), strings.TrimSpace(r.FormValue("name")), r.FormValue("password"))
	switch {
	case errors.Is(err, access.ErrLockedOut):
		s.showLogin(w, r, http.StatusTooManyRequests, "login.locked")
		return
	case errors.Is(err, access.ErrLoginBusy):
		w.Header().Set("Retry-After", "2")
		s.showLogin(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	case errors.Is(err, access.ErrUnauthenticated):
		s.showLogin(w, r, http.StatusUnauthorized, "login.failed")
		return
	case err != nil:
		s.logFailure(r, slog.LevelError, "login", "err", err)
		s.showLogin(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: access.SessionCookie, Value: sid, Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	next := safeNext(r.FormValue("next"))
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(access.SessionCookie); err == nil {
		if err := s.access.Logout(r.Context(), ck.Value); err != nil {
			s.logFailure(r, slog.LevelError, "logout", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: access.SessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	lang := r.PathValue("lang")
	for _, l := range i18n.Languages() {
		if l == lang {
			http.SetCookie(w, &http.Cookie{Name: i18n.Cookie, Value: l, Path: "/", Secure: s.secure, HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Expires: time.Now().AddDate(1, 0, 0)})
		}
	}
	back := "/"
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		if n := safeNext(ref.RequestURI()); n != "" {
			back = n
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
