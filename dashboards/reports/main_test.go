package reports

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// One chDB engine per test process (libchdb allows one connection), holding
// the fixture dataset of testdata/: three police units, seven venues, two ISO
// weeks (2026-W46 and 2026-W47) of records, rejections, posts, crawl runs,
// alerts and audit entries. The expected figures in report_test.go are
// worked out by hand from these files.
var testDB *store.DB

// testRegistry is a real access registry holding the analysts of the audit
// fixture, with their units.
var testRegistry *access.Registry

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "reports-chdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	b, err := chdb.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testDB = store.New(b, nil)
	defer testDB.Close()
	if testRegistry, err = access.Open(filepath.Join(dir, "access"), time.Hour); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, u := range []access.UserSpec{
		{Name: "analyst1", Role: access.RoleAnalyst, Unit: "城关派出所"},
		{Name: "analyst2", Role: access.RoleAnalyst, Unit: "东湖派出所"},
		{Name: "analyst3", Role: access.RoleAnalyst, Unit: "城关派出所"},
	} {
		if _, err := testRegistry.AddUser(context.Background(), u); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if err := loadFixtures(context.Background(), testDB); err != nil {
		fmt.Fprintln(os.Stderr, "load fixtures:", err)
		return 1
	}
	return m.Run()
}

func loadFixtures(ctx context.Context, db *store.DB) error {
	if err := db.Migrate(ctx, deploy.Schema()); err != nil {
		return err
	}
	for _, table := range []string{"venues", "access_records", "intake_quarantine", "posts", "crawl_runs", "alerts", "audit_log"} {
		rows, err := readJSONL(filepath.Join("testdata", table+".jsonl"))
		if err != nil {
			return err
		}
		if err := db.Insert(ctx, "netpulse."+table, rows); err != nil {
			return err
		}
	}
	return nil
}

func readJSONL(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, row)
	}
	return out, sc.Err()
}
