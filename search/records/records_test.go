package records_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/collectors/intake/intaketest"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
	"github.com/netpulse/netpulse/privacy/audit"
	"github.com/netpulse/netpulse/privacy/identity"
	"github.com/netpulse/netpulse/search/records"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

// fixture is an intake with two venues in two districts, some records sent
// through the real path, and the search API with analyst and auditor users.
type fixture struct {
	e                *intaketest.Env
	srv              *httptest.Server
	analyst, auditor string
	audit            *audit.Audit
	start            time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// Each fixture has its own keys, so earlier fixtures' rows would not match.
	for _, table := range []string{"audit_log", "access_records", "venues"} {
		if err := db.Exec(context.Background(), `TRUNCATE TABLE netpulse.`+table); err != nil {
			t.Fatal(err)
		}
	}
	e := intaketest.New(t, db, map[string]string{"S-C1": "cafe", "S-H1": "hotel"}, nil)
	ctx := context.Background()
	if err := e.Reg.SetLegalHold(ctx, "S-H1", false); err != nil {
		t.Fatal(err)
	}
	// A second district for the hotel, through the venues table the
	// pipeline's sync fills.
	if err := db.Exec(ctx, `INSERT INTO netpulse.venues (code, kind, name, district, unit, legal_hold, revoked, synced_at) VALUES
		('S-C1', 'cafe', '测试网咖', '江岸区', 'u', 0, 0, now64(3)), ('S-H1', 'hotel', '测试酒店', '江汉区', 'u', 0, 0, now64(3))`); err != nil {
		t.Fatal(err)
	}
	f := &fixture{e: e, start: time.Now().Add(-3 * time.Hour).Truncate(time.Second)}
	var err error
	if f.analyst, err = e.Reg.AddUser(ctx, access.UserSpec{Name: "ana", Role: access.RoleAnalyst}); err != nil {
		t.Fatal(err)
	}
	if f.auditor, err = e.Reg.AddUser(ctx, access.UserSpec{Name: "aud", Role: access.RoleAuditor}); err != nil {
		t.Fatal(err)
	}
	keys, err := identity.LoadKeys(e.Dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	f.audit = audit.New(db, keys.Audit, "")
	api := &records.API{Search: records.NewSearcher(db, e.Protect), Audit: f.audit}
	mux := http.NewServeMux()
	api.Routes(mux, e.Reg)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)

	var cafe, hotel strings.Builder
	cafe.WriteString("kind,place,id_type,id_number,name,started_at\n")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&cafe, "cafe,A%02d,resident_id,%s,张%d,%s\n", i, identity.Synthetic("420199", i), i, f.start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	cafe.WriteString(`cafe,"=HYPERLINK(""http://x"")",passport,E7654321,公式,`)
	cafe.WriteString(f.start.Format(time.RFC3339) + "\n")
	hotel.WriteString("kind,place,id_type,id_number,name,started_at\n")
	fmt.Fprintf(&hotel, "hotel,301,resident_id,%s,张0,%s\n", identity.Synthetic("420199", 0), f.start.Add(time.Hour).Format(time.RFC3339))
	if r := e.Post("S-C1", "/api/v1/intake/access-records", "text/csv", "", []byte(cafe.String())); r.Ans.Accepted != 13 {
		t.Fatalf("cafe batch: %s", r.Raw)
	}
	if r := e.Post("S-H1", "/api/v1/intake/access-records", "text/csv", "", []byte(hotel.String())); r.Ans.Accepted != 1 {
		t.Fatalf("hotel batch: %s", r.Raw)
	}
	intaketest.WaitStored(t, db, "S-C1", 13)
	intaketest.WaitStored(t, db, "S-H1", 1)
	return f
}

func (f *fixture) get(t *testing.T, token, caseRef, path string) (int, string) {
	t.Helper()
	return f.do(t, http.MethodGet, path, token, caseRef, "", "")
}

// post sends a record search with its filters in a form body.
func (f *fixture) post(t *testing.T, token, caseRef, ctype, body string) (int, string) {
	t.Helper()
	return f.do(t, http.MethodPost, "/api/v1/records/search", token, caseRef, ctype, body)
}

