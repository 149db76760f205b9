package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrate applies every NNNN_name.sql file of schema in version order. Each
// statement must be idempotent (IF NOT EXISTS); files are re-applied on every
// start, which also repairs a start that died half-way. Applied versions are
// recorded in netpulse.schema_migrations for operators to read.
func (db *DB) Migrate(ctx context.Context, schema fs.FS) error {
	files, err := fs.Glob(schema, "*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, f := range files {
		num, _, ok := strings.Cut(path.Base(f), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migrate: schema file %s is not named NNNN_name.sql", f)
		}
		ms = append(ms, migration{v, f})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return fmt.Errorf("migrate: %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	for _, m := range ms {
		text, err := fs.ReadFile(schema, m.name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		for i, stmt := range SplitStatements(string(text)) {
			if err := db.b.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s statement %d: %w", m.name, i+1, err)
			}
		}
		if err := db.Exec(ctx, `INSERT INTO netpulse.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now()); err != nil {
			return fmt.Errorf("migrate %s: record version: %w", m.name, err)
		}
	}
	return nil
}

// MigrateCluster creates the schema on a ClickHouse cluster: the same files,
// rewritten by ClusterSchema into Replicated tables behind Distributed ones.
func (db *DB) MigrateCluster(ctx context.Context, schema fs.FS, cluster string) error {
	stmts, err := ClusterSchema(schema, cluster)
	if err != nil {
		return fmt.Errorf("migrate cluster %s: %w", cluster, err)
	}
	for i, stmt := range stmts {
		if err := db.b.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("migrate cluster %s statement %d: %w", cluster, i+1, err)
		}
	}
	return nil
}

// SplitStatements splits a SQL file on semicolons that end a line, dropping
// comment-only lines. Schema files keep one statement per such block.
func SplitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, s)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
