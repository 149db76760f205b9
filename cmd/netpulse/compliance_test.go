package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/compliance"
	"github.com/netpulse/netpulse/privacy/identity"
)

// adminLast runs `netpulse admin …` and returns the last line printed (a
// token or an API key).
func adminLast(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"admin"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("admin %v: %v\n%s", args, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// call sends one request with a bearer token; hdr adds header pairs.
func call(t *testing.T, method, url, token, ctype string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestComplianceThroughServe: records in over HTTP at three venues, the
// compliance alerts out through the alerts API, the board and the venue
// API, with masked numbers only; a restart re-reads the same records and
// repeats nothing.
func TestComplianceThroughServe(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	const unit = "测试网安大队"
	keys := map[string]string{}
	for _, v := range []struct{ code, kind, name string }{{"T-C1", "cafe", "测试一网吧"}, {"T-C2", "cafe", "测试二网吧"}, {"T-H1", "hotel", "测试宾馆"}} {
		keys[v.code] = adminLast(t, bin, "venue", "add", "--data", data, "--code", v.code, "--kind", v.kind, "--name", v.name,
			"--district", "测试区", "--unit", unit)
	}
	duty := adminLast(t, bin, "user", "add", "--data", data, "--name", "duty1", "--role", "duty", "--unit", unit,
		"--password", "duty1-test-pass")
	analyst := adminLast(t, bin, "user", "add", "--data", data, "--name", "an1", "--role", "analyst")
	auditor := adminLast(t, bin, "user", "add", "--data", data, "--name", "au1", "--role", "auditor")

	now := time.Now()
	minor := identity.SyntheticBorn("420199", time.Date(now.Year()-16, 3, 1, 0, 0, 0, 0, time.UTC), 1)
	hotelMinor := identity.SyntheticBorn("420199", time.Date(now.Year()-15, 7, 9, 0, 0, 0, 0, time.UTC), 2)
	card := identity.Synthetic("420199", 4242)
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	post := func(base, code, csv string) {
		t.Helper()
		st, b := call(t, http.MethodPost, base+"/api/v1/intake/access-records", keys[code], "text/csv",
			[]byte("kind,place,id_type,id_number,name,started_at,ended_at,guardian_contact,guardian_relation\n"+csv))
		if st != http.StatusOK || !strings.Contains(string(b), `"rejected":[]`) {
			t.Fatalf("intake %s: %d %s", code, st, b)
		}
	}
	rules := []string{compliance.RuleMinorCafe, compliance.RuleSharedID, compliance.RuleMinorHotel}
	wait := func(base string) map[string]map[string]any {
		t.Helper()
		found := map[string]map[string]any{}
		// The limit: an alert within a minute of the record.
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			st, b := call(t, http.MethodGet, base+"/api/v1/alerts?limit=200", duty, "", nil)
			if st != http.StatusOK {
				t.Fatalf("alerts API: %d %s", st, b)
			}
			if strings.Contains(string(b), minor) || strings.Contains(string(b), card) || strings.Contains(string(b), hotelMinor) {
				t.Fatalf("an identity number in clear in the alerts API: %s", b)
			}
			var list struct {
				Alerts []map[string]any `json:"alerts"`
			}
			if err := json.Unmarshal(b, &list); err != nil {
				t.Fatalf("alerts API: %v: %s", err, b)
			}
			for _, a := range list.Alerts {
				if a["kind"] == compliance.Kind {
					found[a["rule"].(string)] = a
				}
			}
			if len(found) == len(rules) {
				return found
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("compliance alerts a minute after the records: %v", found)
		return nil
	}

	base, stop := startServe(t, bin, "--data", data)
	post(base, "T-C1", fmt.Sprintf("cafe,A01,resident_id,%s,小明,%s,,,\ncafe,A02,resident_id,%s,借证人,%s,%s,,\n",
		minor, ts(-10*time.Minute), card, ts(-50*time.Minute), ts(-5*time.Minute)))
	post(base, "T-C2", fmt.Sprintf("cafe,B07,resident_id,%s,借证人,%s,%s,,\n", card, ts(-30*time.Minute), ts(-2*time.Minute)))
	post(base, "T-H1", fmt.Sprintf("hotel,301,resident_id,%s,小红,%s,,13800000000,\n", hotelMinor, ts(-3*time.Minute)))
	sent := time.Now()
	first := wait(base)
	t.Logf("all three compliance alerts on the API %v after the records were accepted", time.Since(sent).Round(10*time.Millisecond))
	for _, r := range rules {
		a := first[r]
		title := a["title"].(string)
		if a["unit"] != unit || a["state"] != "open" || a["occurrences"].(float64) != 1 {
			t.Errorf("%s: %v", r, a)
		}
		if !strings.Contains(title, "********") {
			t.Errorf("%s: title names no masked number: %s", r, title)
		}
	}
	if !strings.Contains(first[compliance.RuleSharedID]["title"].(string), "测试二网吧（T-C2）") ||
		!strings.Contains(first[compliance.RuleSharedID]["title"].(string), "测试一网吧（T-C1）终端 A02") {
		t.Errorf("shared card title: %s", first[compliance.RuleSharedID]["title"])
	}
	board := webPage(t, base, "duty1", "duty1-test-pass", "/alerts/board")
	if !strings.Contains(board, "接纳未成年人上网") || !strings.Contains(board, identity.Mask(identity.TypeResident, minor)) ||
		strings.Contains(board, minor) {
		t.Errorf("board: compliance alert missing, or its number unmasked or in clear: %.3000s", board)
	}
	st, vb := call(t, http.MethodGet, base+"/api/v1/compliance/venues", duty, "", nil)
	var venues struct {
		Venues []compliance.VenueStatus `json:"venues"`
	}
	if err := json.Unmarshal(vb, &venues); st != http.StatusOK || err != nil || len(venues.Venues) != 3 {
		t.Fatalf("venues %d %v: %s", st, err, vb)
	}
	for _, v := range venues.Venues {
		if v.Status != compliance.StatusViolation || v.ViolationsToday != 1 || v.LastReceived == nil {
			t.Errorf("venue %+v", v)
		}
		if v.Venue == "T-C1" && v.OpenSessions != 1 {
			t.Errorf("T-C1 open sessions %d, want 1 (the minor's)", v.OpenSessions)
		}
	}
	stop()

	// A restart rebuilds the memory from the store and sees the same
	// conflicts again: nothing is raised twice.
	base, stop = startServe(t, bin, "--data", data)
	defer stop()
	post(base, "T-C1", fmt.Sprintf("cafe,A01,resident_id,%s,小明,%s,,,\n", minor, ts(-10*time.Minute))) // a resend
	time.Sleep(3 * time.Second)
	again := wait(base)
	for _, r := range rules {
		if again[r]["id"] != first[r]["id"] || again[r]["occurrences"].(float64) != 1 {
			t.Errorf("%s after restart: %v, was %v", r, again[r], first[r])
		}
	}

	// An officer silences one violation from the board: the silence is for
	// the venue and rule, so the venue's next hour is quiet too (serve
	// wires compliance.Subject into the lifecycle).
	st, sb := call(t, http.MethodPost, base+"/api/v1/alerts/"+again[compliance.RuleMinorCafe]["id"].(string)+"/silence", duty,
		"application/json", []byte(`{"duration":"2h","comment":"已派员核查"}`))
	var sil struct {
		Matchers map[string]string `json:"matchers"`
	}
	if err := json.Unmarshal(sb, &sil); st != http.StatusOK || err != nil {
		t.Fatalf("silence: %d %v: %s", st, err, sb)
	}
	if want := map[string]string{"rule": compliance.RuleMinorCafe, "key": "venue:T-C1/*", "unit": unit}; !maps.Equal(sil.Matchers, want) {
		t.Errorf("silence from a compliance alert matches %v, want %v", sil.Matchers, want)
	}

	// The alert names the record; the full number comes only through the
	// analyst's reveal under a case reference, audited. The duty officer
	// who sees the alert cannot reveal it.
	var pl compliance.Payload
	raw, _ := json.Marshal(again[compliance.RuleMinorCafe]["payload"])
	if err := json.Unmarshal(raw, &pl); err != nil || len(pl.Violations) == 0 || pl.Violations[0].RecordID == "" {
		t.Fatalf("minor alert payload names no record: %v %s", err, raw)
	}
	rid := pl.Violations[0].RecordID
	const caseRef = "（2026）江岸网安立字第17号"
	reveal := func(token string) (int, []byte) {
		t.Helper()
		return call(t, http.MethodGet, base+"/api/v1/records/"+url.PathEscape(rid)+"/reveal", token, "", nil, "X-Case-Ref", caseRef)
	}
	if st, b := reveal(duty); st != http.StatusForbidden || strings.Contains(string(b), minor) {
		t.Errorf("a duty officer revealed the record behind a compliance alert: %d %s", st, b)
	}
	if st, b := reveal(analyst); st != http.StatusOK || !strings.Contains(string(b), minor) {
		t.Errorf("analyst reveal of %s: %d %s", rid, st, b)
	}
	st, ab := call(t, http.MethodGet, base+"/api/v1/audit?limit=50", auditor, "", nil)
	var audit struct {
		Entries []struct {
			Actor   string `json:"actor"`
			Action  string `json:"action"`
			CaseRef string `json:"case_ref"`
			Outcome string `json:"outcome"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(ab, &audit); st != http.StatusOK || err != nil {
		t.Fatalf("audit: %d %v %.500s", st, err, ab)
	}
	reveals := 0
	for _, e := range audit.Entries {
		if e.Action == "reveal" && e.CaseRef == caseRef && e.Outcome == "ok" && strings.Contains(e.Actor, "an1") {
			reveals++
		}
	}
	if reveals != 1 {
		t.Errorf("want exactly one audited reveal by an1 under %s, got %d: %.2000s", caseRef, reveals, ab)
	}
}

// webPage logs in to the web UI as name and returns the page at path.
func webPage(t *testing.T, base, name, password, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("login page has no csrf field")
	}
	resp, err = c.PostForm(base+"/login", url.Values{"name": {name}, "password": {password}, "csrf": {string(m[1])}, "next": {path}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `action="/login"`) {
		t.Fatalf("login as %s: %d", name, resp.StatusCode)
	}
	return string(b)
}
