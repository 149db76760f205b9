package faults

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// want says what a hostile input must get.
type want int

const (
	// reject4xx: a 4xx answer with a body saying why.
	reject4xx want = iota
	// rowReject: a 4xx, or 200 accepting nothing with a per-row reason
	// (intake's contract for bad rows).
	rowReject
	// inert: anything but a 5xx; check decides whether the answer is safe.
	inert
)

type hostile struct {
	name   string
	caller string // role whose credential is sent; "" none
	method string
	path   string
	body   []byte
	hdr    []string
	want   want
	check  func(t *testing.T, r reply)
}

func row(fields map[string]any) []byte {
	base := map[string]any{"kind": "cafe", "place": "H01", "id_type": "resident_id",
		"id_number": syntheticID(4242), "name": "测试", "started_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
	for k, v := range fields {
		base[k] = v
	}
	b, _ := json.Marshal([]any{base})
	return b
}

func rawRow(field, raw string) []byte {
	return []byte(fmt.Sprintf(`[{"kind":"cafe","place":"H01","id_type":"resident_id","id_number":%q,"name":"测试","started_at":%q,%q:%s}]`,
		syntheticID(4243), time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), field, raw))
}

func csvBody(rows ...string) []byte {
	return []byte("kind,place,id_type,id_number,name,started_at,ended_at\n" + strings.Join(rows, "\n") + "\n")
}

