package feeds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// testSeg is the production segmenter, jieba, loaded once: gojieba takes
// about a second to load and netpulse keeps one per process.
var testSeg *jieba.Segmenter

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "feeds-jieba-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	seg, err := jieba.Open(filepath.Join(dir, "dict"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer seg.Close()
	testSeg = seg
	testChDir = filepath.Join(dir, "chdb")
	defer func() {
		if testDB != nil {
			testDB.Close()
		}
	}()
	return m.Run()
}

// The one chDB engine of the test process (libchdb allows one), opened by
// the first test that needs ClickHouse, with the netpulse schema.
var (
	testChDir  string
	testDBOnce sync.Once
	testDB     *store.DB
	testDBErr  error
)

func chDB(t testing.TB) *store.DB {
	t.Helper()
	testDBOnce.Do(func() {
		b, err := chdb.Open(testChDir)
		if err != nil {
			testDBErr = err
			return
		}
		testDB = store.New(b, nil)
		testDBErr = testDB.Migrate(context.Background(), deploy.Schema())
	})
	if testDBErr != nil {
		t.Fatalf("chDB: %v", testDBErr)
	}
	return testDB
}
