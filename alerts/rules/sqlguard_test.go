package rules_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/rules"
)

type sqlCase struct {
	line   int
	allow  bool
	expect string
	sql    string
}

func readSQLCases(t *testing.T) []sqlCase {
	t.Helper()
	b, err := os.ReadFile("testdata/rule_sql.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []sqlCase
	var cur *sqlCase
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
		case strings.TrimSpace(l) == "":
			if cur != nil {
				out = append(out, *cur)
				cur = nil
			}
		case cur == nil && l == "allow":
			cur = &sqlCase{line: i + 1, allow: true}
		case cur == nil && strings.HasPrefix(l, "refuse: "):
			cur = &sqlCase{line: i + 1, expect: strings.TrimPrefix(l, "refuse: ")}
		case cur == nil:
			t.Fatalf("testdata/rule_sql.txt:%d: want allow or refuse: …, got %q", i+1, l)
		default:
			if cur.sql != "" {
				cur.sql += "\n"
			}
			cur.sql += l
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// TestRuleSQL runs every case of testdata/rule_sql.txt through the check
// that ClickHouse's parser answers; allowed SQL must also run under the
// rule limits.
func TestRuleSQL(t *testing.T) {
	ctx := context.Background()
	cases := readSQLCases(t)
	if len(cases) < 40 {
		t.Fatalf("only %d cases read", len(cases))
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
			q, err := rules.VetSQL(ctx, db, c.sql)
			if c.allow {
				if err != nil {
					t.Fatalf("%s\nrefused: %v", c.sql, err)
				}
				var rows []map[string]any
				if err := db.SelectLimited(ctx, &rows, rules.RuleLimits, q); err != nil {
					t.Fatalf("%s\nchecked but does not run: %v", q, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s\naccepted as %s", c.sql, q)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.expect)) {
				t.Errorf("%s\nrefused with %q, want it to name %q", c.sql, err, c.expect)
			}
		})
	}
}

// TestRuleLimitsAreClickHouses: the limits are ClickHouse settings, so even
// SQL that slipped past the check could not write, read files or run long.
func TestRuleLimitsAreClickHouses(t *testing.T) {
	ctx := context.Background()
	var rows []map[string]any
	for _, q := range []string{
		`SELECT * FROM file('/etc/passwd', LineAsString)`,
		`SELECT count() FROM url('http://127.0.0.1:1/x', LineAsString)`,
		`SELECT number FROM numbers(5000)`,
	} {
		if err := db.SelectLimited(ctx, &rows, rules.RuleLimits, q); err == nil {
			t.Errorf("%s ran under the rule limits", q)
		}
	}
}

// TestBadRuleSQLDisabledAtLoad: a threshold rule written to disk, or stored
// before the check existed, is listed disabled with the reason and never
// evaluated; a rule posted through the API is refused with a 400-style
// field error.
func TestBadRuleSQLDisabledAtLoad(t *testing.T) {
	ctx := context.Background()
	u := fmt.Sprintf("g%d", time.Now().UnixNano())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(fmt.Sprintf(`rules:
  - {name: leak-%[1]s, type: threshold, sql: "SELECT toFloat64(count()) AS value FROM file /**/ ('/etc/passwd', LineAsString)", op: ">", value: 0, unit: %[1]s}
  - {name: fine-%[1]s, type: threshold, sql: "SELECT count() AS value FROM netpulse.crawl_runs", op: "<", value: 0, unit: %[1]s}
`, u)), 0o600)
	stored := fmt.Sprintf("name: old-%[1]s\ntype: threshold\nsql: SELECT count() AS value FROM netpulse.access_records\nop: '>'\nvalue: 0\nunit: %[1]s\n", u)
	if err := db.Insert(ctx, "netpulse.alert_rules", []map[string]any{{"name": "old-" + u, "yaml": stored, "created_by": "t",
		"updated_at": time.Now().UTC(), "deleted": 0, "version": uint64(time.Now().UnixNano())}}); err != nil {
		t.Fatal(err)
	}
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(ctx, rules.Options{DB: db, Raiser: m, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]rules.Rule{}
	for _, r := range e.Rules() {
		got[r.Name] = r
	}
	if r := got["leak-"+u]; !strings.Contains(r.Disabled, "file") {
		t.Errorf("file rule: disabled = %q, want the reason", r.Disabled)
	}
	if r := got["old-"+u]; !strings.Contains(r.Disabled, "access_records") {
		t.Errorf("stored rule: disabled = %q, want the reason", r.Disabled)
	}
	if r := got["fine-"+u]; r.Disabled != "" {
		t.Errorf("good rule disabled: %q", r.Disabled)
	}
	if err := e.Tick(ctx); err != nil {
		t.Fatalf("tick evaluated a disabled rule or failed: %v", err)
	}
	if as := m.List(lifecycle.Filter{Unit: u}); len(as) != 0 {
		t.Errorf("alerts raised: %+v", as)
	}
	_, err = e.Put(ctx, []byte(fmt.Sprintf("rules:\n  - {name: new-%[1]s, type: threshold, sql: \"SELECT decrypt('aes-256-gcm', id_enc, 'k') AS value FROM netpulse.access_records\", op: '>', value: 0, unit: %[1]s}\n", u)), "admin", true)
	var ve *rules.ValidationError
	if !errorsAs(err, &ve) || len(ve.Errors) == 0 || ve.Errors[0].Field != "sql" {
		t.Fatalf("Put of a decrypt rule: %v", err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
