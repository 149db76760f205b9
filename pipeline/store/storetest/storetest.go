// Package storetest gives a test binary the one embedded ClickHouse engine
// it may open (libchdb allows one per process and cannot reopen it), in a
// temporary folder with the netpulse schema applied.
package storetest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// Open starts the engine in a new temporary folder and applies the schema.
// cleanup closes the engine and removes the folder.
func Open() (db *store.DB, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "netpulse-chdb-")
	if err != nil {
		return nil, nil, err
	}
	b, err := chdb.Open(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	db = store.New(b, nil)
	if err := db.Migrate(context.Background(), deploy.Schema()); err != nil {
		db.Close()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("apply schema: %w", err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }, nil
}

// Main is a whole TestMain: it sets *db to the engine, runs the tests and
// exits with their status.
func Main(m *testing.M, db **store.DB) {
	d, cleanup, err := Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		os.Exit(1)
	}
	*db = d
	code := m.Run()
	cleanup()
	os.Exit(code)
}
