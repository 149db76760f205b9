package records

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/netpulse/netpulse/privacy/identity"
)

// FuzzRecordFilter parses arbitrary query strings as the record search does
// and builds its SQL: no panic, and no byte of what the caller sent may
// reach the SQL text itself (every value travels as a bound argument), so
// no filter can inject SQL.
func FuzzRecordFilter(f *testing.F) {
	for _, s := range []string{"venue=JA-C01&from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00%2B08:00",
		"name=%27)%20OR%201%3D1%20--%20&page=99999999999999999999&page_size=-1",
		"id_number=42019919650101990X&id_type=passport", "district=%E6%B1%9F%E5%B2%B8%E5%8C%BA&format=csv",
		"venue=a%00b&name=%ff%fe", "from=yesterday"} {
		f.Add(s)
	}
	prot, err := identity.NewProtector(identity.Keys{IDHash: bytes.Repeat([]byte{1}, 32), IDEnc: bytes.Repeat([]byte{2}, 32),
		Receipt: bytes.Repeat([]byte{3}, 32), Audit: bytes.Repeat([]byte{4}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	s := &Searcher{protect: prot}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := url.ParseQuery(raw); err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/v1/records", RawQuery: raw}}
		fl, err := parseFilter(r.URL.Query())
		if err != nil {
			return
		}
		if fl.PageSize < 0 || fl.PageSize > 500 {
			t.Fatalf("page size %d escaped its bounds", fl.PageSize)
		}
		where, args, err := s.where(fl)
		if err != nil {
			return
		}
		d := (&API{Search: s}).describe(fl, r.URL.Query().Get("format"))
		// The audit filter holds no identity-number-shaped run in clear
		// (keyed hashes aside: hex may hold long digit runs by chance).
		var m map[string]any
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("audit filter is not JSON: %s", d)
		}
		for k, v := range m {
			if sv, ok := v.(string); ok && !strings.HasSuffix(k, "hash") && len(identity.NumberRuns(sv)) > 0 {
				t.Fatalf("audit filter holds a number in clear: %s", d)
			}
		}
		for _, v := range []string{fl.Name, fl.Venue, fl.District, fl.IDNumber} {
			v = strings.TrimSpace(v)
			if len(v) >= 4 && strings.Contains(where, v) && !strings.Contains(staticWhere, v) {
				t.Fatalf("filter value %q reached the SQL text: %s (args %v)", v, where, args)
			}
		}
	})
}

// staticWhere is every fixed SQL fragment where() writes, so that a value
// that happens to spell part of it is not taken for an injection.
const staticWhere = "has(?, id_hash) name_hash = ? venue = ? venue IN (SELECT code FROM netpulse.venues FINAL WHERE district = ?) started_at >= ? started_at < ? AND 1"
