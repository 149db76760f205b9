// Package chdb is the embedded store backend: a ClickHouse engine inside the
// process through libchdb.so (from the npm package @chdb/lib-linux-x64-gnu),
// loaded without cgo (purego) by the first Open, never at start-up. Set
// CHDB_LIB_PATH, or install the library in /usr/local/lib.
package chdb

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// Backend runs statements on one chDB connection. libchdb allows a single
// connection per process and the engine holds a lock on its data folder, so
// this type must be created once per process (serve owns it).
type Backend struct {
	mu   sync.Mutex
	conn unsafe.Pointer // chdb_connection*
	dir  string
}

// Open starts the embedded engine with its data in dir.
func Open(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open chdb %s: %w", dir, err)
	}
	if err := load(); err != nil {
		return nil, fmt.Errorf("open chdb %s: %w", dir, err)
	}
	conn, err := connect(dir)
	if err != nil {
		return nil, fmt.Errorf("open chdb %s (is another netpulse using this data folder?): %w", dir, err)
	}
	return &Backend{conn: conn, dir: dir}, nil
}

// outputSettings make JSONEachRow output identical to the server backend's.
const outputSettings = " SETTINGS date_time_output_format='iso', output_format_json_quote_64bit_integers=0, output_format_json_quote_decimals=0"

func (b *Backend) run(ctx context.Context, query, format string) ([]byte, error) {
	return b.runC(ctx, cString(query), format)
}

// runC runs a NUL-terminated query.
func (b *Backend) runC(ctx context.Context, query *byte, format string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil, fmt.Errorf("chdb %s: closed", b.dir)
	}
	return queryConn(b.conn, query, format)
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
	// Built NUL-terminated in place: the rows are copied once, not again
	// into a C string.
	q := make([]byte, 0, len(rows)+128)
	q = append(q, "INSERT INTO "+table+" SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n"...)
	q = append(q, rows...)
	q = append(q, 0)
	_, err := b.runC(ctx, &q[0], "CSV")
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
		lib.closeConn(b.conn)
		b.conn = nil
	}
	return nil
}
