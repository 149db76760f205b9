package chdb_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// One engine per process: libchdb allows a single connection.
var db *store.DB

func TestMain(m *testing.M) {
	// Linking the package must not load libchdb (about 140 MiB resident):
	// nodes that store in a ClickHouse server never open the engine.
	if loaded, err := libchdbMapped(); err != nil || loaded {
		fmt.Fprintln(os.Stderr, "libchdb mapped before the first Open:", loaded, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "chdb-test-")
	if err != nil {
		panic(err)
	}
	b, err := chdb.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if loaded, err := libchdbMapped(); err != nil || !loaded {
		fmt.Fprintln(os.Stderr, "libchdb not mapped after Open:", loaded, err)
		os.Exit(1)
	}
	db = store.New(b, nil)
	code := m.Run()
	db.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// libchdbMapped reports whether libchdb is in this process's memory map.
func libchdbMapped() (bool, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return false, err
	}
	return strings.Contains(string(maps), "libchdb"), nil
}

type row struct {
	ID    uint64    `json:"id"`
	Name  string    `json:"name"`
	At    time.Time `json:"at"`
	Tags  []string  `json:"tags"`
	Score float64   `json:"score"`
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	if err := db.Migrate(ctx, deploy.Schema()); err != nil {
		t.Fatal(err)
	}
	// Applying the schema twice must be harmless.
	if err := db.Migrate(ctx, deploy.Schema()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS netpulse.rt (id UInt64, name String, at DateTime64(3,'UTC'), tags Array(String), score Float64) ENGINE = MergeTree ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 6, 5, 0, 123e6, time.UTC)
	in := []row{
		{1, "网吧 'A'", at, []string{"x", "反诈"}, 1.5},
		{2, `back\slash "q"`, at.Add(time.Hour), nil, -2},
	}
	if err := db.Insert(ctx, "netpulse.rt", in); err != nil {
		t.Fatal(err)
	}
	var out []row
	if err := db.Select(ctx, &out, `SELECT * FROM netpulse.rt WHERE at >= ? ORDER BY id`, at); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("got %d rows, want 2", len(out))
	}
	for i := range in {
		if out[i].ID != in[i].ID || out[i].Name != in[i].Name || !out[i].At.Equal(in[i].At) || out[i].Score != in[i].Score || len(out[i].Tags) != len(in[i].Tags) {
			t.Errorf("row %d = %+v, want %+v", i, out[i], in[i])
		}
	}
	var versions []struct {
		Version uint32 `json:"version"`
	}
	if err := db.Select(ctx, &versions, `SELECT DISTINCT version FROM netpulse.schema_migrations ORDER BY version`); err != nil {
		t.Fatal(err)
	}
	if len(versions) == 0 || versions[0].Version != 1 {
		t.Errorf("schema_migrations versions = %v, want to start at 1", versions)
	}
}

func TestErrorsCarryTheStatement(t *testing.T) {
	err := db.Exec(context.Background(), `SELECT * FROM netpulse.no_such_table`)
	if err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	if want := "no_such_table"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
}

// BenchmarkInsert measures the raw chDB insert ceiling: rows per second of
// one JSONEachRow INSERT of b.N-sized batches.
func BenchmarkInsert(b *testing.B) {
	ctx := context.Background()
	if err := db.Migrate(ctx, deploy.Schema()); err != nil {
		b.Fatal(err)
	}
	if err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS netpulse.bench (id UInt64, name String, at DateTime64(3,'UTC'), tags Array(String), score Float64) ENGINE = MergeTree ORDER BY id`); err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	rows := make([]row, batch)
	at := time.Now().UTC()
	for i := range rows {
		rows[i] = row{uint64(i), fmt.Sprintf("终端-%04d 张三", i), at, []string{"cafe"}, float64(i)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Insert(ctx, "netpulse.bench", rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}
