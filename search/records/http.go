package records

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/netpulse/netpulse/privacy/audit"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/privacy/identity"
)

// CaseRefHeader carries the case an analyst works on.
const CaseRefHeader = "X-Case-Ref"

// maxExport bounds one CSV export.
const maxExport = 10000

// API serves record search, reveal and the audit log.
type API struct {
	Search *Searcher
	Audit  *audit.Audit
	Log    *slog.Logger
}

// Routes adds the endpoints to mux.
func (a *API) Routes(mux *http.ServeMux, reg *access.Registry) {
	analyst := access.Require(reg, access.RoleAnalyst)
	auditor := access.Require(reg, access.RoleAuditor)
	mux.Handle("GET /api/v1/records", analyst(http.HandlerFunc(a.handleSearch)))
	mux.Handle("GET /api/v1/records/{id}/reveal", analyst(http.HandlerFunc(a.handleReveal)))
	mux.Handle("GET /api/v1/audit", auditor(http.HandlerFunc(a.handleAuditList)))
	mux.Handle("GET /api/v1/audit/verify", auditor(http.HandlerFunc(a.handleAuditVerify)))
}

func validCaseRef(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// audit writes an entry; when the log cannot be written the request fails,
// since personal data must not be shown without a trace.
func (a *API) audit(ctx context.Context, r *http.Request, action, caseRef, filter string, rows int, outcome string) error {
	p, _ := access.FromContext(r.Context())
	_, err := a.Audit.Append(ctx, audit.Entry{Actor: p.Kind + ":" + p.Name, Role: string(p.Role), Action: action,
		CaseRef: caseRef, Filter: filter, Rows: uint64(rows), Outcome: outcome})
	if err != nil && a.Log != nil {
		a.Log.Error("audit append failed", "action", action, "err", err)
	}
	return err
}

func parseFilter(r *http.Request) (Filter, error) {
	q := r.URL.Query()
	f := Filter{IDType: q.Get("id_type"), IDNumber: q.Get("id_number"), Name: q.Get("name"),
		Venue: q.Get("venue"), District: q.Get("district")}
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := q.Get(t.key); s != "" {
			v, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, errors.New(t.key + ": not an RFC 3339 time")
			}
			*t.dst = v.UTC()
		}
	}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.PageSize, _ = strconv.Atoi(q.Get("page_size"))
	f.PageSize = min(max(f.PageSize, 0), 500)
	return f, nil
}

// describe is the filter as the audit log keeps it: the identity number
// only masked, so the log itself is not a store of numbers.
func describe(f Filter, format string) string {
	m := map[string]string{}
	if f.IDNumber != "" {
		m["id_number"] = identity.Mask(identity.TypeResident, identity.Normalize(f.IDNumber))
	}
	for k, v := range map[string]string{"id_type": f.IDType, "name": f.Name, "venue": f.Venue, "district": f.District, "format": format} {
		if v != "" {
			m[k] = v
		}
	}
	if !f.From.IsZero() {
		m["from"] = f.From.Format(time.RFC3339)
	}
	if !f.To.IsZero() {
		m["to"] = f.To.Format(time.RFC3339)
	}
	if f.Page > 1 {
		m["page"] = strconv.Itoa(f.Page)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (a *API) handleSearch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caseRef := r.Header.Get(CaseRefHeader)
	format := r.URL.Query().Get("format")
	action := "search"
	if format == "csv" {
		action = "export"
	}
	f, err := parseFilter(r)
	if err != nil {
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if !validCaseRef(caseRef) {
		if a.audit(ctx, r, action, caseRef, describe(f, format), 0, "refused") != nil {
			jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
			return
		}
		jsonapi.Error(w, http.StatusForbidden, "a case reference (X-Case-Ref, 1 to 64 characters) is required to search personal data")
		return
	}
	if format == "csv" {
		f.Page, f.PageSize = 1, maxExport
	}
	total, rows, err := a.Search.Search(ctx, f)
	if errors.Is(err, ErrNoFilter) {
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		_ = a.audit(ctx, r, action, caseRef, describe(f, format), 0, "error")
		a.Log.Error("record search", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "search failed")
		return
	}
	if a.audit(ctx, r, action, caseRef, describe(f, format), len(rows), "ok") != nil {
		jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable; nothing shown")
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="records.csv"`)
		_ = WriteCSV(w, rows)
		return
	}
	if rows == nil {
		rows = []Result{}
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"total": total, "records": rows})
}

func (a *API) handleReveal(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	caseRef := r.Header.Get(CaseRefHeader)
	filter, _ := json.Marshal(map[string]string{"record_id": id})
	if !validCaseRef(caseRef) {
		if a.audit(ctx, r, "reveal", caseRef, string(filter), 0, "refused") != nil {
			jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
			return
		}
		jsonapi.Error(w, http.StatusForbidden, "a case reference (X-Case-Ref) is required to reveal an identity number")
		return
	}
	rec, number, err := a.Search.Reveal(ctx, id)
	if errors.Is(err, ErrNotFound) {
		_ = a.audit(ctx, r, "reveal", caseRef, string(filter), 0, "not_found")
		jsonapi.Error(w, http.StatusNotFound, "no such record")
		return
	}
	if err != nil {
		_ = a.audit(ctx, r, "reveal", caseRef, string(filter), 0, "error")
		a.Log.Error("reveal", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "reveal failed")
		return
	}
	if a.audit(ctx, r, "reveal", caseRef, string(filter), 1, "ok") != nil {
		jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable; nothing shown")
		return
	}
	rec.IDNumber = number
	w.Header().Set("Cache-Control", "no-store")
	jsonapi.Write(w, http.StatusOK, rec)
}

func (a *API) handleAuditList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var from, to time.Time
	if s := q.Get("from"); s != "" {
		from, _ = time.Parse(time.RFC3339, s)
	}
	if s := q.Get("to"); s != "" {
		to, _ = time.Parse(time.RFC3339, s)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	total, es, err := a.Audit.List(r.Context(), from, to, limit, max(offset, 0))
	if err != nil {
		a.Log.Error("audit list", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	if es == nil {
		es = []audit.Entry{}
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"total": total, "entries": es})
}

func (a *API) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	v, err := a.Audit.Verify(r.Context())
	if err != nil {
		a.Log.Error("audit verify", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	jsonapi.Write(w, http.StatusOK, v)
}

// WriteCSV writes results as CSV. Cells that a spreadsheet would run as a
// formula (=, +, -, @, and tab or CR) are prefixed with a quote.
func WriteCSV(w interface{ Write([]byte) (int, error) }, rows []Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"record_id", "venue", "venue_name", "district", "kind", "place", "id_type", "id_number",
		"name", "started_at", "ended_at", "ip", "mac", "party_size", "received_at"})
	for _, r := range rows {
		end := ""
		if r.EndedAt != nil {
			end = r.EndedAt.Format(time.RFC3339)
		}
		party := ""
		if r.PartySize > 0 {
			party = strconv.Itoa(int(r.PartySize))
		}
		rec := []string{r.RecordID, r.Venue, r.VenueName, r.District, r.Kind, r.Place, r.IDType, r.IDNumber,
			r.Name, r.StartedAt.Format(time.RFC3339), end, r.IP, r.MAC, party, r.ReceivedAt.Format(time.RFC3339)}
		for i, c := range rec {
			rec[i] = SafeCell(c)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SafeCell defuses spreadsheet formula injection.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
