package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/netpulse/netpulse/csvexport"
)

// postResults is the answer of GET /api/v1/search/posts.
type postResults struct {
	Total  uint64    `json:"total"`
	Page   int       `json:"page"`
	TookMS int64     `json:"took_ms"`
	Hits   []postHit `json:"hits"`
	Facets *struct {
		Source []facetBucket `json:"source"`
		Day    []facetBucket `json:"day"`
	} `json:"facets"`
}

type postHit struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	Author      string    `json:"author"`
	URL         string    `json:"url"`
	PublishedAt time.Time `json:"published_at"`
	Score       float64   `json:"score"`
	Fragments   []string  `json:"fragments"`
	Duplicates  int       `json:"duplicates"`
	SourceTitle string    `json:"-"` // the source's display name
}

type facetBucket struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
	Label string `json:"-"` // what the page shows for Term
}

// recordResults is the answer of GET /api/v1/records. Records are shown
// as the API gives them; the columns below come first when present.
type recordResults struct {
	Total   int              `json:"total"`
	Records []map[string]any `json:"records"`
}

var recordColumns = []string{"venue", "venue_name", "kind", "place", "name", "id_type", "id_number", "started_at", "ended_at"}

func (s *Server) searchPage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "search", "nav.search", map[string]any{"Q": r.URL.Query()})
}

func postQuery(r *http.Request) url.Values {
	in := r.URL.Query()
	q := url.Values{}
	for _, k := range []string{"q", "from", "to", "sort", "page"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	if src := strings.TrimSpace(in.Get("source")); src != "" {
		q.Set("q", strings.TrimSpace(q.Get("q")+" source:"+src))
	}
	return q
}

func (s *Server) searchPosts(w http.ResponseWriter, r *http.Request) {
	q := postQuery(r)
	data := map[string]any{"Query": r.URL.Query(), "Export": "/search/posts.csv?" + r.URL.RawQuery}
	if q.Get("q") == "" {
		data["Empty"] = true
		s.Fragment(w, r, "search", "post-results", data)
		return
	}
	var res postResults
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/search/posts", q, nil, nil, &res); err != nil {
		data["Error"] = apiErrorKey(err)
		data["Detail"] = err.Error()
	}
	titles := s.sourceTitles(r.Context())
	for i := range res.Hits {
		res.Hits[i].SourceTitle = sourceTitle(titles, res.Hits[i].Source)
	}
	if res.Facets != nil {
		for i := range res.Facets.Source {
			res.Facets.Source[i].Label = sourceTitle(titles, res.Facets.Source[i].Term)
		}
	}
	data["Res"] = res
	page := res.Page
	if page < 1 {
		page = 1
	}
	if uint64(page*20) < res.Total {
		nq := r.URL.Query()
		nq.Set("page", strconv.Itoa(page+1))
		data["Next"] = "/search/posts?" + nq.Encode()
	}
	if page > 1 {
		nq := r.URL.Query()
		nq.Set("page", strconv.Itoa(page-1))
		data["Prev"] = "/search/posts?" + nq.Encode()
	}
	s.Fragment(w, r, "search", "post-results", data)
}

// apiStatus is the status a page answers for an API failure: the API's own
// 400 or 429 (the caller's input or pace), else 200 with the error shown.
func apiStatus(err error) int {
	if ae, ok := err.(*apiError); ok && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusTooManyRequests) {
		return ae.Status
	}
	return http.StatusOK
}

// apiErrorKey names the catalogue message for an API failure.
func apiErrorKey(err error) string {
	if notMounted(err) {
		return "error.api_missing"
	}
	if ae, ok := err.(*apiError); ok {
		switch ae.Status {
		case http.StatusBadRequest:
			return "error.bad_query"
		case http.StatusForbidden:
			return "error.forbidden"
		}
	}
	return "error.unavailable"
}

