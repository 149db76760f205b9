package web

import (
	"net/http"
	"net/url"
	"strings"
)

var auditColumns = []string{"seq", "at", "actor", "role", "action", "case_ref", "filter", "rows", "outcome", "chain", "hash"}

type auditData struct {
	Query   url.Values
	Entries []map[string]any
	Cols    []string
	Total   any
	Error   string
	Verify  map[string]any
	Alerts  []map[string]any // privacy alerts (identity-lookup patterns)
}

func auditQuery(r *http.Request) url.Values {
	in := r.URL.Query()
	q := url.Values{}
	for _, k := range []string{"from", "to"} {
		if v := dayBound(in.Get(k), k == "to"); v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", "1000")
	return q
}

func (s *Server) auditData(r *http.Request) auditData {
	d := auditData{Query: r.URL.Query()}
	var raw []byte
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/audit", auditQuery(r), nil, nil, &raw); err != nil {
		d.Error = apiErrorKey(err)
		return d
	}
	rows, err := decodeList(raw, "entries")
	if err != nil {
		d.Error = "error.unavailable"
		return d
	}
	if as, err := decodeList(raw, "alerts"); err == nil {
		d.Alerts = as
	}
	// The audit API filters by time; actor, action and case reference are
	// narrowed here.
	in := r.URL.Query()
	kept := rows[:0]
	for _, e := range rows {
		if matches(e, "actor", in.Get("actor")) && matches(e, "action", in.Get("action")) && matches(e, "case_ref", in.Get("case_ref")) {
			kept = append(kept, e)
		}
	}
	rows = kept
	d.Entries = flatten(rows)
	d.Cols = columnsOf(d.Entries, auditColumns)
	d.Total = len(rows)
	return d
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "audit", "nav.audit", s.auditData(r))
}

func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request) {
	s.Fragment(w, r, "audit", "entries", s.auditData(r))
}

// auditVerify asks the audit API to walk the hash chain.
func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) {
	d := auditData{}
	var out map[string]any
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/audit/verify", nil, nil, nil, &out); err != nil {
		d.Error = apiErrorKey(err)
	}
	d.Verify = out
	s.Fragment(w, r, "audit", "verify", d)
}

func matches(e map[string]any, key, want string) bool {
	want = strings.TrimSpace(want)
	if want == "" {
		return true
	}
	v, _ := e[key].(string)
	return strings.Contains(strings.ToLower(v), strings.ToLower(want))
}
