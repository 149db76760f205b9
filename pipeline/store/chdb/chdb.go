// Package chdb is the embedded store backend: a ClickHouse engine inside the
// process through libchdb.so (from the npm package @chdb/lib-linux-x64-gnu),
// loaded by chdb-io/chdb-go without cgo. Set CHDB_LIB_PATH, or install the
// library in /usr/local/lib.
package chdb

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	chdbpurego "github.com/chdb-io/chdb-go/chdb-purego"
)

// Backend runs statements on one chDB connection. libchdb allows a single
// connection per process and the engine holds a lock on its data folder, so
// this type must be created once per process (serve owns it).
type Backend struct {
	mu   sync.Mutex
	conn chdbpurego.ChdbConn
	dir  string
}

// Open starts the embedded engine with its data in dir.
func Open(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open chdb %s: %w", dir, err)
	}
	conn, err := chdbpurego.NewConnectionFromConnString(dir)
	if err != nil {
		return nil, fmt.Errorf("open chdb %s (is another netpulse using this data folder?): %w", dir, err)
	}
	return &Backend{conn: conn, dir: dir}, nil
}

// outputSettings make JSONEachRow output identical to the server backend's.
const outputSettings = " SETTINGS date_time_output_format='iso', output_format_json_quote_64bit_integers=0, output_format_json_quote_decimals=0"

func (b *Backend) run(ctx context.Context, query, format string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil, fmt.Errorf("chdb %s: closed", b.dir)
	}
	res, err := b.conn.Query(query, format)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	defer res.Free()
	if buf := res.Buf(); len(buf) > 0 {
		return append([]byte(nil), buf...), nil
	}
	return nil, nil
}

// Exec runs a statement that returns no rows.
func (b *Backend) Exec(ctx context.Context, query string) error {
	_, err := b.run(ctx, query, "CSV")
	return err
}

// Query runs a SELECT and returns JSONEachRow.
func (b *Backend) Query(ctx context.Context, query string) ([]byte, error) {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	if !strings.Contains(strings.ToUpper(q), "SETTINGS") {
		q += outputSettings
	} else {
		q += ", " + strings.TrimPrefix(outputSettings, " SETTINGS ")
	}
	return b.run(ctx, q, "JSONEachRow")
}

// Insert appends JSONEachRow data to table.
func (b *Backend) Insert(ctx context.Context, table string, rows []byte) error {
	q := make([]byte, 0, len(rows)+64)
	q = append(q, "INSERT INTO "+table+" SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n"...)
	q = append(q, rows...)
	_, err := b.run(ctx, string(q), "CSV")
	return err
}

// Ping runs a trivial query.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.run(ctx, "SELECT 1", "CSV")
	return err
}

// Close releases the engine and its folder lock.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	return nil
}