func (s *Server) exportPosts(w http.ResponseWriter, r *http.Request) {
	q := postQuery(r)
	q.Set("size", "100")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="netpulse-posts.csv"`)
	// Titles, authors and URLs come from crawled pages and partners: the
	// one export writer defuses formulas in them. BOM: Excel opens UTF-8
	// Chinese correctly.
	cw, err := csvexport.NewWriter(w, true)
	if err != nil {
		return
	}
	_ = cw.Write("id", "published_at", "source", "author", "title", "url")
	for page := 1; page <= 10; page++ {
		q.Set("page", strconv.Itoa(page))
		var res postResults
		if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/search/posts", q, nil, nil, &res); err != nil {
			s.logFailure(r, slog.LevelWarn, "export posts", "err", err)
			break
		}
		for _, h := range res.Hits {
			_ = cw.Write(h.ID, h.PublishedAt.UTC().Format(time.RFC3339), h.Source, h.Author, h.Title, h.URL)
		}
		if len(res.Hits) < 100 {
			break
		}
	}
	_ = cw.Flush()
}

// recordFields are the record search form's fields, in the order the
// export form repeats them.
var recordFields = []string{"case_ref", "venue", "id_number", "name", "district", "from", "to"}

// recordQuery reads the record search form from the POST body only: a
// filter in the URL would put identities where proxies and browser
// history keep them.
func recordQuery(r *http.Request) (url.Values, http.Header) {
	r.ParseForm()
	in := r.PostForm
	q := url.Values{}
	for _, k := range []string{"venue", "id_number", "name", "district", "page"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	for _, k := range []string{"from", "to"} {
		if v := dayBound(in.Get(k), k == "to"); v != "" {
			q.Set(k, v)
		}
	}
	h := http.Header{}
	h.Set("X-Case-Ref", strings.TrimSpace(in.Get("case_ref")))
	return q, h
}

func (s *Server) fetchRecords(ctx context.Context, r *http.Request) (recordResults, error) {
	q, h := recordQuery(r)
	var res recordResults
	err := s.api.call(ctx, r, http.MethodGet, "/api/v1/records", q, h, nil, &res)
	return res, err
}

// formField is one hidden field of the export form.
type formField struct{ Name, Value string }

func (s *Server) searchRecords(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	var export []formField
	for _, k := range recordFields {
		if v := strings.TrimSpace(r.PostForm.Get(k)); v != "" {
			export = append(export, formField{k, v})
		}
	}
	data := map[string]any{"Export": export, "CaseRef": strings.TrimSpace(r.PostForm.Get("case_ref"))}
	if data["CaseRef"] == "" {
		data["Error"] = "search.case_ref_required"
		s.Fragment(w, r, "search", "record-results", data)
		return
	}
	res, err := s.fetchRecords(r.Context(), r)
	if err != nil {
		data["Error"] = apiErrorKey(err)
		data["Detail"] = err.Error()
	}
	cols := columnsOf(res.Records, recordColumns)
	data["Res"], data["Cols"] = res, cols
	// The records API holds the one case-reference rule; the form gets its
	// verdict, status included.
	s.FragmentStatus(w, r, apiStatus(err), "search", "record-results", data)
}

// columnsOf lists the preferred columns present in rows, then the rest
// (except internal ones) in name order.
func columnsOf(rows []map[string]any, preferred []string) []string {
	seen := map[string]bool{}
	for _, row := range rows {
		for k := range row {
			seen[k] = true
		}
	}
	var out []string
	for _, c := range preferred {
		if seen[c] {
			out = append(out, c)
			delete(seen, c)
		}
	}
	var rest []string
	for k := range seen {
		if k != "id" && k != "record_id" && !strings.HasSuffix(k, "_hash") && !strings.HasSuffix(k, "_enc") {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// exportRecords passes on the records API's CSV export, which audits it
// as an export under the case reference.
func (s *Server) exportRecords(w http.ResponseWriter, r *http.Request) {
	q, h := recordQuery(r)
	q.Set("format", "csv")
	var raw []byte
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/records", q, h, nil, &raw); err != nil {
		code := http.StatusBadGateway
		if st := apiStatus(err); st/100 == 4 {
			code = st
		}
		s.Error(w, r, code, apiErrorKey(err))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="netpulse-records.csv"`)
	w.Write([]byte("\xEF\xBB\xBF"))
	w.Write(raw)
}

// dayBound turns a date input (2026-11-29) into the RFC 3339 start or end
// of that day in China Standard Time; other text passes unchanged.
func dayBound(v string, end bool) string {
	v = strings.TrimSpace(v)
	d, err := time.ParseInLocation(time.DateOnly, v, cst)
	if err != nil {
		return v
	}
	if end {
		d = d.Add(24*time.Hour - time.Second)
	}
	return d.Format(time.RFC3339)
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// reveal asks the records API for one identity in full. The API checks the
// role and the case reference and writes the audit entry.
func (s *Server) reveal(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("id")
	caseRef := strings.TrimSpace(r.FormValue("case_ref"))
	data := map[string]any{"ID": id}
	if caseRef == "" {
		data["Error"] = "search.case_ref_required"
		s.Fragment(w, r, "search", "revealed", data)
		return
	}
	h := http.Header{}
	h.Set("X-Case-Ref", caseRef)
	var out map[string]any
	err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/records/"+url.PathEscape(id)+"/reveal", nil, h, nil, &out)
	if err != nil {
		data["Error"] = apiErrorKey(err)
		data["Detail"] = err.Error()
	} else {
		data["Value"], _ = out["id_number"].(string)
		data["Name"], _ = out["name"].(string)
	}
	s.FragmentStatus(w, r, apiStatus(err), "search", "revealed", data)
}
