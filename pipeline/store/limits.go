package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Limits are ClickHouse's own per-query guards for SQL the store did not
// write (threshold rules): read-only, bounded in time, memory, rows read
// and rows returned. They travel as a SETTINGS clause, which chDB and a
// ClickHouse server honour alike, so neither backend needs its own knob.
type Limits struct {
	Timeout    time.Duration // max_execution_time
	MaxRows    uint64        // max_result_rows (throw past it)
	MaxMemory  uint64        // max_memory_usage, bytes
	MaxRead    uint64        // max_rows_to_read
	MaxThreads uint64        // max_threads
}

// Clause renders the limits as a SETTINGS clause. readonly=1 comes last so
// that nothing after it, not even a SETTINGS clause inside the query,
// may change a setting again.
func (l Limits) Clause() string {
	var s []string
	add := func(k string, v uint64) {
		if v > 0 {
			s = append(s, fmt.Sprintf("%s=%d", k, v))
		}
	}
	if l.Timeout > 0 {
		add("max_execution_time", uint64(max(1, l.Timeout.Round(time.Second)/time.Second)))
		s = append(s, "timeout_overflow_mode='throw'")
	}
	if l.MaxRows > 0 {
		add("max_result_rows", l.MaxRows)
		s = append(s, "result_overflow_mode='throw'")
	}
	add("max_memory_usage", l.MaxMemory)
	if l.MaxRead > 0 {
		add("max_rows_to_read", l.MaxRead)
		s = append(s, "read_overflow_mode='throw'")
	}
	add("max_threads", l.MaxThreads)
	s = append(s, "allow_introspection_functions=0", "allow_ddl=0", "readonly=1")
	return " SETTINGS " + strings.Join(s, ", ")
}

// SelectLimited runs query, which must be a single SELECT without its own
// SETTINGS clause, as a read-only subquery under lim, and decodes the rows
// like Select. query is run as given: it takes no arguments.
func (db *DB) SelectLimited(ctx context.Context, dest any, lim Limits, query string) error {
	if lim.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout+5*time.Second)
		defer cancel()
	}
	return db.selectRaw(ctx, dest, "SELECT * FROM ("+query+")"+lim.Clause())
}
