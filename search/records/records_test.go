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
	"strings"
	"testing"
	"time"

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
	cafe.WriteString(`cafe,A99,passport,E7654321,"=HYPERLINK(""http://x"")",`)
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
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
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
		{"name substring", url.Values{"name": {"张1"}}, 3, 3}, // 张1, 张10, 张11
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
			}
		})
	}
	if code, _ := f.get(t, f.analyst, "CASE-2026-001", "/api/v1/records"); code != http.StatusBadRequest {
		t.Errorf("search without any filter: %d, want 400", code)
	}
	if code, _ := f.get(t, f.auditor, "CASE-2026-001", "/api/v1/records?venue=S-C1"); code != http.StatusForbidden {
		t.Errorf("auditor searching records: %d, want 403", code)
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
	if code != 200 || !strings.Contains(body, `"id_number":"`+num+`"`) {
		t.Fatalf("reveal with case ref: %d %s", code, body)
	}
	// The revealed record is the searched one with the number in full:
	// venue name, district, end time and the rest stay.
	var revealed records.Result
	if err := json.Unmarshal([]byte(body), &revealed); err != nil {
		t.Fatal(err)
	}
	searched := a.Records[0]
	searched.IDNumber = num
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
		{"search", "CASE-7", "ok"},
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
	if log.Entries[3].Rows != 1 || !strings.Contains(log.Entries[3].Filter, "420199********") {
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
		if strings.Contains(r[8], "HYPERLINK") {
			found = true
			if !strings.HasPrefix(r[8], "'=") {
				t.Errorf("formula cell exported as %q", r[8])
			}
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
