package intake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/netpulse/netpulse/privacy/identity"
)

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		ct, body string
		want     Format
	}{
		{"text/csv; charset=utf-8", "[", FormatCSV},
		{"application/x-ndjson", "{}", FormatNDJSON},
		{"application/json", "[{}]", FormatJSON},
		{"application/json", "{}\n{}", FormatNDJSON},
		{"", "\ufeff  [", FormatJSON},
		{"", "kind,place", FormatCSV},
	}
	for _, tt := range tests {
		if got := DetectFormat(tt.ct, []byte(tt.body)); got != tt.want {
			t.Errorf("DetectFormat(%q, %q) = %v, want %v", tt.ct, tt.body, got, tt.want)
		}
	}
}

func TestParseRows(t *testing.T) {
	tests := []struct {
		name      string
		format    Format
		body      string
		wantRows  int
		wantErrAt map[int]string // row -> substring of reason
		wantBody  bool
	}{
		{"csv ok", FormatCSV, "kind,place,id_type,id_number,name,started_at,ended_at\ncafe,A1,resident_id,1,张三,2026-01-01T00:00:00Z,\n", 1, nil, false},
		{"csv column count", FormatCSV, "kind,place,id_type,id_number,name,started_at\ncafe,A1\ncafe,A1,resident_id,1,n,t\n", 2, map[int]string{1: "columns"}, false},
		{"csv bare quote", FormatCSV, "kind,place,id_type,id_number,name,started_at\ncafe,A\"1,x,1,n,t\ncafe,A1,resident_id,1,n,t\n", 2, map[int]string{1: "malformed CSV"}, false},
		{"csv unknown column", FormatCSV, "kind,plaice\n", 0, nil, true},
		{"csv missing column", FormatCSV, "kind,place\n", 0, nil, true},
		{"csv empty", FormatCSV, "", 0, nil, true},
		{"ndjson", FormatNDJSON, "{\"kind\":\"cafe\",\"party_size\":2}\n\n{\"kind\":\n[1]\n{\"kidn\":\"x\"}\n{\"kind\":true}\n", 5, map[int]string{2: "malformed", 3: "not a JSON object", 4: "unknown field", 5: "must be a string"}, false},
		{"ndjson bad utf8", FormatNDJSON, "{\"name\":\"\xff\"}\n", 1, map[int]string{1: "UTF-8"}, false},
		{"json array", FormatJSON, `[{"kind":"cafe"}, 3, {"kind":null}]`, 3, map[int]string{2: "not a JSON object"}, false},
		{"json not array", FormatJSON, `{"kind":"cafe"}`, 0, nil, true},
		{"json broken", FormatJSON, `[{"kind":"cafe"}, {"kind":`, 2, map[int]string{2: "malformed"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := Parse([]byte(tt.body), tt.format, 100)
			if (err != nil) != tt.wantBody {
				t.Fatalf("err = %v, want body error %v", err, tt.wantBody)
			}
			if len(rows) != tt.wantRows {
				t.Fatalf("got %d rows, want %d: %+v", len(rows), tt.wantRows, rows)
			}
			for i, p := range rows {
				if p.Row != i+1 {
					t.Errorf("row %d numbered %d", i+1, p.Row)
				}
				want, bad := tt.wantErrAt[p.Row]
				switch {
				case bad && (p.Err == nil || !strings.Contains(p.Err.Reason, want)):
					t.Errorf("row %d: err %+v, want %q", p.Row, p.Err, want)
				case !bad && p.Err != nil:
					t.Errorf("row %d: unexpected %+v", p.Row, p.Err)
				}
			}
		})
	}
}

func TestParseMaxRows(t *testing.T) {
	body := "{}\n{}\n{}\n"
	rows, err := Parse([]byte(body), FormatNDJSON, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[2].Err == nil || !strings.Contains(rows[2].Err.Reason, "more than 2") {
		t.Fatalf("rows = %+v", rows)
	}
}

func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("kind,place,id_type,id_number,name,started_at\ncafe,A1,resident_id,1,n,t\n"))
	f.Add([]byte(`[{"kind":"cafe","party_size":3}]`))
	f.Add([]byte("{\"kind\":\"cafe\"}\n{"))
}

func checkParsed(t *testing.T, rows []Parsed) {
	for i, p := range rows {
		if p.Row != i+1 {
			t.Fatalf("row %d numbered %d", i+1, p.Row)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := Parse(b, FormatCSV, 1000)
		if err == nil {
			checkParsed(t, rows)
		}
	})
}

func FuzzParseJSON(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []Format{FormatJSON, FormatNDJSON} {
			rows, err := Parse(b, format, 1000)
			if err == nil {
				checkParsed(t, rows)
			}
		}
	})
}

// FuzzValidate feeds arbitrary field values through the validator: it must
// never panic, and whatever it accepts must be well-formed.
func FuzzValidate(f *testing.F) {
	f.Add("cafe", "A1", "resident_id", "11010519491231002X", "张三", "2026-11-28T06:00:00Z", "", "10.0.0.1", "52:54:00:ab:cd:ef", "2")
	f.Add("hotel", "301", "passport", "E1234567", "J", "2026-11-28T06:00:00+08:00", "2026-11-28T05:00:00Z", "::1", "", "x")
	keys, err := identity.LoadKeys(f.TempDir(), "", "")
	if err != nil {
		f.Fatal(err)
	}
	p, err := identity.NewProtector(keys)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	v := &Validator{Venue: "V", Now: now, Protect: p}
	f.Fuzz(func(t *testing.T, kind, place, idType, idNumber, name, start, end, ip, mac, party string) {
		r, errs := v.Validate(1, Input{kind, place, idType, idNumber, name, start, end, ip, mac, party})
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Row != 1 || e.Field == "" || e.Reason == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
			return
		}
		if r.RecordID == "" || r.StartedAt.After(now.Add(5*time.Minute)) || !utf8.ValidString(r.Name) ||
			(r.EndedAt != nil && r.EndedAt.Before(r.StartedAt)) {
			t.Fatalf("accepted a bad record %+v", r)
		}
		var back map[string]any
		if err := json.Unmarshal(r.AppendJSON(nil), &back); err != nil {
			t.Fatalf("record JSON invalid: %v", err)
		}
	})
}
