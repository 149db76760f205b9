package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/privacy/identity"
)

// TestTrust attacks the personal-data guarantees (issue 15, classes 2, 3, 4,
// 5 and 8) against one real serve, as an outside attacker and as a curious
// insider would:
//
//   - 2: case references outside their form (invalid UTF-8, bidi override,
//     zero width, not NFC, 100,000 characters), through the API and the web
//     form, are 400 before any search; the refusals are audited with bounded
//     fields, and the chain still verifies.
//   - 3: a quarantined row is masked for the venue and for an admin; the fix
//     carries the number and name it never showed; identity numbers typed
//     into free-text filters reach the audit only masked, with their hash.
//   - 4: exact-number lookups beyond --lookup-limit distinct candidates get
//     429; each is audited as a lookup with the candidate's keyed hash; the
//     pattern raises an alert the auditors see.
//   - 5: names are masked in lists, searched exactly through their hash,
//     clear only in a reveal.
//   - 3 and 5: after all of it, no clear identity number or name of the
//     test's guests is anywhere in the data folder (journal, store, audit,
//     quarantine) or the log.
//   - 8: a post whose title is a formula is exported quoted.
func TestTrust(t *testing.T) {
	data := t.TempDir()
	pop := populate(t, data)
	enum := addUser(t, data, "u-enum", "analyst", "--password", pop.password)
	s := startServer(t, data, "--lookup-limit", "5", "--lookup-alert", "4")
	analyst, auditor, admin := pop.tokens["analyst"], pop.tokens["auditor"], pop.tokens["admin"]
	keys, err := identity.LoadKeys(data, "", "")
	if err != nil {
		t.Fatal(err)
	}
	prot, err := identity.NewProtector(keys)
	if err != nil {
		t.Fatal(err)
	}

	// Guests of this test: names and numbers that appear nowhere else.
	guests := []struct{ name, number string }{
		{"蒯翊骁", identity.Synthetic("420199", 7001)},
		{"阙漪珩", identity.Synthetic("420199", 7002)},
		{"訾璟翀", identity.Synthetic("420199", 7003)}, // quarantined, then fixed
	}
	start := time.Now().Add(-2 * time.Hour).UTC()
	var rows []map[string]string
	for i, g := range guests {
		r := map[string]string{"kind": "cafe", "place": fmt.Sprintf("T%02d", i), "id_type": "resident_id",
			"id_number": g.number, "name": g.name, "started_at": start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}
		if i == 2 {
			r["started_at"] = "yesterday" // refused: quarantined with its number and name
		}
		rows = append(rows, r)
	}
	body, _ := json.Marshal(rows)
	r := s.mustCall(t, "POST", "/api/v1/intake/access-records", pop.venue.key, body, "Content-Type", "application/json")
	var ans struct {
		Accepted int `json:"accepted"`
	}
	if decode(t, r, &ans); r.code != 200 || ans.Accepted != 2 {
		t.Fatalf("intake: %s", r)
	}
	waitRecords(t, s, analyst, pop.venue.code, 2)

	t.Run("class3_quarantine_masked_and_fixed_blind", func(t *testing.T) {
		for who, path := range map[string]string{"venue": "/api/v1/intake/quarantine",
			"admin": "/api/v1/intake/quarantine?venue=" + pop.venue.code} {
			tok := pop.venue.key
			if who == "admin" {
				tok = admin
			}
			r := s.mustCall(t, "GET", path, tok, nil)
			if r.code != 200 || !strings.Contains(string(r.body), "訾*") {
				t.Fatalf("%s quarantine listing: %s", who, r)
			}
			if bytes.Contains(r.body, []byte(guests[2].number)) || bytes.Contains(r.body, []byte(guests[2].name)) {
				t.Errorf("%s sees a quarantined identity in clear: %s", who, r)
			}
		}
		var q struct {
			Rows []struct {
				BatchID string            `json:"batch_id"`
				Row     int               `json:"row"`
				Record  map[string]string `json:"record"`
			} `json:"rows"`
		}
		decode(t, s.mustCall(t, "GET", "/api/v1/intake/quarantine", pop.venue.key, nil), &q)
		if len(q.Rows) != 1 {
			t.Fatalf("quarantine rows: %+v", q)
		}
		// The operator corrects the start and sends the rest back as shown.
		fix := q.Rows[0].Record
		fix["started_at"] = start.Add(3 * time.Minute).Format(time.RFC3339)
		body, _ := json.Marshal(map[string]any{"items": []any{map[string]any{"batch_id": q.Rows[0].BatchID, "row": q.Rows[0].Row, "record": fix}}})
		r := s.mustCall(t, "POST", "/api/v1/intake/quarantine/resubmit", pop.venue.key, body, "Content-Type", "application/json")
		if decode(t, r, &ans); r.code != 200 || ans.Accepted != 1 {
			t.Fatalf("resubmit of the masked row: %s", r)
		}
		waitRecords(t, s, analyst, pop.venue.code, 3)
		// The fixed record carries the number and name first sent.
		r = s.mustCall(t, "GET", "/api/v1/records?name="+url.QueryEscape(guests[2].name), analyst, nil, "X-Case-Ref", "TRUST-3")
		if !strings.Contains(string(r.body), `"total":1`) || !strings.Contains(string(r.body), maskResident(guests[2].number)) {
			t.Errorf("fixed record not found under its original name and number: %s", r)
		}
	})

	t.Run("class5_names_hashed_masked_revealed", func(t *testing.T) {
		r := s.mustCall(t, "GET", "/api/v1/records?venue="+pop.venue.code, analyst, nil, "X-Case-Ref", "TRUST-5")
		var res struct {
			Records []struct {
				RecordID string `json:"record_id"`
				Name     string `json:"name"`
			} `json:"records"`
		}
		decode(t, r, &res)
		for _, rec := range res.Records {
			if !strings.HasSuffix(rec.Name, "*") {
				t.Errorf("name shown in clear in a list: %q", rec.Name)
			}
		}
		r = s.mustCall(t, "GET", "/api/v1/records?name="+url.QueryEscape(guests[0].name), analyst, nil, "X-Case-Ref", "TRUST-5")
		decode(t, r, &res)
		if len(res.Records) != 1 || res.Records[0].Name != "蒯*" {
			t.Fatalf("exact name search: %s", r)
		}
		if r := s.mustCall(t, "GET", "/api/v1/records?name="+url.QueryEscape("蒯翊"), analyst, nil, "X-Case-Ref", "TRUST-5"); !strings.Contains(string(r.body), `"total":0`) {
			t.Errorf("a partial name matched: names are searched exactly: %s", r)
		}
		r = s.mustCall(t, "GET", "/api/v1/records/"+res.Records[0].RecordID+"/reveal", analyst, nil, "X-Case-Ref", "TRUST-5")
		if r.code != 200 || !strings.Contains(string(r.body), `"name":"蒯翊骁"`) || !strings.Contains(string(r.body), guests[0].number) {
			t.Errorf("reveal: %s", r)
		}
	})

	t.Run("class2_case_reference_form", func(t *testing.T) {
		before := len(auditEntries(t, s, auditor))
		bad := []string{"AUD-\xff\xfe", "AUD-\u202e1", "AUD\u200b-1", "cafe\u0301", "AUD\u2066-1", strings.Repeat("案", 100000)}
		for _, ref := range bad {
			r := s.mustCall(t, "GET", "/api/v1/records?venue="+pop.venue.code, analyst, nil, "X-Case-Ref", ref)
			if r.code != 400 || strings.Contains(string(r.body), "records") {
				t.Errorf("case ref %q: %s, want 400", trunc(ref), r)
			}
		}
		sid, csrf, code := login(t, s, "u-analyst", pop.password)
		if sid == "" {
			t.Fatalf("login: %d", code)
		}
		for _, ref := range []string{"AUD-\u202e1", "AUD\u200b-1"} {
			r := sessionCall(t, s, "POST", "/search/records", sid, csrf, []byte(url.Values{"venue": {pop.venue.code}, "case_ref": {ref}}.Encode()),
				"Content-Type", "application/x-www-form-urlencoded")
			if r.code != 400 {
				t.Errorf("web form case ref %q: %d, want 400", ref, r.code)
			}
		}
		// Record filters never travel in a URL (proxies, browser history
		// and download lists keep URLs): the web form posts them, and a
		// GET that carries them is refused before any search.
		for _, path := range []string{"/search/records", "/search/records.csv"} {
			r := sessionCall(t, s, "GET", path+"?case_ref=AUD-URL&id_number="+guests[0].number, sid, csrf, nil)
			if r.code != http.StatusMethodNotAllowed {
				t.Errorf("GET %s with an identity number in the URL: %d, want 405", path, r.code)
			}
		}
		after := auditEntries(t, s, auditor)
		if got := len(after) - before; got != len(bad)+2 {
			t.Errorf("%d refused case references left %d audit entries", len(bad)+2, got)
		}
		for _, e := range after[:len(after)-before] {
			if e.Outcome != "refused" || len(e.CaseRef) > 64 || strings.ContainsAny(e.CaseRef, "\u202e\u200b\u2066") {
				t.Errorf("refusal audited as %+v: want refused, bounded and escaped", e)
			}
		}
		r := s.mustCall(t, "GET", "/api/v1/audit/verify", auditor, nil)
		if !strings.Contains(string(r.body), `"ok":true`) {
			t.Errorf("chain after hostile case references: %s", r)
		}
		// The weekly report reads the log; junk there must not make it
		// slow or long (it took 52 s with one 100,000-character header).
		lsid, lcsrf, _ := login(t, s, "u-leader", pop.password)
		y, w := time.Now().ISOWeek()
		t0 := time.Now()
		rep := sessionCall(t, s, "GET", fmt.Sprintf("/reports/%d-W%02d.pdf", y, w), lsid, lcsrf, nil)
		t.Logf("weekly PDF after hostile case references: %d, %d bytes, %v", rep.code, len(rep.body), time.Since(t0))
		if rep.code != 200 || len(rep.body) > 2<<20 {
			t.Errorf("weekly PDF: %d, %d bytes", rep.code, len(rep.body))
		}
	})

	t.Run("class4_lookups_limited_and_alerted", func(t *testing.T) {
		var codes []int
		for i := 0; i < 7; i++ {
			r := s.mustCall(t, "GET", "/api/v1/records?id_number="+identity.Synthetic("420199", 8000+i), enum, nil, "X-Case-Ref", "TRUST-4")
			codes = append(codes, r.code)
			if r.code == 429 && r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		if fmt.Sprint(codes) != "[200 200 200 200 200 429 429]" {
			t.Errorf("distinct lookups answered %v, want 5 × 200 then 429", codes)
		}
		var log struct {
			Entries []struct {
				Actor, Action, Filter, Outcome string
			} `json:"entries"`
			Alerts []struct {
				Title string `json:"title"`
			} `json:"alerts"`
		}
		decode(t, s.mustCall(t, "GET", "/api/v1/audit?limit=1000", auditor, nil), &log)
		hashed := 0
		for _, e := range log.Entries {
			if e.Actor != "user:u-enum" {
				continue
			}
			if e.Action != "lookup" {
				t.Errorf("exact lookup audited as %q", e.Action)
			}
			for i := 0; i < 7; i++ {
				if strings.Contains(e.Filter, prot.Hash(identity.TypeResident, identity.Synthetic("420199", 8000+i))) {
					hashed++
				}
			}
		}
		if hashed != 7 {
			t.Errorf("%d of 7 lookups audited with the candidate's keyed hash", hashed)
		}
		found := false
		for _, a := range log.Alerts {
			found = found || strings.Contains(a.Title, "u-enum")
		}
		if !found {
			t.Errorf("auditors see no alert for the lookup pattern: %+v", log.Alerts)
		}
	})

	t.Run("class3_identity_in_free_text_filters", func(t *testing.T) {
		num := guests[1].number
		for _, q := range []string{"name=" + num, "district=" + num, "name=" + url.QueryEscape(guests[1].name)} {
			s.mustCall(t, "GET", "/api/v1/records?"+q, analyst, nil, "X-Case-Ref", "TRUST-3B")
		}
		// The number as a reader sees it, in a filter or as the case
		// reference (which the log keeps in clear, so it is refused).
		spaced := num[:6] + " " + num[6:14] + " " + num[14:]
		zw := strings.Join(strings.Split(num, ""), "\u200b")
		s.mustCall(t, "GET", "/api/v1/records?district="+url.QueryEscape(spaced), analyst, nil, "X-Case-Ref", "TRUST-3B")
		for _, ref := range []string{spaced, "案" + num, num + " "} {
			if r := s.mustCall(t, "GET", "/api/v1/records?venue="+pop.venue.code, analyst, nil, "X-Case-Ref", ref); r.code != 400 {
				t.Errorf("case reference %q: %s, want 400", ref, r)
			}
		}
		if r := s.mustCall(t, "PUT", "/api/v1/records/holds", admin, []byte(`{"id_number":"`+num+`","case_ref":"`+spaced+`"}`),
			"Content-Type", "application/json"); r.code != 400 {
			t.Errorf("case hold with a number as its case reference: %s, want 400", r)
		}
		r := s.mustCall(t, "GET", "/api/v1/audit?limit=1000", auditor, nil)
		for _, sp := range []string{num, spaced, zw, num[6:14], guests[1].name} {
			if bytes.Contains(r.body, []byte(sp)) {
				t.Errorf("the audit log holds a typed identity in clear (%q)", sp)
			}
		}
		if !bytes.Contains(r.body, []byte(prot.Hash(identity.TypeResident, num))) || !bytes.Contains(r.body, []byte(prot.NameHash(guests[1].name))) {
			t.Errorf("the audit log lacks the keyed hash of what was typed")
		}
	})

	t.Run("class8_posts_export_defuses_formulas", func(t *testing.T) {
		post, _ := json.Marshal(map[string]string{"id": "trust-formula", "source": "trustsrc", "url": "https://example.test/f",
			"title": `=HYPERLINK("http://evil.test","点此")`, "body": "公式注入测试帖子 暴雨 地铁", "author": "@SUM(A1)",
			"published_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)})
		r := s.mustCall(t, "POST", "/api/v1/intake/posts", admin, append(post, '\n'), "Content-Type", "application/x-ndjson")
		if r.code != 200 {
			t.Fatalf("post intake: %s", r)
		}
		sid, csrf, _ := login(t, s, "u-analyst", pop.password)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r = sessionCall(t, s, "GET", "/search/posts.csv?q=source:trustsrc", sid, csrf, nil)
			if strings.Contains(string(r.body), "HYPERLINK") || time.Now().After(deadline) {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if !strings.Contains(string(r.body), `"'=HYPERLINK(`) || !strings.Contains(string(r.body), "'@SUM(A1)") {
			t.Errorf("posts export does not defuse formulas: %s", r)
		}
	})

	// Nothing of the guests in clear anywhere on disk or in the log.
	s.stop()
	secrets := []string{guests[0].number, guests[1].number, guests[2].number, guests[0].name, guests[1].name, guests[2].name}
	if strings.Contains(s.logText(), guests[0].number) {
		t.Errorf("serve log holds an identity number")
	}
	_ = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, string(filepath.Separator)+"keys"+string(filepath.Separator)) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				rel, _ := filepath.Rel(data, path)
				t.Errorf("%s holds %q in clear", rel, sec)
			}
		}
		return nil
	})
}

func maskResident(n string) string { return identity.Mask(identity.TypeResident, n) }

func trunc(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// waitRecords waits until the venue has n searchable records.
func waitRecords(t *testing.T, s *server, analyst, venue string, n int) {
	t.Helper()
	want := fmt.Sprintf(`"total":%d`, n)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.mustCall(t, "GET", "/api/v1/records?venue="+venue, analyst, nil, "X-Case-Ref", "WARMUP")
		if strings.Contains(string(r.body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("venue %s never reached %d records: %s", venue, n, r)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
