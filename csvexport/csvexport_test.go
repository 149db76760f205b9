package csvexport

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"\n=1", "'\n=1"},
		{"  =1+1", "'  =1+1"},
		{"\u3000=1", "'\u3000=1"},
		{"＝1+1", "'＝1+1"},
		{"＠A1", "'＠A1"},
		// Leading characters importers skip, and other forms of the signs.
		{"\u00a0=1+1", "'\u00a0=1+1"},
		{"\u200b=1+1", "'\u200b=1+1"},
		{"\ufeff=1+1", "'\ufeff=1+1"},
		{"\u200e\u202e@SUM(A1)", "'\u200e\u202e@SUM(A1)"},
		{"\v=1", "'\v=1"},
		{"\f+1", "'\f+1"},
		{"\u2003-1+2", "'\u2003-1+2"},
		{" \t1", "' \t1"},
		{"﹦1+1", "'﹦1+1"},
		{"﹢1", "'﹢1"},
		{"﹣1", "'﹣1"},
		{"﹫A1", "'﹫A1"},
		{"⁼1", "'⁼1"},
		{"−1+2", "'−1+2"},
		{"\u200b", "\u200b"},
		{"\u00a0中文", "\u00a0中文"},
		{"a=b", "a=b"},
		{"中文=1", "中文=1"},
	}
	for _, tt := range tests {
		if got := Cell(tt.in); got != tt.want {
			t.Errorf("Cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriterDefusesTextKeepsNumbers(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, true)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write("=1+1", "ok")
	_ = w.WriteNumbers("-3", "0.25", "1e-07", "-1+1", "=2")
	_ = w.WriteRow([]string{"-5", "-5"}, func(i int) bool { return i == 1 })
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), BOM) {
		t.Fatal("no BOM")
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(b.String(), BOM)))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"'=1+1", "ok"}, {"-3", "0.25", "1e-07", "'-1+1", "'=2"}, {"'-5", "-5"}}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("row %d cell %d = %q, want %q", i, j, rows[i][j], want[i][j])
			}
		}
	}
}

func FuzzCell(f *testing.F) {
	f.Add("=1")
	f.Add("  -x")
	f.Fuzz(func(t *testing.T, s string) {
		if Unsafe(Cell(s)) {
			t.Fatalf("Cell(%q) = %q still starts a formula", s, Cell(s))
		}
	})
}