func hostileCases() []hostile {
	start := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	good := func(place, name string) string {
		return fmt.Sprintf("cafe,%s,resident_id,%s,%s,%s,", place, syntheticID(4244), name, start)
	}
	j := "application/json"
	intake := "/api/v1/intake/access-records"
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	var manyRows bytes.Buffer
	manyRows.WriteString("kind,place,id_type,id_number,name,started_at,ended_at\n")
	for i := 0; i <= 100000; i++ {
		manyRows.WriteString("cafe,A,resident_id,1,n,2026-01-01T00:00:00Z,\n")
	}
	yamlBomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, p := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		prev := string(rune('a' + i))
		yamlBomb += fmt.Sprintf("%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", p, p, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	gbk := []byte("kind,place,id_type,id_number,name,started_at,ended_at\ncafe,A01,resident_id," + syntheticID(4245) + ",\xd5\xc5\xc8\xfd," + start + ",\n")
	utf16 := append([]byte{0xff, 0xfe}, []byte(strings.Join(strings.Split(string(row(nil)), ""), "\x00"))...)
	return []hostile{
		{name: "oversized body (17 MiB)", caller: "venue", method: "POST", path: intake, body: bytes.Repeat([]byte(" "), 17<<20), hdr: []string{"Content-Type", j}},
		{name: "more than 100000 rows", caller: "venue", method: "POST", path: intake, body: manyRows.Bytes(), hdr: []string{"Content-Type", "text/csv"}, want: rowReject},
		{name: "empty body", caller: "venue", method: "POST", path: intake, hdr: []string{"Content-Type", j}},
		{name: "truncated JSON", caller: "venue", method: "POST", path: intake, body: []byte(`[{"kind":"cafe","place":`), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "JSON object instead of array", caller: "venue", method: "POST", path: intake, body: []byte(`{"kind":"cafe"}`), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "JSON nested 100000 deep", caller: "venue", method: "POST", path: intake, body: []byte(deep), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "NUL byte in name", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"name": "张\x00三"}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "invalid UTF-8 in name", caller: "venue", method: "POST", path: intake, body: bytes.Replace(row(nil), []byte("测试"), []byte("\xff\xfe\xfd"), 1), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "UTF-16 body", caller: "venue", method: "POST", path: intake, body: utf16, hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "GBK bytes in a UTF-8 CSV", caller: "venue", method: "POST", path: intake, body: gbk, hdr: []string{"Content-Type", "text/csv"}, want: rowReject},
		{name: "CSV row with too many columns", caller: "venue", method: "POST", path: intake, body: csvBody(good("A1", "n") + ",extra,extra"), hdr: []string{"Content-Type", "text/csv"}, want: rowReject},
		{name: "CSV unterminated quote", caller: "venue", method: "POST", path: intake, body: csvBody(`cafe,"A1,resident_id,x,n,` + start + ","), hdr: []string{"Content-Type", "text/csv"}, want: rowReject},
		{name: "CSV unknown column", caller: "venue", method: "POST", path: intake, body: []byte("kind,place,evil\ncafe,A1,x\n"), hdr: []string{"Content-Type", "text/csv"}, want: rowReject},
		{name: "giant number party_size 1e400", caller: "venue", method: "POST", path: intake, body: rawRow("party_size", "1e400"), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "giant integer party_size", caller: "venue", method: "POST", path: intake, body: rawRow("party_size", "123456789012345678901234567890"), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "negative party_size", caller: "venue", method: "POST", path: intake, body: rawRow("party_size", "-1"), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "year 99999", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"started_at": "99999-01-01T00:00:00Z"}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "start a year ahead", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"started_at": time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "end before start", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"ended_at": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "wrong check digit", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"id_number": "11010519491231002X"[:17] + "9"}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "10000-character id number", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"id_number": strings.Repeat("1", 10000)}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "terminal escape in place", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"place": "\x1b[31mA1"}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "hotel record from a cafe", caller: "venue", method: "POST", path: intake, body: row(map[string]any{"kind": "hotel"}), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "field of a number type as string", caller: "venue", method: "POST", path: intake, body: rawRow("party_size", `{"$gt":0}`), hdr: []string{"Content-Type", j}, want: rowReject},
		{name: "XML body", caller: "venue", method: "POST", path: intake, body: []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>`), hdr: []string{"Content-Type", "application/xml"}, want: rowReject},
		{name: "Idempotency-Key of 300 characters", caller: "venue", method: "POST", path: intake, body: row(nil), hdr: []string{"Content-Type", j, "Idempotency-Key", strings.Repeat("k", 300)}},
		{name: "forged receipt", caller: "venue", method: "POST", path: "/api/v1/intake/receipts/verify", body: []byte(`{"batch_id":"x","venue":"HX-01","rows":1,"accepted":1,"signature":"00"}`), want: inert,
			check: func(t *testing.T, r reply) {
				if !bytes.Contains(r.body, []byte(`"valid":false`)) {
					t.Errorf("forged receipt not refused: %s", r)
				}
			}},
		{name: "receipt id with path traversal", caller: "venue", method: "GET", path: "/api/v1/intake/receipts/..%2F..%2Faccess.db"},

		{name: "record search without case reference", caller: "analyst", method: "GET", path: "/api/v1/records?venue=HX-01"},
		{name: "case reference of 65 characters", caller: "analyst", method: "GET", path: "/api/v1/records?venue=HX-01", hdr: []string{"X-Case-Ref", strings.Repeat("c", 65)}},
		{name: "record search time not RFC 3339", caller: "analyst", method: "GET", path: "/api/v1/records?venue=HX-01&from=yesterday", hdr: []string{"X-Case-Ref", "H-1"}},
		{name: "record search with no filter (bulk dump)", caller: "analyst", method: "GET", path: "/api/v1/records", hdr: []string{"X-Case-Ref", "H-1"}},
		{name: "SQL injection in venue filter", caller: "analyst", method: "GET", path: "/api/v1/records?venue=%27%20OR%20%271%27%3D%271", hdr: []string{"X-Case-Ref", "H-1"}, want: inert,
			check: func(t *testing.T, r reply) {
				if r.code == 200 && !bytes.Contains(r.body, []byte(`"total":0`)) {
					t.Errorf("SQL injection in venue matched records: %s", r)
				}
			}},
		{name: "SQL injection in name filter", caller: "analyst", method: "GET", path: "/api/v1/records?name=%27%29%20OR%201%3D1%20--%20", hdr: []string{"X-Case-Ref", "H-1"}, want: inert,
			check: func(t *testing.T, r reply) {
				if r.code == 200 && !bytes.Contains(r.body, []byte(`"total":0`)) {
					t.Errorf("SQL injection in name matched records: %s", r)
				}
			}},
		{name: "giant page number", caller: "analyst", method: "GET", path: "/api/v1/records?venue=HX-01&page=99999999999999999999999&page_size=-7", hdr: []string{"X-Case-Ref", "H-1"}, want: inert},
		{name: "reveal with traversal id", caller: "analyst", method: "GET", path: "/api/v1/records/..%2F..%2Fetc%2Fpasswd/reveal", hdr: []string{"X-Case-Ref", "H-1"}},
		{name: "audit list with garbage bounds", caller: "auditor", method: "GET", path: "/api/v1/audit?from=%00&limit=-1&offset=-99999999999999999999", want: inert},

		{name: "post query of 5000 bytes", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=" + strings.Repeat("%E7%81%AB", 1700)},
		{name: "post query unbalanced quote", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=%22fire"},
		{name: "post query with 100 clauses", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=" + strings.Repeat("a+", 100)},
		{name: "post query with NUL", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=a%00b", want: inert},
		{name: "post query invalid UTF-8", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=%ff%fe"},
		{name: "post query unknown field", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=password:x"},
		{name: "post search impossible date", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=a&from=2026-13-45"},
		{name: "post search bad sort", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=a&sort=%27%3Bdrop"},
		{name: "post search giant page", caller: "analyst", method: "GET", path: "/api/v1/search/posts?q=a&page=99999999999999999999", want: inert},
		{name: "posts NDJSON line not JSON", caller: "admin", method: "POST", path: "/api/v1/intake/posts", body: []byte("{not json\n"), want: rowReject},
		{name: "post published in year 99999", caller: "admin", method: "POST", path: "/api/v1/intake/posts", body: []byte(`{"id":"h1","source":"s","url":"https://x.test/1","title":"t","body":"b","author":"a","published_at":"99999-01-01T00:00:00Z"}` + "\n"), want: rowReject},
		{name: "post with javascript: URL", caller: "admin", method: "POST", path: "/api/v1/intake/posts", body: []byte(`{"id":"h2","source":"s","url":"javascript:alert(1)","title":"t","body":"b","author":"a","published_at":"` + start + `"}` + "\n"), want: rowReject},
		{name: "posts body over 32 MiB", caller: "admin", method: "POST", path: "/api/v1/intake/posts", body: bytes.Repeat([]byte(" "), 33<<20)},

		{name: "rule YAML bomb", caller: "duty", method: "POST", path: "/api/v1/rules/validate", body: []byte(yamlBomb), hdr: []string{"Content-Type", "application/yaml"}},
		{name: "rule YAML not YAML", caller: "duty", method: "POST", path: "/api/v1/rules", body: []byte("name: [unclosed\n\t- x"), hdr: []string{"Content-Type", "application/yaml"}},
		{name: "silence with a giant duration", caller: "duty", method: "POST", path: "/api/v1/alerts/silences", body: []byte(`{"matchers":{"rule":"x"},"duration":"99999999999999h","comment":"x"}`), hdr: []string{"Content-Type", j}},
		{name: "unknown alert action", caller: "duty", method: "POST", path: "/api/v1/alerts/no-such/exec", body: []byte(`{}`), hdr: []string{"Content-Type", j}},
		{name: "source with file: URL", caller: "admin", method: "POST", path: "/api/v1/sources", body: []byte(`{"name":"evil","kind":"rss","url":"file:///etc/passwd","interval":"1m"}`), hdr: []string{"Content-Type", j}},
		{name: "source with loopback metadata URL", caller: "admin", method: "POST", path: "/api/v1/sources", body: []byte(`{"name":"evil2","kind":"rss","url":"gopher://169.254.169.254/","interval":"1m"}`), hdr: []string{"Content-Type", j}},
		{name: "sources import YAML bomb", caller: "admin", method: "POST", path: "/api/v1/sources/import", body: []byte(yamlBomb), hdr: []string{"Content-Type", "application/yaml"}},
		{name: "legal hold on a traversal venue code", caller: "admin", method: "PUT", path: "/api/v1/venues/..%2F..%2Faccess.db/legal-hold"},
		{name: "case hold without number", caller: "admin", method: "PUT", path: "/api/v1/records/holds", body: []byte(`{"case_ref":"x"}`), hdr: []string{"Content-Type", j}},

		{name: "static path traversal", method: "GET", path: "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", want: inert, check: noPasswd},
		{name: "static dot-dot segments", method: "GET", path: "/static/../../../../etc/passwd", want: inert, check: noPasswd},
		{name: "report file traversal", caller: "leader", method: "GET", path: "/reports/..%2F..%2F..%2Fetc%2Fpasswd", want: inert, check: noPasswd},
		{name: "login with a 2 MiB name", method: "POST", path: "/login", body: []byte("name=" + strings.Repeat("a", 2<<20) + "&password=x"), hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{name: "bearer token of 1 MiB", caller: "", method: "GET", path: "/api/v1/records", hdr: []string{"Authorization", "Bearer " + strings.Repeat("x", 1<<20)}},
		{name: "malformed Authorization", method: "GET", path: "/api/v1/audit", hdr: []string{"Authorization", "Basic YWRtaW46YWRtaW4="}},
	}
}

func noPasswd(t *testing.T, r reply) {
	if bytes.Contains(r.body, []byte("root:")) {
		t.Errorf("path traversal served /etc/passwd: %s", r)
	}
}

// TestHostileInputCatalogue sends every input of hostileCases and checks
// each gets what it must (a clear 4xx, or for rows the per-row refusal),
// that nothing bad was stored, that a CSV export defuses formulas, that
// the file agent ships nothing through links or odd names, and that serve
// is still up at the end.
func TestHostileInputCatalogue(t *testing.T) {
	data := t.TempDir()
	pop := populate(t, data)
	venue := registerVenues(t, data, "HX-", 1)[0]
	s := startServer(t, data)
	creds := map[string]string{"venue": venue.key}
	for r, tok := range pop.tokens {
		creds[r] = tok
	}
	cases := hostileCases()
	if len(cases) < 40 {
		t.Fatalf("only %d hostile inputs; the catalogue must hold at least 40", len(cases))
	}
	for _, c := range cases {
		hdr := c.hdr
		if c.caller != "" {
			hdr = append(append([]string(nil), hdr...), "Authorization", "Bearer "+creds[c.caller])
		}
		r, err := s.call(t.Context(), c.method, c.path, "", c.body, hdr...)
		for err == nil && r.code == 429 && r.header.Get("Retry-After") != "" {
			// The catalogue outpaces a venue's rate limit; that answer is
			// right but hides the one under test.
			time.Sleep(time.Second)
			r, err = s.call(t.Context(), c.method, c.path, "", c.body, hdr...)
		}
		if err != nil {
			// A server may close a connection on a body it will not read;
			// what matters is that it said so first or stays up.
			if !s.alive() {
				t.Fatalf("%s: serve died: %v\n%s", c.name, err, tail(s.logText(), 2000))
			}
			t.Errorf("%s: no answer: %v", c.name, err)
			continue
		}
		ok := true
		switch c.want {
		case reject4xx:
			ok = r.code >= 400 && r.code < 500 && len(bytes.TrimSpace(r.body)) > 0
		case rowReject:
			if r.code == 200 {
				var ans struct {
					Accepted int               `json:"accepted"`
					Rejected []json.RawMessage `json:"rejected"`
				}
				ok = json.Unmarshal(r.body, &ans) == nil && ans.Accepted == 0 && len(ans.Rejected) > 0
			} else {
				ok = r.code >= 400 && r.code < 500 && len(bytes.TrimSpace(r.body)) > 0
			}
		case inert:
			ok = r.code < 500
		}
		if !ok {
			t.Errorf("%s: %s", c.name, r)
		}
		if c.check != nil {
			c.check(t, r)
		}
		t.Logf("%-42s → %d %s", c.name, r.code, firstLine(r.body))
	}
	t.Run("formula injection defused in CSV export", func(t *testing.T) { formulaExport(t, s, venue, creds["analyst"]) })
	t.Run("file agent path traversal", func(t *testing.T) { agentTraversal(t, s, pop, venue) })
	if r := s.mustCall(t, "GET", "/healthz", "", nil); r.code != 200 || !s.alive() {
		t.Fatalf("serve unhealthy after the catalogue: %s", r)
	}
	t.Logf("%d hostile inputs sent; serve is up", len(cases))
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 110 {
		s = s[:110] + "…"
	}
	return s
}

// formulaExport stores cells a spreadsheet would run and checks the CSV
// export quotes them.
func formulaExport(t *testing.T, s *server, venue venueKey, analyst string) {
	evil := []string{"=HYPERLINK(\"http://x.test\",\"x\")", "+SUM(1,2)", "-2+3", "@SUM(A1)", "=cmd|' /C calc'!A0"}
	start := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	var rows []map[string]string
	for i, e := range evil {
		// Names are stored masked (their first character and a star), so the
		// formulas go into the place too, which is exported as sent.
		rows = append(rows, map[string]string{"kind": "cafe", "place": e, "id_type": "resident_id",
			"id_number": syntheticID(4300 + i), "name": e, "started_at": start})
	}
	body, _ := json.Marshal(rows)
	r := s.mustCall(t, "POST", "/api/v1/intake/access-records", venue.key, body, "Content-Type", "application/json")
	var ans struct {
		Accepted int `json:"accepted"`
	}
	decode(t, r, &ans)
	if ans.Accepted == 0 {
		t.Logf("formula names refused at intake (%s); nothing to export", r)
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = s.mustCall(t, "GET", "/api/v1/records?format=csv&venue="+venue.code, analyst, nil, "X-Case-Ref", "H-CSV")
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err == nil && len(recs) > 1 || time.Now().After(deadline) {
			if len(recs) <= 1 {
				t.Fatalf("exported nothing: %s", r)
			}
			for _, rec := range recs[1:] {
				for _, cell := range rec {
					if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
						t.Errorf("export cell %q would run as a formula", cell)
					}
				}
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// agentTraversal runs netpulse agent over a folder with a link to
// /etc/passwd, a link to /, and files named with dot-dots; nothing from
// outside the folder may be sent, and the link targets stay untouched.
func agentTraversal(t *testing.T, s *server, pop *population, venue venueKey) {
	watch := t.TempDir()
	os.Symlink("/etc/passwd", filepath.Join(watch, "passwd.csv"))
	os.Symlink("/", filepath.Join(watch, "root"))
	os.WriteFile(filepath.Join(watch, "..evil.csv"), []byte("kind,place\ncafe,../../x\n"), 0o644)
	os.WriteFile(filepath.Join(watch, ".hidden.csv"), []byte("kind,place\ncafe,x\n"), 0o644)
	before, _ := os.ReadFile("/etc/passwd")
	cmd := exec.Command(binary(t), "agent", "--watch", watch, "--server", s.base, "--key", venue.key, "--once", "--settle", "0s")
	out, _ := cmd.CombinedOutput()
	after, _ := os.ReadFile("/etc/passwd")
	if !bytes.Equal(before, after) {
		t.Fatal("/etc/passwd changed")
	}
	// The agent may set a refused link aside in failed/, as a link.
	for _, p := range []string{filepath.Join(watch, "passwd.csv"), filepath.Join(watch, "failed", "passwd.csv")} {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a link: the agent copied what it points to", p)
		}
	}
	r := s.mustCall(t, "GET", "/api/v1/intake/quarantine?status=all&limit=1000", venue.key, nil)
	if bytes.Contains(r.body, []byte("root:")) || bytes.Contains(r.body, []byte("../../x")) {
		t.Errorf("the agent shipped a file from outside its folder or with a dot-dot name: %s", r)
	}
	entries, _ := os.ReadDir(filepath.Join(watch, "done"))
	for _, e := range entries {
		t.Errorf("agent sent done/%s; none of these files may be sent", e.Name())
	}
	t.Logf("agent output: %s", tail(string(out), 500))
}
