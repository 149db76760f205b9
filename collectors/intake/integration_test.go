package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/collectors/intake/intaketest"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
	"github.com/netpulse/netpulse/privacy/identity"
)

// One chDB engine per process (libchdb allows a single connection).
var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

const header = "kind,place,id_type,id_number,name,started_at,ended_at,ip,mac,party_size\n"

func ts(t time.Time) string { return t.Format(time.RFC3339) }

func TestMixedBatchPerRowErrors(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"MIX-C1": "cafe"}, nil)
	now := time.Now()
	id := func(n int) string { return identity.Synthetic("420199", n) }
	start := now.Add(-time.Hour)
	bj := time.FixedZone("CST", 8*3600)
	good := []string{
		fmt.Sprintf("cafe,A001,resident_id,%s,张三,%s,,10.0.0.8,52-54-00-AB-CD-EF,", id(1), ts(start)),
		fmt.Sprintf("cafe,A002,resident_id,%s,李四,%s,%s,::ffff:10.0.0.9,,", strings.ToLower(id(2)), ts(start.In(bj)), ts(now.Add(-time.Minute).In(bj))),
		fmt.Sprintf("cafe,A003,passport,E12345678,John Smith,%s,,,,2", ts(start)),
	}
	badCheck := id(3)[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", id(3)[17])+1)%11])
	feb30 := "42019919900230991"
	feb30 += string(identity.CheckDigit(feb30))
	tests := []struct {
		name, line, field, reason string
	}{
		{"bad check digit", fmt.Sprintf("cafe,B1,resident_id,%s,王五,%s,,,,", badCheck, ts(start)), "id_number", "check digit"},
		{"impossible birth date", fmt.Sprintf("cafe,B2,resident_id,%s,王五,%s,,,,", feb30, ts(start)), "id_number", "birth date"},
		{"unknown id_type", fmt.Sprintf("cafe,B3,driver_license,X1,王五,%s,,,,", ts(start)), "id_type", "unknown id_type"},
		{"empty name", fmt.Sprintf("cafe,B4,resident_id,%s, ,%s,,,,", id(4), ts(start)), "name", "required"},
		{"end before start", fmt.Sprintf("cafe,B5,resident_id,%s,王五,%s,%s,,,", id(5), ts(start), ts(start.Add(-time.Minute))), "ended_at", "before started_at"},
		{"start in the future", fmt.Sprintf("cafe,B6,resident_id,%s,王五,%s,,,,", id(6), ts(now.Add(10*time.Minute))), "started_at", "future"},
		{"start older than retention", fmt.Sprintf("cafe,B7,resident_id,%s,王五,%s,,,,", id(7), ts(now.AddDate(0, 0, -90))), "started_at", "retention"},
		{"bad RFC 3339", fmt.Sprintf("cafe,B8,resident_id,%s,王五,2026-11-28 10:00,,,,", id(8)), "started_at", "RFC 3339"},
		{"kind of another venue", fmt.Sprintf("hotel,B9,resident_id,%s,王五,%s,,,,", id(9), ts(start)), "kind", "does not match"},
		{"unknown kind", fmt.Sprintf("bar,B10,resident_id,%s,王五,%s,,,,", id(10), ts(start)), "kind", "unknown kind"},
		{"empty place", fmt.Sprintf("cafe,,resident_id,%s,王五,%s,,,,", id(11), ts(start)), "place", "required"},
		{"bad IP", fmt.Sprintf("cafe,B12,resident_id,%s,王五,%s,,300.1.1.1,,", id(12), ts(start)), "ip", "not an IPv4"},
		{"bad MAC", fmt.Sprintf("cafe,B13,resident_id,%s,王五,%s,,,zz:zz:zz,", id(13), ts(start)), "mac", "MAC"},
		{"party size zero", fmt.Sprintf("cafe,B14,resident_id,%s,王五,%s,,,,0", id(14), ts(start)), "party_size", "between 1"},
		{"party size text", fmt.Sprintf("cafe,B15,resident_id,%s,王五,%s,,,,two", id(15), ts(start)), "party_size", "whole number"},
		{"oversized name", fmt.Sprintf("cafe,B16,resident_id,%s,%s,%s,,,,", id(16), strings.Repeat("长", 65), ts(start)), "name", "longer than"},
		{"duplicate row", good[0], "row", "duplicate of row 1"},
		{"wrong column count", "cafe,B18,resident_id", "row", "columns"},
		{"invalid UTF-8", fmt.Sprintf("cafe,B19,resident_id,%s,\xff\xfe,%s,,,,", id(19), ts(start)), "name", "UTF-8"},
		{"malformed CSV quote", fmt.Sprintf("cafe,B\"20,resident_id,%s,王五,%s,,,,", id(20), ts(start)), "row", "malformed CSV"},
		{"empty id number", fmt.Sprintf("cafe,B21,resident_id,,王五,%s,,,,", ts(start)), "id_number", "required"},
		{"short passport", fmt.Sprintf("cafe,B22,passport,AB,王五,%s,,,,", ts(start)), "id_number", "passport"},
		{"control character in name", fmt.Sprintf("cafe,B23,resident_id,%s,王\x01五,%s,,,,", id(23), ts(start)), "name", "control"},
		{"oversized place", fmt.Sprintf("cafe,%s,resident_id,%s,王五,%s,,,,", strings.Repeat("P", 65), id(24), ts(start)), "place", "longer than"},
	}
	var body strings.Builder
	body.WriteString(header)
	for _, g := range good {
		body.WriteString(g + "\n")
	}
	for _, tt := range tests {
		body.WriteString(tt.line + "\n")
	}
	r := e.Post("MIX-C1", "/api/v1/intake/access-records", "text/csv", "", []byte(body.String()))
	if r.Code != http.StatusOK {
		t.Fatalf("status %d: %s", r.Code, r.Raw)
	}
	if r.Ans.Accepted != len(good) {
		t.Errorf("accepted %d, want %d; rejected %+v", r.Ans.Accepted, len(good), r.Ans.Rejected)
	}
	byRow := map[int][]intake.RowError{}
	for _, re := range r.Ans.Rejected {
		byRow[re.Row] = append(byRow[re.Row], re)
	}
	for i, tt := range tests {
		row := len(good) + i + 1
		t.Run(tt.name, func(t *testing.T) {
			errs := byRow[row]
			found := false
			for _, re := range errs {
				if re.Field == tt.field && strings.Contains(re.Reason, tt.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("row %d: got %+v, want field %s reason containing %q", row, errs, tt.field, tt.reason)
			}
		})
	}
	if len(byRow) != len(tests) {
		t.Errorf("%d rows rejected, want %d", len(byRow), len(tests))
	}

	intaketest.WaitStored(t, db, "MIX-C1", len(good))
	var stored []struct {
		Place     string    `json:"place"`
		IDMasked  string    `json:"id_masked"`
		IDEnc     string    `json:"id_enc"`
		StartedAt time.Time `json:"started_at"`
		EndedAt   time.Time `json:"ended_at"`
		IP        string    `json:"ip"`
		MAC       string    `json:"mac"`
	}
	if err := db.Select(context.Background(), &stored, `SELECT place, id_masked, id_enc, started_at, ended_at, ip, mac
		FROM netpulse.access_records FINAL WHERE venue = 'MIX-C1' ORDER BY place`); err != nil {
		t.Fatal(err)
	}
	if stored[0].MAC != "52:54:00:ab:cd:ef" || stored[0].IP != "10.0.0.8" || stored[1].IP != "10.0.0.9" {
		t.Errorf("network fields not normalised: %+v", stored[:2])
	}
	if !stored[1].StartedAt.Equal(start.Truncate(time.Second)) || stored[1].StartedAt.Location() != time.UTC {
		t.Errorf("+08:00 start stored as %v, want %v UTC", stored[1].StartedAt, start.UTC())
	}
	if want := identity.Mask(identity.TypeResident, id(2)); stored[1].IDMasked != want {
		t.Errorf("masked %q, want %q", stored[1].IDMasked, want)
	}
	if plain, err := e.Protect.Decrypt(stored[1].IDEnc); err != nil || string(plain) != id(2) {
		t.Errorf("stored ciphertext opens to %q, %v", plain, err)
	}
	for _, s := range stored {
		if strings.Contains(s.IDEnc, id(1)) {
			t.Error("identity number stored in clear")
		}
	}

	q := e.Get("MIX-C1", "/api/v1/intake/quarantine")
	var ql struct {
		Total int                     `json:"total"`
		Rows  []intake.QuarantinedRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(q.Raw), &ql); err != nil || q.Code != 200 {
		t.Fatalf("quarantine list %d %s", q.Code, q.Raw)
	}
	if ql.Total != len(tests) {
		t.Errorf("quarantine holds %d rows, want %d", ql.Total, len(tests))
	}
}

func TestIdempotentResubmission(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"IDEM-H1": "hotel"}, nil)
	start := time.Now().Add(-2 * time.Hour)
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"kind":"hotel","place":"%d","id_type":"resident_id","id_number":"%s","name":"住客%d","started_at":"%s","party_size":2}`,
			300+i, identity.Synthetic("420199", 100+i), i, ts(start))
	}
	b.WriteString("]")
	body := []byte(b.String())
	first := e.Post("IDEM-H1", "/api/v1/intake/access-records", "application/json", "batch-0001", body)
	again := e.Post("IDEM-H1", "/api/v1/intake/access-records", "application/json", "batch-0001", body)
	if first.Code != 200 || again.Code != 200 {
		t.Fatalf("status %d / %d: %s %s", first.Code, again.Code, first.Raw, again.Raw)
	}
	if first.Raw != again.Raw || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay differs:\n%s\n%s", first.Raw, again.Raw)
	}
	conflict := e.Post("IDEM-H1", "/api/v1/intake/access-records", "application/json", "batch-0001", append(body[:len(body)-1:len(body)-1], ' ', ']'))
	if conflict.Code != http.StatusUnprocessableEntity {
		t.Errorf("same key, other body: status %d, want 422", conflict.Code)
	}
	// The same records again without a key: a new batch, but no duplicates.
	third := e.Post("IDEM-H1", "/api/v1/intake/access-records", "application/json", "", body)
	if third.Ans.Accepted != 20 || third.Ans.BatchID == first.Ans.BatchID {
		t.Errorf("resend without key: %+v", third.Ans)
	}
	intaketest.WaitStored(t, db, "IDEM-H1", 20)

	// Receipts: fetchable, verifiable, and a changed count breaks them.
	rc := e.Get("IDEM-H1", "/api/v1/intake/receipts/"+first.Ans.BatchID)
	var receipt intake.Receipt
	if err := json.Unmarshal([]byte(rc.Raw), &receipt); err != nil || rc.Code != 200 {
		t.Fatalf("receipt %d %s", rc.Code, rc.Raw)
	}
	if !e.Svc.VerifyReceipt(receipt) || receipt.Accepted != 20 {
		t.Errorf("receipt does not verify: %+v", receipt)
	}
	receipt.Accepted = 21
	rb, _ := json.Marshal(receipt)
	v := e.Post("IDEM-H1", "/api/v1/intake/receipts/verify", "application/json", "", rb)
	if !strings.Contains(v.Raw, `"valid":false`) {
		t.Errorf("tampered receipt: %s", v.Raw)
	}
}

func TestSessionEndKeepsStart(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"SESS-C1": "cafe"}, nil)
	start := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	end := start.Add(20 * time.Minute)
	n := identity.Synthetic("420199", 777)
	open := fmt.Sprintf(`{"kind":"cafe","place":"A9","id_type":"resident_id","id_number":"%s","name":"赵六","started_at":"%s"}`, n, ts(start))
	closed := fmt.Sprintf(`{"kind":"cafe","place":"A9","id_type":"resident_id","id_number":"%s","name":"赵六","started_at":"%s","ended_at":"%s"}`, n, ts(start), ts(end))
	for _, body := range []string{open, closed, open} { // a late resend of the open record must not reopen it
		if r := e.Post("SESS-C1", "/api/v1/intake/access-records", "application/x-ndjson", "", []byte(body)); r.Ans.Accepted != 1 {
			t.Fatalf("post: %d %s", r.Code, r.Raw)
		}
	}
	intaketest.WaitStored(t, db, "SESS-C1", 1)
	time.Sleep(300 * time.Millisecond) // let the last resend land too
	var rows []struct {
		StartedAt time.Time `json:"started_at"`
		EndedAt   time.Time `json:"ended_at"`
	}
	if err := db.Select(context.Background(), &rows, `SELECT started_at, ended_at FROM netpulse.access_records FINAL WHERE venue = 'SESS-C1'`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !rows[0].StartedAt.Equal(start) || !rows[0].EndedAt.Equal(end) {
		t.Errorf("session = %+v, want start %v end %v", rows, start, end)
	}
}

func TestRateLimitAnd503AndBodyLimit(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"RL-C1": "cafe"}, func(o *intake.Options) {
		o.Rate, o.Burst, o.MaxBody = 0.01, 2, 4096
	})
	body := []byte(fmt.Sprintf(`{"kind":"cafe","place":"A1","id_type":"resident_id","id_number":"%s","name":"钱七","started_at":"%s"}`,
		identity.Synthetic("420199", 900), ts(time.Now().Add(-time.Minute))))
	tests := []struct {
		name      string
		body      []byte
		wantCode  int
		wantRetry bool
	}{
		{"first within burst", body, 200, false},
		{"too large", bytes.Repeat([]byte("x"), 5000), 413, false},
		{"second within burst", body, 200, false},
		{"over the rate", body, 429, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Post("RL-C1", "/api/v1/intake/access-records", "", "", tt.body)
			if r.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.wantCode, r.Raw)
			}
			if got := r.Header.Get("Retry-After") != ""; got != tt.wantRetry {
				t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
			}
		})
	}

	e2 := intaketest.New(t, db, map[string]string{"BUS-C1": "cafe"}, nil)
	e2.Bus.Close() // the bus can no longer take writes
	r := e2.Post("BUS-C1", "/api/v1/intake/access-records", "", "bus-down-1", body)
	if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("bus down: status %d Retry-After %q: %s", r.Code, r.Header.Get("Retry-After"), r.Raw)
	}
	// Nothing was acknowledged, so the same key must not replay a success.
	r = e2.Post("BUS-C1", "/api/v1/intake/access-records", "", "bus-down-1", body)
	if r.Code != http.StatusServiceUnavailable {
		t.Errorf("retry with the same key while down: %d", r.Code)
	}
}

func TestQuarantineFixAndResubmit(t *testing.T) {
	e := intaketest.New(t, db, map[string]string{"QF-C1": "cafe"}, nil)
	start := time.Now().Add(-time.Hour)
	n := identity.Synthetic("420199", 4242)
	body := fmt.Sprintf(header+"cafe,A1,resident_id,%s,孙八,%s,,,,\ncafe,A2,resident_id,%s,,%s,,,,\n", n, "yesterday", n, ts(start))
	r := e.Post("QF-C1", "/api/v1/intake/access-records", "text/csv", "", []byte(body))
	if r.Ans.Accepted != 0 || len(r.Ans.Rejected) != 2 {
		t.Fatalf("answer %+v", r.Ans)
	}
	fixes := []intake.Fix{
		{BatchID: r.Ans.BatchID, Row: 1, Record: intake.Input{Kind: "cafe", Place: "A1", IDType: "resident_id", IDNumber: n, Name: "孙八", StartedAt: ts(start)}},
		{BatchID: r.Ans.BatchID, Row: 2, Record: intake.Input{Kind: "cafe", Place: "A2", IDType: "resident_id", IDNumber: n, StartedAt: ts(start)}},
	}
	fb, _ := json.Marshal(map[string]any{"items": fixes})
	rs := e.Post("QF-C1", "/api/v1/intake/quarantine/resubmit", "application/json", "", fb)
	if rs.Code != 200 || rs.Ans.Accepted != 1 || len(rs.Ans.Rejected) != 1 || rs.Ans.Rejected[0].Row != 2 {
		t.Fatalf("resubmit %d %s", rs.Code, rs.Raw)
	}
	intaketest.WaitStored(t, db, "QF-C1", 1)
	var ql struct {
		Total int                     `json:"total"`
		Rows  []intake.QuarantinedRow `json:"rows"`
	}
	q := e.Get("QF-C1", "/api/v1/intake/quarantine")
	if err := json.Unmarshal([]byte(q.Raw), &ql); err != nil {
		t.Fatal(err)
	}
	if ql.Total != 1 || ql.Rows[0].Row != 2 || ql.Rows[0].Record.Place != "A2" || ql.Rows[0].Errors[0].Field != "name" {
		t.Errorf("open quarantine after fix: %s", q.Raw)
	}
	// Another venue sees none of it.
	other := intaketest.New(t, db, map[string]string{"QF-C2": "cafe"}, nil)
	q2 := other.Get("QF-C2", "/api/v1/intake/quarantine")
	if !strings.Contains(q2.Raw, `"total":0`) {
		t.Errorf("other venue sees %s", q2.Raw)
	}
}
