// Package store is the ClickHouse record store: one schema and one set of SQL
// statements, run either on the embedded chDB engine or on a ClickHouse
// server. Callers bind arguments, insert rows and decode results here; the
// two engines differ only behind the Backend seam.
package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Backend is the seam between the store and a ClickHouse engine. Every
// statement arrives fully bound; results come back as JSONEachRow so that
// both engines decode through the same path.
type Backend interface {
	Exec(ctx context.Context, query string) error
	// Query runs a SELECT and returns its rows in JSONEachRow, with times in
	// ISO 8601 UTC and 64-bit integers unquoted.
	Query(ctx context.Context, query string) ([]byte, error)
	// Insert appends JSONEachRow lines to table.
	Insert(ctx context.Context, table string, rows []byte) error
	Ping(ctx context.Context) error
	Close() error
}

// DB is the store as the rest of netpulse uses it.
type DB struct {
	b       Backend
	rows    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	errs    *prometheus.CounterVec
}

// New wraps a backend. reg may be nil (tests).
func New(b Backend, reg prometheus.Registerer) *DB {
	db := &DB{
		b: b,
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netpulse_store_rows_inserted_total", Help: "Rows inserted into the store, by table."}, []string{"table"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "netpulse_store_op_seconds", Help: "Store operation latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netpulse_store_errors_total", Help: "Failed store operations."}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(db.rows, db.latency, db.errs)
	}
	return db
}

// Close closes the backend.
func (db *DB) Close() error { return db.b.Close() }

// Ping reports whether the engine answers.
func (db *DB) Ping(ctx context.Context) error { return db.b.Ping(ctx) }

func (db *DB) observe(op string, start time.Time, err error) {
	db.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		db.errs.WithLabelValues(op).Inc()
	}
}

// Exec binds args into query and runs it.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	q, err := Bind(query, args...)
	if err != nil {
		return err
	}
	start := time.Now()
	err = db.b.Exec(ctx, q)
	db.observe("exec", start, err)
	if err != nil {
		return fmt.Errorf("exec %s: %w", abbreviate(q), err)
	}
	return nil
}

// Insert appends rows (a slice of structs or maps, marshalled with their json
// tags) to table in one statement.
func (db *DB) Insert(ctx context.Context, table string, rows any) error {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice {
		return fmt.Errorf("insert into %s: rows must be a slice, got %T", table, rows)
	}
	if v.Len() == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := 0; i < v.Len(); i++ {
		if err := enc.Encode(v.Index(i).Interface()); err != nil {
			return fmt.Errorf("insert into %s: row %d: %w", table, i, err)
		}
	}
	start := time.Now()
	err := db.b.Insert(ctx, table, buf.Bytes())
	db.observe("insert", start, err)
	if err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", v.Len(), table, err)
	}
	db.rows.WithLabelValues(table).Add(float64(v.Len()))
	return nil
}

// Select runs query and decodes every row into dest, a pointer to a slice of
// structs (by json tag) or of maps.
func (db *DB) Select(ctx context.Context, dest any, query string, args ...any) error {
	dv := reflect.ValueOf(dest)
	if dv.Kind() != reflect.Pointer || dv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("select: dest must be a pointer to a slice, got %T", dest)
	}
	q, err := Bind(query, args...)
	if err != nil {
		return err
	}
	return db.selectRaw(ctx, dest, q)
}

// selectRaw runs the bound query q and decodes its rows into dest.
func (db *DB) selectRaw(ctx context.Context, dest any, q string) error {
	dv := reflect.ValueOf(dest)
	if dv.Kind() != reflect.Pointer || dv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("select: dest must be a pointer to a slice, got %T", dest)
	}
	start := time.Now()
	out, err := db.b.Query(ctx, q)
	db.observe("select", start, err)
	if err != nil {
		return fmt.Errorf("select %s: %w", abbreviate(q), err)
	}
	slice := dv.Elem()
	elemType := slice.Type().Elem()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		elem := reflect.New(elemType)
		if err := json.Unmarshal(line, elem.Interface()); err != nil {
			return fmt.Errorf("select %s: decode row: %w", abbreviate(q), err)
		}
		slice = reflect.Append(slice, elem.Elem())
	}
	dv.Elem().Set(slice)
	return sc.Err()
}

// QueryRaw runs a bound SELECT and returns its JSONEachRow output.
func (db *DB) QueryRaw(ctx context.Context, query string, args ...any) ([]byte, error) {
	q, err := Bind(query, args...)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	out, err := db.b.Query(ctx, q)
	db.observe("select", start, err)
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", abbreviate(q), err)
	}
	return out, nil
}

func abbreviate(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 120 {
		return q[:120] + "…"
	}
	return q
}
