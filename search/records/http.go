package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/csvexport"
	"github.com/netpulse/netpulse/jsonapi"
	"github.com/netpulse/netpulse/privacy/audit"
	"github.com/netpulse/netpulse/privacy/caseref"
	"github.com/netpulse/netpulse/privacy/identity"
)

// CaseRefHeader carries the case an analyst works on.
const CaseRefHeader = "X-Case-Ref"

// maxExport bounds one CSV export.
const maxExport = 10000

// maxFilterValue bounds each text filter, in characters: names, venue
// codes and districts are short, and a filter is written to the audit log.
const maxFilterValue = 64

// API serves record search, reveal and the audit log.
type API struct {
	Search *Searcher
	Audit  *audit.Audit
	Log    *slog.Logger
	// CaseRef is the deployment's case-reference form; the zero Rule is
	// the default form.
	CaseRef caseref.Rule
	// Lookups limits exact-identity lookups per user; Alerts, when set,
	// tells the auditors about a pattern of many distinct candidates.
	Lookups LookupLimit
	Alerts  PrivacyAlerts
	Now     func() time.Time

	once    sync.Once
	limiter *lookupLimiter
}

func (a *API) init() {
	a.once.Do(func() {
		a.limiter = newLookupLimiter(a.Lookups)
		if a.Now == nil {
			a.Now = time.Now
		}
		if a.Log == nil {
			a.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Routes adds the endpoints to mux.
func (a *API) Routes(mux *http.ServeMux, reg *access.Registry) {
	a.init()
	analyst := access.Require(reg, access.RoleAnalyst)
	auditor := access.Require(reg, access.RoleAuditor)
	mux.Handle("GET /api/v1/records", analyst(http.HandlerFunc(a.handleSearch)))
	mux.Handle("POST /api/v1/records/search", analyst(http.HandlerFunc(a.handleSearchForm)))
	mux.Handle("GET /api/v1/records/{id}/reveal", analyst(http.HandlerFunc(a.handleReveal)))
	mux.Handle("GET /api/v1/audit", auditor(http.HandlerFunc(a.handleAuditList)))
	mux.Handle("GET /api/v1/audit/verify", auditor(http.HandlerFunc(a.handleAuditVerify)))
}

// refusedCaseRef is a refused case reference as the audit log keeps it:
// quoted in ASCII (so control, format and invalid bytes show as escapes)
// and cut short, so that junk of any length costs the log a few bytes.
func refusedCaseRef(s string) string {
	// A refused reference may be a number typed in the wrong place: it is
	// kept masked like any free text.
	s = identity.MaskNumbers(s)
	const keep = 60
	if len(s) > keep {
		s = s[:keep] // the quote below escapes a cut character
	}
	q := strconv.QuoteToASCII(s)
	if len(q) > keep {
		q = q[:keep] + "…" // q is ASCII: any cut is on a character
	}
	return q
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

// errFilter is a filter value refused before any search.
type errFilter struct{ field, reason string }

func (e *errFilter) Error() string { return e.field + ": " + e.reason }

func parseFilter(q url.Values) (Filter, error) {
	f := Filter{IDType: q.Get("id_type"), IDNumber: q.Get("id_number"), Name: q.Get("name"),
		Venue: q.Get("venue"), District: q.Get("district")}
	for _, t := range []struct {
		key string
		val string
	}{{"id_type", f.IDType}, {"id_number", f.IDNumber}, {"name", f.Name}, {"venue", f.Venue}, {"district", f.District}} {
		switch {
		case !utf8.ValidString(t.val):
			return f, &errFilter{t.key, "not valid UTF-8"}
		case utf8.RuneCountInString(t.val) > maxFilterValue:
			return f, &errFilter{t.key, "longer than " + strconv.Itoa(maxFilterValue) + " characters"}
		case strings.ContainsFunc(t.val, unicode.IsControl):
			return f, &errFilter{t.key, "contains control characters"}
		}
	}
	switch f.IDType {
	case "", identity.TypeResident, identity.TypePassport, identity.TypeOther:
	default:
		return f, &errFilter{"id_type", "want resident_id, passport or other"}
	}
	// A venue or district is never an identity number; one typed there
	// would only reach the store's query text.
	for _, t := range []struct{ key, val string }{{"venue", f.Venue}, {"district", f.District}} {
		if len(identity.NumberRuns(t.val)) > 0 {
			return f, &errFilter{t.key, "looks like an identity number; search by id_number"}
		}
	}
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := q.Get(t.key); s != "" {
			v, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, &errFilter{t.key, "not an RFC 3339 time"}
			}
			*t.dst = v.UTC()
		}
	}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = min(max(f.Page, 0), 1_000_000)
	f.PageSize, _ = strconv.Atoi(q.Get("page_size"))
	f.PageSize = min(max(f.PageSize, 0), 500)
	return f, nil
}

// candidateType is the document type an exact lookup is hashed as for the
// audit: the one asked for, else the type the number's form suggests.
func candidateType(f Filter, n string) string {
	switch {
	case f.IDType != "":
		return f.IDType
	case len(n) == 18 || len(n) == 15:
		return identity.TypeResident
	case isAlnum(n):
		return identity.TypePassport
	}
	return identity.TypeOther
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

// describe is the filter as the audit log keeps it: identity numbers only
// masked, with their keyed hash so that an auditor can tell whom a lookup
// was about; names masked with their keyed hash; numbers typed into any
// other field masked and hashed the same way. The log itself is thus not a
// store of numbers or names.
func (a *API) describe(f Filter, format string) string {
	p := a.Search.protect
	m := map[string]any{}
	if n := identity.Normalize(f.IDNumber); n != "" {
		t := candidateType(f, n)
		m["id_number"] = identity.Mask(t, n)
		m["id_hash"] = p.Hash(t, n)
	}
	if name := strings.TrimSpace(f.Name); name != "" {
		if sc := p.Scrub(name); len(sc.Hashes) > 0 {
			m["name"], m["name_id_hashes"] = sc.Text, sc.Hashes
		} else {
			m["name"], m["name_hash"] = identity.MaskName(name), p.NameHash(name)
		}
	}
	for k, v := range map[string]string{"id_type": f.IDType, "venue": f.Venue, "district": f.District, "format": format} {
		if v != "" {
			m[k] = identity.MaskNumbers(v)
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

// checkCaseRef answers a request whose case reference is missing (403) or
// malformed (400), auditing the refusal; it reports whether to go on.
func (a *API) checkCaseRef(w http.ResponseWriter, r *http.Request, action, caseRef, filter string) bool {
	err := a.CaseRef.Check(caseRef)
	if err == nil {
		return true
	}
	code, logged := http.StatusBadRequest, refusedCaseRef(caseRef)
	msg := err.Error() + " (" + CaseRefHeader + ")"
	if errors.Is(err, caseref.ErrMissing) {
		code, logged = http.StatusForbidden, ""
		msg = "a case reference (" + CaseRefHeader + ") is required to read personal data"
	}
	if a.audit(r.Context(), r, action, logged, filter, 0, "refused") != nil {
		jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
		return false
	}
	jsonapi.Error(w, code, msg)
	return false
}

func (a *API) handleSearch(w http.ResponseWriter, r *http.Request) { a.search(w, r, r.URL.Query()) }

// maxSearchForm bounds the body of POST /api/v1/records/search.
const maxSearchForm = 64 << 10

// handleSearchForm is the search with its filters in a form body, for
// clients that must not put identity numbers and names in a URL (proxies
// and access logs keep URLs). It answers exactly as the GET does.
func (a *API) handleSearchForm(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		jsonapi.Error(w, http.StatusUnsupportedMediaType, "send the filters as application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSearchForm)
	if err := r.ParseForm(); err != nil {
		jsonapi.Error(w, http.StatusBadRequest, "body is not valid application/x-www-form-urlencoded (at most 64 KiB)")
		return
	}
	a.search(w, r, r.PostForm)
}

// search answers a record search whose filters are q.
func (a *API) search(w http.ResponseWriter, r *http.Request, q url.Values) {
	a.init()
	ctx := r.Context()
	caseRef := r.Header.Get(CaseRefHeader)
	format := q.Get("format")
	f, err := parseFilter(q)
	if err != nil {
		// The refusal is audited by field and reason only: the value
		// itself is junk of unknown size.
		action := "search"
		if format == "csv" {
			action = "export"
		}
		refused, _ := json.Marshal(map[string]string{"refused": err.Error()})
		if a.audit(ctx, r, action, refusedCaseRef(caseRef), string(refused), 0, "refused") != nil {
			jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
			return
		}
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	// An exact-identity lookup is reveal-class: audited as a lookup, and
	// limited per user in distinct candidates.
	exact := identity.Normalize(f.IDNumber) != ""
	action := "search"
	switch {
	case format == "csv":
		action = "export"
	case exact:
		action = "lookup"
	}
	filter := a.describe(f, format)
	if !a.checkCaseRef(w, r, action, caseRef, filter) {
		return
	}
	// Every exact candidate counts, a number or a name: the name mask (王*)
	// with the venue and the hour of a record is undone by guessing given
	// names just as the number mask is by guessing birth dates.
	// The budget is per user and also per case: colleagues (or one person's
	// second account) sharing a case reference share its budget, so the
	// mask is not undone by spreading the guesses over users.
	if cands := a.candidates(f); len(cands) > 0 {
		p, _ := access.FromContext(ctx)
		actor := p.Kind + ":" + p.Name
		// The same budgets over every node's audited lookups: another
		// api node's limiter never saw those.
		audited, err := a.storedCandidates(ctx, actor, caseRef, a.Now().Add(-a.limiter.o.Window))
		if err != nil {
			jsonapi.LogFailure(a.Log, r, slog.LevelError, "lookup budget", "err", err)
			jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
			return
		}
		for _, c := range cands {
			v := a.limiter.check(actor, c, a.Now())
			if v.alert {
				a.raiseLookups(ctx, p, actor, v)
			}
			if v.ok {
				byCase := "case:" + caseRef
				v = a.limiter.check(byCase, c, a.Now())
				if v.alert {
					a.raiseLookups(ctx, p, byCase+" ("+actor+")", v)
				}
			}
			if v.ok {
				who := actor
				if v = a.sharedBudget(audited.byActor, c); v.ok {
					who = "case:" + caseRef + " (" + actor + ")"
					v = a.sharedBudget(audited.byCase, c)
				}
				if !v.ok {
					a.raiseLookups(ctx, p, who, v)
				}
			}
			if v.ok {
				continue
			}
			if a.audit(ctx, r, action, caseRef, filter, 0, "refused") != nil {
				jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
				return
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(v.retry.Seconds(), 1)))))
			jsonapi.Error(w, http.StatusTooManyRequests, fmt.Sprintf("too many distinct identity numbers or names looked up (limit %d per %s); the auditors are told",
				a.limiter.o.Distinct, a.limiter.o.Window))
			return
		}
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
		_ = a.audit(ctx, r, action, caseRef, filter, 0, "error")
		jsonapi.LogFailure(a.Log, r, slog.LevelError, "record search", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "search failed")
		return
	}
	if a.audit(ctx, r, action, caseRef, filter, len(rows), "ok") != nil {
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

// candidates are the keyed hashes of the exact identities f asks about:
// its identity number and its name (prefixed, so a name's hash never
// counts as the same candidate as a number's).
func (a *API) candidates(f Filter) []string {
	var out []string
	if n := identity.Normalize(f.IDNumber); n != "" {
		out = append(out, a.Search.protect.Hash(candidateType(f, n), n))
	}
	if strings.TrimSpace(f.Name) != "" {
		out = append(out, "name:"+a.Search.protect.NameHash(f.Name))
	}
	return out
}

// raiseLookups tells the auditors; a failure is logged, never shown to the
// analyst, and never lets a refused lookup through.
func (a *API) raiseLookups(ctx context.Context, p access.Principal, who string, v lookupVerdict) {
	if a.Alerts == nil {
		a.Log.Warn("identity lookup pattern, no alert board wired", "actor", who, "distinct", v.distinct)
		return
	}
	err := a.Alerts.RaiseLookups(ctx, LookupPattern{Actor: who, Role: string(p.Role), Unit: p.Unit,
		Distinct: v.distinct, Window: a.limiter.o.Window, Refused: !v.ok, At: a.Now()})
	if err != nil {
		a.Log.Error("raise identity lookup alert", "actor", who, "err", err)
	}
}

// maxRecordID bounds a record id in a reveal: ids are 32 hex characters.
const maxRecordID = 64

func (a *API) handleReveal(w http.ResponseWriter, r *http.Request) {
	a.init()
	ctx := r.Context()
	id := r.PathValue("id")
	caseRef := r.Header.Get(CaseRefHeader)
	if len(id) > maxRecordID || !utf8.ValidString(id) {
		filter, _ := json.Marshal(map[string]string{"record_id": refusedCaseRef(id)})
		if a.audit(ctx, r, "reveal", "", string(filter), 0, "refused") != nil {
			jsonapi.Error(w, http.StatusServiceUnavailable, "audit log unavailable")
			return
		}
		jsonapi.Error(w, http.StatusBadRequest, "record id: not a record id")
		return
	}
	filter, _ := json.Marshal(map[string]string{"record_id": identity.MaskNumbers(id)})
	if !a.checkCaseRef(w, r, "reveal", caseRef, string(filter)) {
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
		jsonapi.LogFailure(a.Log, r, slog.LevelError, "reveal", "err", err)
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
		jsonapi.LogFailure(a.Log, r, slog.LevelError, "audit list", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	if es == nil {
		es = []audit.Entry{}
	}
	out := map[string]any{"total": total, "entries": es}
	if a.Alerts != nil {
		// Privacy alerts (lookup patterns) come with the log, for the
		// auditors who read it.
		if as, err := a.Alerts.PrivacyAlerts(r.Context()); err != nil {
			jsonapi.LogFailure(a.Log, r, slog.LevelError, "privacy alerts", "err", err)
		} else {
			out["alerts"] = as
		}
	}
	jsonapi.Write(w, http.StatusOK, out)
}

func (a *API) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	v, err := a.Audit.Verify(r.Context())
	if err != nil {
		jsonapi.LogFailure(a.Log, r, slog.LevelError, "audit verify", "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	jsonapi.Write(w, http.StatusOK, v)
}

// WriteCSV writes results as CSV through csvexport, which defuses cells a
// spreadsheet would run as a formula.
func WriteCSV(w io.Writer, rows []Result) error {
	cw, err := csvexport.NewWriter(w, false)
	if err != nil {
		return err
	}
	_ = cw.Write("record_id", "venue", "venue_name", "district", "kind", "place", "id_type", "id_number",
		"name", "started_at", "ended_at", "ip", "mac", "party_size", "received_at")
	for _, r := range rows {
		end := ""
		if r.EndedAt != nil {
			end = r.EndedAt.Format(time.RFC3339)
		}
		party := ""
		if r.PartySize > 0 {
			party = strconv.Itoa(int(r.PartySize))
		}
		if err := cw.Write(r.RecordID, r.Venue, r.VenueName, r.District, r.Kind, r.Place, r.IDType, r.IDNumber,
			r.Name, r.StartedAt.Format(time.RFC3339), end, r.IP, r.MAC, party, r.ReceivedAt.Format(time.RFC3339)); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// SafeCell defuses spreadsheet formula injection (csvexport.Cell).
func SafeCell(s string) string { return csvexport.Cell(s) }
