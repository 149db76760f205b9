package store

import (
	"strings"
	"testing"
	"time"
)

func TestBind(t *testing.T) {
	ts := time.Date(2026, 11, 28, 14, 5, 0, 123e6, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name    string
		query   string
		args    []any
		want    string
		wantErr string
	}{
		{"string escapes quote and backslash", "SELECT ?", []any{`a'b\c`}, `SELECT 'a\'b\\c'`, ""},
		{"newline and NUL", "SELECT ?", []any{"a\nb\x00"}, `SELECT 'a\nb\0'`, ""},
		{"numbers and bool", "SELECT ?, ?, ?, ?", []any{-3, uint64(7), 1.5, true}, "SELECT -3, 7, 1.5, 1", ""},
		{"time becomes UTC DateTime64", "SELECT ?", []any{ts}, "SELECT toDateTime64('2026-11-28 06:05:00.123', 3, 'UTC')", ""},
		{"slice becomes array", "SELECT ?", []any{[]string{"a", "b"}}, "SELECT ['a','b']", ""},
		{"placeholder inside literal is kept", "SELECT '?', ?", []any{"x"}, "SELECT '?', 'x'", ""},
		{"escaped quote in literal", `SELECT 'it\'s ?', ?`, []any{1}, `SELECT 'it\'s ?', 1`, ""},
		{"nil is NULL", "SELECT ?", []any{nil}, "SELECT NULL", ""},
		{"too few args", "SELECT ?, ?", []any{1}, "", "more placeholders"},
		{"too many args", "SELECT ?", []any{1, 2}, "", "2 arguments for 1"},
		{"unsupported type", "SELECT ?", []any{struct{}{}}, "", "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Bind(tt.query, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Bind error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Bind = %s\nwant   %s", got, tt.want)
			}
		})
	}
}

func FuzzBind(f *testing.F) {
	f.Add("SELECT ?", "x")
	f.Add("SELECT '?' , ?", "it's")
	f.Fuzz(func(t *testing.T, query, arg string) {
		n := strings.Count(query, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = arg
		}
		// Must never panic; placeholders inside literals make counts differ.
		Bind(query, args...)
	})
}

func TestSplitStatements(t *testing.T) {
	got := SplitStatements("-- comment\nCREATE DATABASE x;\n\nCREATE TABLE x.t\n(a UInt8)\nENGINE = Memory;\nSELECT 1")
	want := []string{"CREATE DATABASE x", "CREATE TABLE x.t\n(a UInt8)\nENGINE = Memory", "SELECT 1"}
	if len(got) != len(want) {
		t.Fatalf("got %d statements %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d = %q, want %q", i, got[i], want[i])
		}
	}
}
