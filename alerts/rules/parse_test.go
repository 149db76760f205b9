package rules

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseValidFile(t *testing.T) {
	b, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(b, "testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, typ string
		line      int
	}{
		{"fraud-words", TypeKeyword, 2}, {"fire-often", TypeFrequency, 9}, {"fire-spike", TypeSpike, 16},
		{"venue-silent", TypeFlatline, 23}, {"fresh-words", TypeNewTerm, 29}, {"few-records", TypeThreshold, 36},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d rules, want %d", len(rs), len(want))
	}
	for i, w := range want {
		if rs[i].Name != w.name || rs[i].Type != w.typ || rs[i].Line != w.line {
			t.Errorf("rule %d = %s/%s line %d, want %s/%s line %d", i, rs[i].Name, rs[i].Type, rs[i].Line, w.name, w.typ, w.line)
		}
	}
	if rs[1].Window != 10*time.Minute || rs[1].Threshold != 20 || rs[0].Realert != 30*time.Minute {
		t.Errorf("fields not parsed: %+v", rs[1])
	}
	if len(rs[0].q.all) != 1 || len(rs[0].q.all[0]) != 2 || rs[0].q.none[0] != "广告" {
		t.Errorf("query parsed as %+v", rs[0].q)
	}
}

func TestParseErrorsCarryLines(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"bad duration", "rules:\n  - name: a\n    type: frequency\n    query: x\n    window: ten\n    threshold: 3\n    unit: u\n", 5, "window", "not a duration"},
		{"unknown type", "rules:\n  - name: a\n    type: magic\n    unit: u\n", 3, "type", "not keyword"},
		{"field of another type", "rules:\n  - name: a\n    type: keyword\n    query: x\n    ratio: 3\n    unit: u\n", 5, "ratio", "not a field"},
		{"missing unit", "rules:\n  - name: a\n    type: keyword\n    query: x\n", 2, "unit", "missing"},
		{"bad severity", "rules:\n  - name: a\n    type: keyword\n    query: x\n    unit: u\n    severity: huge\n", 6, "severity", "not info"},
		{"bad name", "rules:\n  - name: Bad Name\n    type: keyword\n    query: x\n    unit: u\n", 2, "name", "lower-case"},
		{"duplicate name", "rules:\n  - {name: a, type: keyword, query: x, unit: u}\n  - {name: a, type: keyword, query: y, unit: u}\n", 3, "name", "already used"},
		{"sql missing", "rules:\n  - name: a\n    type: threshold\n    sql: \"  \"\n    op: '>'\n    value: 1\n    unit: u\n", 4, "sql", "missing"},
		{"bad op", "rules:\n  - name: a\n    type: threshold\n    sql: SELECT 1 AS value\n    op: '=>'\n    value: 1\n    unit: u\n", 5, "op", "not one of"},
		{"flatline of", "rules:\n  - name: a\n    type: flatline\n    of: planet\n    unit: u\n", 4, "of", "venue or source"},
		{"empty query", "rules:\n  - name: a\n    type: keyword\n    query: '-x'\n    unit: u\n", 4, "query", "at least one word"},
		{"yaml syntax", "rules:\n  - name: a\n    type: [keyword\n", 2, "", "did not find"},
		{"not a list", "rules: 3\n", 1, "rules", "list"},
		{"unknown top key", "rulez: []\n", 1, "rulez", "unknown key"},
		{"rule not a map", "rules:\n  - just text\n", 2, "", "mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "t.yaml")
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, fe := range ve.Errors {
				if fe.Line == c.line && fe.Field == c.field && strings.Contains(fe.Message, c.msg) {
					return
				}
			}
			t.Fatalf("want an error at line %d on %q containing %q; got %v", c.line, c.field, c.msg, err)
		})
	}
}

func TestInvalidFileNamesItsLine(t *testing.T) {
	b, err := os.ReadFile("testdata/invalid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(b, "testdata/invalid.yaml")
	if err == nil || !strings.Contains(err.Error(), "line 9: rule \"broken\": window:") {
		t.Fatalf("error %v does not name line 9 and the window field", err)
	}
}

func TestQuerySQL(t *testing.T) {
	q, err := parseQuery("诈骗|刷单 转账 -广告")
	if err != nil {
		t.Fatal(err)
	}
	cond, args := q.sql("t")
	if cond != "(position(t, ?) > 0 OR position(t, ?) > 0) AND (position(t, ?) > 0) AND position(t, ?) = 0" || len(args) != 4 {
		t.Fatalf("cond %q args %v", cond, args)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/valid.yaml", "testdata/invalid.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("rules:\n  - {name: a, type: spike, query: x, window: 25h, unit: u}\n"))
	f.Add([]byte("- name: a\n  type: new_term\n  unit: u\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse(data, "fuzz")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("error %v is not a ValidationError with entries", err)
			}
			for _, fe := range ve.Errors {
				if fe.Line < 0 {
					t.Fatalf("negative line in %v", fe)
				}
			}
			return
		}
		for _, r := range rs {
			if r.Name == "" || r.Unit == "" || typeFields[r.Type] == nil || r.Every < time.Second {
				t.Fatalf("accepted an incomplete rule %+v", r)
			}
		}
	})
}