func (f *fixture) do(t *testing.T, method, path, token, caseRef, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if caseRef != "" {
		req.Header.Set("X-Case-Ref", caseRef)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type searchAnswer struct {
	Total   int              `json:"total"`
	Records []records.Result `json:"records"`
}

func TestSearchFilters(t *testing.T) {
	f := newFixture(t)
	num0 := identity.Synthetic("420199", 0)
	tests := []struct {
		name      string
		query     url.Values
		wantTotal int
		wantPage  int
	}{
		{"exact id number across venues", url.Values{"id_number": {num0}}, 2, 2},
		{"id number lower-case x normalised", url.Values{"id_number": {strings.ToLower(identity.Synthetic("420199", 3))}}, 1, 1},
		{"id number and venue", url.Values{"id_number": {num0}, "venue": {"S-H1"}}, 1, 1},
		{"name exact, through its keyed hash", url.Values{"name": {"张1"}}, 1, 1}, // not 张10, 张11
		{"name normalised", url.Values{"name": {" 张1　"}}, 1, 1},
		{"name of two records", url.Values{"name": {"张0"}}, 2, 2},
		{"venue with paging", url.Values{"venue": {"S-C1"}, "page_size": {"5"}, "page": {"3"}}, 13, 3},
		{"district", url.Values{"district": {"江汉区"}}, 1, 1},
		{"time range", url.Values{"venue": {"S-C1"}, "from": {f.start.Add(5 * time.Minute).Format(time.RFC3339)}, "to": {f.start.Add(8 * time.Minute).Format(time.RFC3339)}}, 3, 3},
		{"unknown number", url.Values{"id_number": {identity.Synthetic("420199", 999)}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.get(t, f.analyst, "CASE-2026-001", "/api/v1/records?"+tt.query.Encode())
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			// The same filters in a form body (no identity in a URL) get
			// the same answer.
			if pc, pb := f.post(t, f.analyst, "CASE-2026-001", "application/x-www-form-urlencoded", tt.query.Encode()); pc != code || pb != body {
				t.Errorf("POST /api/v1/records/search: %d %s\nGET: %d %s", pc, pb, code, body)
			}
			var a searchAnswer
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatal(err)
			}
			if a.Total != tt.wantTotal || len(a.Records) != tt.wantPage {
				t.Fatalf("total %d page %d, want %d and %d: %s", a.Total, len(a.Records), tt.wantTotal, tt.wantPage, body)
			}
			for _, r := range a.Records {
				if r.IDType == identity.TypeResident && (!strings.Contains(r.IDNumber, "********") || strings.Contains(body, num0)) {
					t.Errorf("number not masked: %s", r.IDNumber)
				}
				if !strings.HasSuffix(r.Name, "*") || len([]rune(r.Name)) != 2 {
					t.Errorf("name not masked: %q", r.Name)
				}
			}
		})
	}
	if code, _ := f.get(t, f.analyst, "CASE-2026-001", "/api/v1/records"); code != http.StatusBadRequest {
		t.Errorf("search without any filter: %d, want 400", code)
	}
	if code, _ := f.get(t, f.auditor, "CASE-2026-001", "/api/v1/records?venue=S-C1"); code != http.StatusForbidden {
		t.Errorf("auditor searching records: %d, want 403", code)
	}
	for _, tc := range []struct {
		name, token, caseRef, ctype, body string
		want                              int
	}{
		{"JSON is not the declared form", f.analyst, "CASE-2026-001", "application/json", `{"venue":"S-C1"}`, http.StatusUnsupportedMediaType},
		{"a body that is not a valid form", f.analyst, "CASE-2026-001", "application/x-www-form-urlencoded", "venue=%zz", http.StatusBadRequest},
		{"a body past 64 KiB", f.analyst, "CASE-2026-001", "application/x-www-form-urlencoded", "venue=S-C1&pad=" + strings.Repeat("x", 70<<10), http.StatusBadRequest},
		{"no case reference", f.analyst, "", "application/x-www-form-urlencoded", "venue=S-C1", http.StatusForbidden},
		{"not an analyst", f.auditor, "CASE-2026-001", "application/x-www-form-urlencoded", "venue=S-C1", http.StatusForbidden},
	} {
		if code, body := f.post(t, tc.token, tc.caseRef, tc.ctype, tc.body); code != tc.want {
			t.Errorf("POST search, %s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
}

func TestRevealNeedsCaseRefAndIsAudited(t *testing.T) {
	f := newFixture(t)
	num := identity.Synthetic("420199", 4)
	_, body := f.get(t, f.analyst, "CASE-7", "/api/v1/records?id_number="+num)
	var a searchAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || len(a.Records) != 1 {
		t.Fatalf("search: %s", body)
	}
	id := a.Records[0].RecordID

	code, body := f.get(t, f.analyst, "", "/api/v1/records/"+id+"/reveal")
	if code != http.StatusForbidden || strings.Contains(body, num) {
		t.Fatalf("reveal without case ref: %d %s", code, body)
	}
	if code, _ := f.get(t, f.analyst, "", "/api/v1/records?venue=S-C1"); code != http.StatusForbidden {
		t.Errorf("search without case ref: %d", code)
	}
	code, body = f.get(t, f.analyst, "CASE-7", "/api/v1/records/"+id+"/reveal")
	if code != 200 || !strings.Contains(body, `"id_number":"`+num+`"`) || !strings.Contains(body, `"name":"张4"`) {
		t.Fatalf("reveal with case ref: %d %s", code, body)
	}
	// The revealed record is the searched one with the number in full:
	// venue name, district, end time and the rest stay.
	var revealed records.Result
	if err := json.Unmarshal([]byte(body), &revealed); err != nil {
		t.Fatal(err)
	}
	searched := a.Records[0]
	searched.IDNumber, searched.Name = num, "张4" // a reveal shows the number and the name in full
	if !reflect.DeepEqual(revealed, searched) || revealed.VenueName == "" || revealed.District == "" {
		t.Errorf("reveal answered %+v, the search showed %+v", revealed, searched)
	}

	code, body = f.get(t, f.auditor, "", "/api/v1/audit")
	var log struct {
		Total   int           `json:"total"`
		Entries []audit.Entry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(body), &log); err != nil || code != 200 {
		t.Fatalf("audit list %d %s", code, body)
	}
	want := []struct{ action, caseRef, outcome string }{ // newest first
		{"reveal", "CASE-7", "ok"},
		{"search", "", "refused"},
		{"reveal", "", "refused"},
		{"lookup", "CASE-7", "ok"}, // an exact-number search is reveal-class
	}
	if len(log.Entries) != len(want) {
		t.Fatalf("audit has %d entries, want %d: %s", len(log.Entries), len(want), body)
	}
	for i, w := range want {
		got := log.Entries[i]
		if got.Action != w.action || got.CaseRef != w.caseRef || got.Outcome != w.outcome || got.Actor != "user:ana" {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
	}
	if strings.Contains(body, num) {
		t.Error("audit log holds a clear identity number")
	}
	if log.Entries[3].Rows != 1 || !strings.Contains(log.Entries[3].Filter, "420199********") ||
		!strings.Contains(log.Entries[3].Filter, `"id_hash":"`+f.e.Protect.Hash(identity.TypeResident, num)+`"`) {
		t.Errorf("search entry does not record rows and masked filter: %+v", log.Entries[3])
	}
	if code, body := f.get(t, f.analyst, "", "/api/v1/audit"); code != http.StatusForbidden {
		t.Errorf("analyst reading audit: %d %s", code, body)
	}
}

func TestCSVExportDefusesFormulas(t *testing.T) {
	f := newFixture(t)
	code, body := f.get(t, f.analyst, "CASE-9", "/api/v1/records?venue=S-C1&format=csv")
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 14 {
		t.Fatalf("export has %d lines, want header + 13", len(rows))
	}
	found := false
	for _, r := range rows[1:] {
		if strings.Contains(r[5], "HYPERLINK") {
			found = true
			if !strings.HasPrefix(r[5], "'=") {
				t.Errorf("formula cell exported as %q", r[5])
			}
		}
		if !strings.HasSuffix(r[8], "*") {
			t.Errorf("export holds a clear name %q", r[8])
		}
		if strings.HasPrefix(r[7], "4201") && !strings.Contains(r[7], "*") {
			t.Errorf("export holds a clear number %q", r[7])
		}
	}
	if !found {
		t.Error("formula row missing from export")
	}
	tests := map[string]string{"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM": "'@SUM", "\tx": "'\tx", "张三": "张三", "": ""}
	for in, want := range tests {
		if got := records.SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func (f *fixture) auditLog(t *testing.T) []audit.Entry {
	t.Helper()
	code, body := f.get(t, f.auditor, "", "/api/v1/audit?limit=1000")
	var log struct {
		Entries []audit.Entry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(body), &log); err != nil || code != 200 {
		t.Fatalf("audit list %d %s", code, body)
	}
	return log.Entries
}

// TestCaseRefForm: a case reference outside its form is a 400 before any
// search, audited as refused with a bounded, escaped copy; the chain still
// verifies afterwards.
func TestCaseRefForm(t *testing.T) {
	f := newFixture(t)
	bad := []string{"AUD-\xff\xfe", "AUD\u202e1", "AUD\u200b1", "cafe\u0301", strings.Repeat("x", 100000), "A\x01B"}
	for _, ref := range bad {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/records?venue=S-C1", nil)
		req.Header.Set("Authorization", "Bearer "+f.analyst)
		req.Header["X-Case-Ref"] = []string{ref} // raw, as a hostile client sends it
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// net/http refuses to send some bytes at all; the server-side
			// check is exercised through the others and the web form.
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "records") {
			t.Errorf("case ref %q: %d %s, want 400", tail(ref), resp.StatusCode, body)
		}
	}
	es := f.auditLog(t)
	if len(es) == 0 {
		t.Fatal("refused case references were not audited")
	}
	for _, e := range es {
		if e.Outcome != "refused" || len(e.CaseRef) > 64 || !utf8.ValidString(e.CaseRef) || strings.ContainsAny(e.CaseRef, "\u202e\u200b\x01") {
			t.Errorf("audit entry %+v: want refused with a bounded, escaped case reference", e)
		}
	}
	if v, err := f.audit.Verify(context.Background()); err != nil || !v.OK {
		t.Errorf("chain after refused case references: %+v %v", v, err)
	}
}

func tail(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// fakeAlerts records raised lookup patterns.
type fakeAlerts struct{ raised []records.LookupPattern }

func (a *fakeAlerts) RaiseLookups(_ context.Context, p records.LookupPattern) error {
	a.raised = append(a.raised, p)
	return nil
}

func (a *fakeAlerts) PrivacyAlerts(context.Context) ([]records.PrivacyAlert, error) {
	out := make([]records.PrivacyAlert, len(a.raised))
	for i, p := range a.raised {
		out[i] = records.PrivacyAlert{ID: fmt.Sprint(i), Title: p.Actor}
	}
	return out, nil
}

// TestExactLookupsAreLimitedAndAlerted enumerates candidate numbers the way
// the mask invites (same area code and last four, birth dates varied): the
// limit answers 429 after the configured distinct candidates, a repeat of
// a known candidate is still answered, the auditors get an alert, and each
// lookup is audited with the candidate's keyed hash.
func TestExactLookupsAreLimitedAndAlerted(t *testing.T) {
	f := newFixture(t)
	alerts := &fakeAlerts{}
	api := &records.API{Search: records.NewSearcher(db, f.e.Protect), Audit: f.audit, Alerts: alerts,
		Lookups: records.LookupLimit{Distinct: 5, Window: time.Hour, AlertAt: 4}}
	mux := http.NewServeMux()
	api.Routes(mux, f.e.Reg)
	f.srv = httptest.NewServer(mux)
	defer f.srv.Close()
	var codes []int
	var hashes []string
	for i := 0; i < 8; i++ {
		n := identity.Synthetic("420199", 100+i)
		hashes = append(hashes, f.e.Protect.Hash(identity.TypeResident, n))
		code, _ := f.get(t, f.analyst, "CASE-ENUM", "/api/v1/records?id_number="+n)
		codes = append(codes, code)
	}
	want := []int{200, 200, 200, 200, 200, 429, 429, 429}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("codes %v, want %v", codes, want)
	}
	if code, _ := f.get(t, f.analyst, "CASE-ENUM", "/api/v1/records?id_number="+identity.Synthetic("420199", 100)); code != 200 {
		t.Errorf("repeat of a known candidate: %d, want 200", code)
	}
	if len(alerts.raised) == 0 || alerts.raised[0].Actor != "user:ana" || alerts.raised[0].Distinct != 4 {
		t.Errorf("alerts raised: %+v, want one for user:ana at 4 distinct", alerts.raised)
	}
	es := f.auditLog(t)
	seen := map[string]bool{}
	for _, e := range es {
		if e.Action != "lookup" {
			t.Errorf("entry %d action %q, want lookup", e.Seq, e.Action)
		}
		for _, h := range hashes {
			if strings.Contains(e.Filter, h) {
				seen[h] = true
			}
		}
	}
	if len(seen) != len(hashes) {
		t.Errorf("%d of %d candidates audited with their keyed hash", len(seen), len(hashes))
	}
	code, body := f.get(t, f.auditor, "", "/api/v1/audit")
	if code != 200 || !strings.Contains(body, `"alerts":[`) {
		t.Errorf("auditors do not see the alert: %d %s", code, tail(body))
	}
}

// TestLookupBudgetHoldsAcrossNodes: two api nodes (each its own limiter
// in memory and its own audit chain, one store) behind a round-robin
// balancer. An analyst alternating between them gets the budget once, not
// once per node, for a user and for a case; a known candidate stays
// answerable.
func TestLookupBudgetHoldsAcrossNodes(t *testing.T) {
	f := newFixture(t)
	keys, err := identity.LoadKeys(f.e.Dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	alerts := &fakeAlerts{}
	var nodes []*httptest.Server
	for _, chain := range []string{"node-a", "node-b"} {
		api := &records.API{Search: records.NewSearcher(db, f.e.Protect), Audit: audit.New(db, keys.Audit, chain), Alerts: alerts,
			Lookups: records.LookupLimit{Distinct: 5, Window: time.Hour, AlertAt: 4}}
		mux := http.NewServeMux()
		api.Routes(mux, f.e.Reg)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		nodes = append(nodes, srv)
	}
	lookup := func(node int, token, caseRef string, n int) int {
		t.Helper()
		f.srv = nodes[node]
		code, _ := f.get(t, token, caseRef, "/api/v1/records?id_number="+identity.Synthetic("420199", n))
		return code
	}
	var codes []int
	for i := 0; i < 8; i++ {
		codes = append(codes, lookup(i%2, f.analyst, "CASE-SPREAD-"+strconv.Itoa(i), 300+i))
	}
	if want := []int{200, 200, 200, 200, 200, 429, 429, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("one user over two nodes: %v, want %v", codes, want)
	}
	if code := lookup(1, f.analyst, "CASE-SPREAD-9", 300); code != 200 {
		t.Errorf("a candidate already looked up, on the other node: %d, want 200", code)
	}
	// Two colleagues on one case, each on another node: the case's budget
	// is shared, though neither user reaches their own.
	var tokens []string
	for _, name := range []string{"ana2", "ana3"} {
		tok, err := f.e.Reg.AddUser(context.Background(), access.UserSpec{Name: name, Role: access.RoleAnalyst})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	codes = codes[:0]
	for i := 0; i < 3; i++ {
		codes = append(codes, lookup(0, tokens[0], "CASE-SHARED", 400+i))
	}
	for i := 0; i < 3; i++ {
		codes = append(codes, lookup(1, tokens[1], "CASE-SHARED", 500+i))
	}
	if want := []int{200, 200, 200, 200, 200, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("one case, two users, two nodes: %v, want %v", codes, want)
	}
	refused := false
	for _, a := range alerts.raised {
		refused = refused || a.Refused
	}
	if !refused {
		t.Errorf("no alert tells the auditors of the refused lookups: %+v", alerts.raised)
	}
}

// TestAuditFiltersHoldNoClearIdentity types identity numbers and names
// into every free-text filter: the audit keeps masks and keyed hashes.
func TestAuditFiltersHoldNoClearIdentity(t *testing.T) {
	f := newFixture(t)
	num := identity.Synthetic("420199", 7)
	// The number as a reader sees it, however it is typed.
	spellings := []string{num, num[:6] + " " + num[6:14] + " " + num[14:], strings.Join(strings.Split(num, ""), "\u200b"),
		num[:4] + "-" + num[4:10] + "-" + num[10:], strings.Map(func(r rune) rune { return r - '0' + '０' }, num)}
	for _, sp := range spellings {
		for _, q := range []url.Values{{"name": {sp}}, {"district": {sp}}, {"venue": {"S-C1 " + sp}}} {
			f.get(t, f.analyst, "CASE-3", "/api/v1/records?"+q.Encode())
		}
	}
	f.get(t, f.analyst, "CASE-3", "/api/v1/records?"+url.Values{"name": {"张7"}}.Encode())
	// A number typed as the case reference, valid in form or refused for
	// another reason (a trailing space), is not kept in clear either.
	for _, sp := range spellings {
		for _, ref := range []string{sp, sp + " ", "案" + sp} {
			if code, _ := f.get(t, f.analyst, ref, "/api/v1/records?venue=S-C1"); code != http.StatusBadRequest {
				t.Errorf("case reference %q: %d, want 400", ref, code)
			}
		}
	}
	es := f.auditLog(t)
	b, _ := json.Marshal(es)
	var plain []byte // the entries' text with JSON escapes undone
	for _, e := range es {
		plain = append(plain, e.Filter+"\n"+e.CaseRef+"\n"...)
	}
	for _, sp := range append(spellings, "张7", num[6:14]) {
		if strings.Contains(string(plain), sp) {
			t.Errorf("audit holds a clear identity %q: %s", sp, plain)
		}
	}
	if !strings.Contains(string(b), f.e.Protect.Hash(identity.TypeResident, num)) || !strings.Contains(string(b), f.e.Protect.NameHash("张7")) {
		t.Errorf("audit lacks the keyed hashes of what was typed: %s", b)
	}
}

// TestExactLookupVariantsShareTheLimit: the mask falls to any exact
// question, not only id_number: guessed names (王* plus a given name),
// numbers in other spellings, CSV exports and mixes all draw on one budget
// of distinct candidates per user.
func TestExactLookupVariantsShareTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		queries func(i int) url.Values
	}{
		{"guessed names", func(i int) url.Values { return url.Values{"name": {fmt.Sprintf("王%c", '一'+rune(i))}} }},
		{"names with a venue", func(i int) url.Values {
			return url.Values{"name": {fmt.Sprintf("李%c", '一'+rune(i))}, "venue": {"S-C1"}}
		}},
		{"names as CSV", func(i int) url.Values {
			return url.Values{"name": {fmt.Sprintf("张%c", '一'+rune(i))}, "format": {"csv"}}
		}},
		{"numbers lower case", func(i int) url.Values {
			return url.Values{"id_number": {strings.ToLower(identity.Synthetic("420199", 200+i))}}
		}},
		{"numbers and names mixed", func(i int) url.Values {
			if i%2 == 0 {
				return url.Values{"id_number": {identity.Synthetic("420199", 300+i)}}
			}
			return url.Values{"name": {fmt.Sprintf("赵%c", '一'+rune(i))}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			api := &records.API{Search: records.NewSearcher(db, f.e.Protect), Audit: f.audit, Alerts: &fakeAlerts{},
				Lookups: records.LookupLimit{Distinct: 5, Window: time.Hour, AlertAt: 4}}
			mux := http.NewServeMux()
			api.Routes(mux, f.e.Reg)
			f.srv = httptest.NewServer(mux)
			defer f.srv.Close()
			var codes []int
			for i := 0; i < 7; i++ {
				code, _ := f.get(t, f.analyst, "CASE-ENUM", "/api/v1/records?"+tc.queries(i).Encode())
				codes = append(codes, code)
			}
			if want := []int{200, 200, 200, 200, 200, 429, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
				t.Errorf("codes %v, want %v", codes, want)
			}
		})
	}
}

// TestLookupsShareTheCaseBudget: two analysts (or one person's two
// accounts) under one case reference share its budget of distinct
// candidates; another case has its own.
func TestLookupsShareTheCaseBudget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	second, err := f.e.Reg.AddUser(ctx, access.UserSpec{Name: "ana2", Role: access.RoleAnalyst})
	if err != nil {
		t.Fatal(err)
	}
	alerts := &fakeAlerts{}
	api := &records.API{Search: records.NewSearcher(db, f.e.Protect), Audit: f.audit, Alerts: alerts,
		Lookups: records.LookupLimit{Distinct: 4, Window: time.Hour, AlertAt: 4}}
	mux := http.NewServeMux()
	api.Routes(mux, f.e.Reg)
	f.srv = httptest.NewServer(mux)
	defer f.srv.Close()
	var codes []int
	for i := 0; i < 6; i++ {
		who := f.analyst
		if i%2 == 1 {
			who = second
		}
		code, _ := f.get(t, who, "CASE-SHARED", "/api/v1/records?id_number="+identity.Synthetic("420199", 500+i))
		codes = append(codes, code)
	}
	if want := []int{200, 200, 200, 200, 429, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("codes %v, want %v", codes, want)
	}
	if code, _ := f.get(t, second, "CASE-OTHER", "/api/v1/records?id_number="+identity.Synthetic("420199", 600)); code != 200 {
		t.Errorf("another case: %d, want 200", code)
	}
	found := false
	for _, p := range alerts.raised {
		found = found || strings.HasPrefix(p.Actor, "case:CASE-SHARED")
	}
	if !found {
		t.Errorf("no alert names the shared case: %+v", alerts.raised)
	}
}
