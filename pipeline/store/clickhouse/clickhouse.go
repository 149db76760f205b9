// Package clickhouse is the scaled-out store backend: a ClickHouse server or
// cluster reached through ClickHouse/clickhouse-go/v2. It runs the same bound
// SQL as the embedded chDB backend.
package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Options locate the server.
type Options struct {
	Addrs    []string // host:port of the native protocol (9000)
	Username string
	Password string
	Database string
}

// Backend talks to ClickHouse over the native protocol.
type Backend struct {
	conn driver.Conn
}

// Open connects (lazily; Ping checks the server).
func Open(opts Options) (*Backend, error) {
	if opts.Username == "" {
		opts.Username = "default"
	}
	conn, err := ch.Open(&ch.Options{
		Addr: opts.Addrs,
		Auth: ch.Auth{Database: opts.Database, Username: opts.Username, Password: opts.Password},
		Settings: ch.Settings{
			"date_time_input_format": "best_effort",
		},
		DialTimeout:     5 * time.Second,
		ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %v: %w", opts.Addrs, err)
	}
	return &Backend{conn: conn}, nil
}

// Exec runs a statement.
func (b *Backend) Exec(ctx context.Context, query string) error {
	return b.conn.Exec(ctx, query)
}

// Insert sends JSONEachRow data inline; the server parses data that follows
// FORMAT in the query text.
func (b *Backend) Insert(ctx context.Context, table string, rows []byte) error {
	return b.conn.Exec(ctx, "INSERT INTO "+table+" FORMAT JSONEachRow\n"+string(rows))
}

// Query scans rows generically and re-encodes them as JSONEachRow with the
// conventions of the chDB backend (ISO UTC times, numbers unquoted).
func (b *Backend) Query(ctx context.Context, query string) ([]byte, error) {
	rows, err := b.conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	var out strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		out.WriteByte('{')
		for i, c := range cols {
			if i > 0 {
				out.WriteByte(',')
			}
			k, _ := json.Marshal(c.Name())
			out.Write(k)
			out.WriteByte(':')
			v := reflect.ValueOf(vals[i]).Elem().Interface()
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format("2006-01-02T15:04:05.000Z")
			}
			enc, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encode column %s: %w", c.Name(), err)
			}
			out.Write(enc)
		}
		out.WriteString("}\n")
	}
	return []byte(out.String()), rows.Err()
}

// Ping checks the server.
func (b *Backend) Ping(ctx context.Context) error { return b.conn.Ping(ctx) }

// Close closes the connection pool.
func (b *Backend) Close() error { return b.conn.Close() }
