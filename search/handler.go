package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/netpulse/netpulse/jsonapi"
)

// Handler serves GET /api/v1/search/posts:
//
//	q     the query (see ParseQuery)
//	from, to   RFC 3339 times or YYYY-MM-DD days (to is inclusive of its day)
//	sort  relevance (default) or time
//	page  from 1; size hits per page (default 20, at most 100)
//	collapse  1 (default) folds near-duplicate clusters; 0 shows them all
//	facets    1 (default) adds counts by source and by day
//
// It answers {"total":N,"hits":[{"id","title","fragments":[…]},…],"facets":{…}}.
// Bad parameters or a malformed query get 400 with {"error": "…"} naming the
// problem; a search past the time limit gets 503. Authorisation is the
// caller's (access.Require wraps this handler in serve).
type Handler struct {
	s   *Searcher
	log *slog.Logger
}

// NewHandler returns the HTTP handler for s.
func NewHandler(s *Searcher, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{s: s, log: log}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		jsonapi.Error(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	req, err := ParseRequest(r, h.s.idx.Location())
	if err != nil {
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := h.s.Search(r.Context(), req)
	var qe *QueryError
	switch {
	case errors.As(err, &qe):
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, ErrTimeout):
		w.Header().Set("Retry-After", "5")
		jsonapi.Error(w, http.StatusServiceUnavailable, err.Error()+"; narrow the query or the time range")
		return
	case err != nil:
		jsonapi.LogFailure(h.log, r, slog.LevelError, "search posts", "q", req.Query, "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "search failed")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(res)
}

// ParseRequest reads the URL parameters of a search. Days (2026-11-29) are
// days in loc, the time zone of the index's days.
func ParseRequest(r *http.Request, loc *time.Location) (Request, error) {
	v := r.URL.Query()
	req := Request{Query: v.Get("q"), Collapse: true, Facets: true}
	var err error
	if req.From, err = parseTime(v.Get("from"), false, loc); err != nil {
		return req, fmt.Errorf("from: %w", err)
	}
	if req.To, err = parseTime(v.Get("to"), true, loc); err != nil {
		return req, fmt.Errorf("to: %w", err)
	}
	switch v.Get("sort") {
	case "", "relevance":
	case "time":
		req.SortTime = true
	default:
		return req, fmt.Errorf("sort: %q is neither relevance nor time", v.Get("sort"))
	}
	if req.Page, err = intParam(v.Get("page"), 1); err != nil {
		return req, fmt.Errorf("page: %w", err)
	}
	if req.Size, err = intParam(v.Get("size"), DefaultPageSize); err != nil {
		return req, fmt.Errorf("size: %w", err)
	}
	if req.Size > MaxPageSize {
		return req, fmt.Errorf("size: at most %d", MaxPageSize)
	}
	for name, dst := range map[string]*bool{"collapse": &req.Collapse, "facets": &req.Facets} {
		switch v.Get(name) {
		case "":
		case "1", "true":
			*dst = true
		case "0", "false":
			*dst = false
		default:
			return req, fmt.Errorf("%s: want 0 or 1, got %q", name, v.Get(name))
		}
	}
	return req, nil
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return n, nil
}

// parseTime accepts RFC 3339 or a day; a day as the end of a range means
// the end of that day.
func parseTime(s string, end bool, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-11-29T08:00:00Z) nor a day (2026-11-29)", s)
	}
	if end {
		d = d.Add(24*time.Hour - time.Nanosecond)
	}
	return d, nil
}
