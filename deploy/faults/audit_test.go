package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"
)

type auditEntry struct {
	Seq     uint64 `json:"seq"`
	Actor   string `json:"actor"`
	Action  string `json:"action"`
	CaseRef string `json:"case_ref"`
	Rows    uint64 `json:"rows"`
	Outcome string `json:"outcome"`
}

func auditEntries(t *testing.T, s *server, auditor string) []auditEntry {
	t.Helper()
	var all []auditEntry
	for offset := 0; ; offset += 1000 {
		r := s.mustCall(t, "GET", fmt.Sprintf("/api/v1/audit?limit=1000&offset=%d", offset), auditor, nil)
		if r.code != 200 {
			t.Fatalf("audit list: %s", r)
		}
		var page struct {
			Total   int          `json:"total"`
			Entries []auditEntry `json:"entries"`
		}
		decode(t, r, &page)
		all = append(all, page.Entries...)
		if len(page.Entries) == 0 || len(all) >= page.Total {
			return all
		}
	}
}

// TestEveryPersonalDataReadIsAudited reads personal data every way there
// is (API search, CSV export, reveal, refused attempts, and the same through
// the web UI), counts the reads, and checks the audit log has exactly one
// entry per read, by the right actor with the right outcome, and that the
// hash chain verifies.
func TestEveryPersonalDataReadIsAudited(t *testing.T) {
	data := t.TempDir()
	pop := populate(t, data)
	s := startServer(t, data)
	analyst, auditor := pop.tokens["analyst"], pop.tokens["auditor"]
	// Records to read.
	r := s.mustCall(t, "POST", "/api/v1/intake/access-records", pop.venue.key, recordBatch(time.Now().Add(-time.Hour), 1, 30), "Content-Type", "application/json")
	if r.code != 200 {
		t.Fatalf("intake: %s", r)
	}
	var recordID string
	deadline := time.Now().Add(30 * time.Second)
	for recordID == "" && time.Now().Before(deadline) {
		r = s.mustCall(t, "GET", "/api/v1/records?venue="+pop.venue.code, analyst, nil, "X-Case-Ref", "WARMUP")
		var ans struct {
			Records []struct {
				RecordID string `json:"record_id"`
			} `json:"records"`
		}
		decode(t, r, &ans)
		if len(ans.Records) > 0 {
			recordID = ans.Records[0].RecordID
		} else {
			time.Sleep(300 * time.Millisecond)
		}
	}
	if recordID == "" {
		t.Fatal("records never became searchable")
	}
	before := len(auditEntries(t, s, auditor))

	sid, csrf, code := login(t, s, "u-analyst", pop.password)
	if sid == "" {
		t.Fatalf("login: %d", code)
	}
	// Each read, and the audit entry it must leave (action, outcome).
	type read struct {
		do              func() reply
		action, outcome string
	}
	api := func(path string, hdr ...string) func() reply {
		return func() reply { return s.mustCall(t, "GET", path, analyst, nil, hdr...) }
	}
	web := func(method, path string, body []byte, hdr ...string) func() reply {
		return func() reply { return sessionCall(t, s, method, path, sid, csrf, body, hdr...) }
	}
	v := pop.venue.code
	reads := []read{
		{api("/api/v1/records?venue="+v, "X-Case-Ref", "AUD-1"), "search", "ok"},
		{api("/api/v1/records?venue="+v+"&page=2&page_size=10", "X-Case-Ref", "AUD-1"), "search", "ok"},
		{api("/api/v1/records?id_number="+syntheticID(5), "X-Case-Ref", "AUD-2"), "lookup", "ok"}, // exact number: reveal-class
		{api("/api/v1/records?name=%E6%B5%8B%E8%AF%95", "X-Case-Ref", "AUD-2"), "search", "ok"},
		{api("/api/v1/records?format=csv&venue="+v, "X-Case-Ref", "AUD-3"), "export", "ok"},
		{api("/api/v1/records/"+recordID+"/reveal", "X-Case-Ref", "AUD-4"), "reveal", "ok"},
		{api("/api/v1/records/no-such-record/reveal", "X-Case-Ref", "AUD-4"), "reveal", "not_found"},
		{api("/api/v1/records?venue=" + v), "search", "refused"},
		{api("/api/v1/records/" + recordID + "/reveal"), "reveal", "refused"},
		{web("POST", "/search/records", []byte(url.Values{"venue": {v}, "case_ref": {"AUD-5"}}.Encode()), "Content-Type", "application/x-www-form-urlencoded"), "search", "ok"},
		{web("POST", "/search/records.csv", []byte(url.Values{"venue": {v}, "case_ref": {"AUD-5"}}.Encode()), "Content-Type", "application/x-www-form-urlencoded"), "export", "ok"},
		{web("POST", "/search/reveal", []byte(url.Values{"id": {recordID}, "case_ref": {"AUD-6"}}.Encode()), "Content-Type", "application/x-www-form-urlencoded"), "reveal", "ok"},
	}
	for i, rd := range reads {
		r := rd.do()
		if r.code >= 500 {
			t.Fatalf("read %d: %s", i, r)
		}
		t.Logf("read %d (%s, want %s): %d", i, rd.action, rd.outcome, r.code)
	}
	after := auditEntries(t, s, auditor)
	got := after[:len(after)-before]
	if len(after)-before != len(reads) {
		t.Errorf("%d reads of personal data left %d audit entries", len(reads), len(after)-before)
	}
	// Entries come newest first.
	for i := range min(len(got), len(reads)) {
		e, rd := got[len(got)-1-i], reads[i]
		if e.Action != rd.action || e.Outcome != rd.outcome || e.Actor != "user:u-analyst" {
			t.Errorf("read %d: audit entry %+v, want action %s outcome %s by user:u-analyst", i, e, rd.action, rd.outcome)
		}
	}
	r = s.mustCall(t, "GET", "/api/v1/audit/verify", auditor, nil)
	var ver struct {
		OK bool `json:"ok"`
	}
	if json.Unmarshal(r.body, &ver); !ver.OK {
		t.Errorf("audit chain does not verify: %s", r)
	}
	// Reading the audit log is not itself a read of personal data, and
	// it shows no identity number in full.
	if b, _ := json.Marshal(after); bytes.Contains(b, []byte(syntheticID(5))) {
		t.Errorf("the audit log holds an identity number in full")
	}
	t.Logf("%d reads, %d audit entries, chain verified", len(reads), len(after)-before)
}
