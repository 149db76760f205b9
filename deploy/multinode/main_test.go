package multinode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// dumpEnv makes the test binary print one node's store and exit: chDB
// allows one engine per process, so each store is read by its own child.
const dumpEnv = "NETPULSE_MULTINODE_DUMP"

var (
	// brokerAddr is the broker of the test running now (useBroker). Each
	// test gets its own: the topics and group names are serve's fixed
	// ones, and one test's posts must not reach another's nodes.
	brokerAddr string
	binary     string // the netpulse binary under test, built by TestMain
)

// useBroker starts a real single-node Kafka (package kafkatest) for the
// calling test and points brokerAddr at it. Its cleanup is registered before
// the nodes', so it runs after them.
func useBroker(tb testing.TB) {
	tb.Helper()
	brokerAddr = kafkatest.ForTest(tb)
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(dumpEnv); dir != "" {
		if err := dumpStore(dir); err != nil {
			fmt.Fprintln(os.Stderr, "dump store:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "multinode-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	binary = filepath.Join(tmp, "netpulse")
	build := exec.Command("go", "build", "-o", binary, "github.com/netpulse/netpulse/cmd/netpulse")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: build netpulse: %v\n%s", err, out)
		return 1
	}

	return m.Run()
}

// storeDump is what one node's store holds: raw rows, not FINAL, so that
// duplicates show.
type storeDump struct {
	Records []dumpRecord `json:"records"`
	Posts   []string     `json:"posts"`
	// Parts are the active parts' rows and compressed bytes per table,
	// for the disk figures of docs/sizing.md.
	Parts []tableParts `json:"parts"`
}

type tableParts struct {
	Table string `json:"table"`
	Rows  uint64 `json:"rows,string"`
	Bytes uint64 `json:"bytes,string"`
}

type dumpRecord struct {
	RecordID  string    `json:"record_id"`
	Venue     string    `json:"venue"`
	Place     string    `json:"place"`
	StartedAt time.Time `json:"started_at"`
}

func (r dumpRecord) key() string {
	return r.Venue + "|" + r.Place + "|" + r.StartedAt.UTC().Format(time.RFC3339)
}

func dumpStore(dir string) error {
	b, err := chdb.Open(dir)
	if err != nil {
		return err
	}
	db := store.New(b, nil)
	defer db.Close()
	ctx := context.Background()
	var d storeDump
	if err := db.Select(ctx, &d.Records, "SELECT record_id, venue, place, started_at FROM netpulse.access_records WHERE batch_id != 'demo-flatline'"); err != nil {
		return err
	}
	var posts []struct {
		ID string `json:"id"`
	}
	if err := db.Select(ctx, &posts, "SELECT id FROM netpulse.posts"); err != nil {
		return err
	}
	for _, p := range posts {
		d.Posts = append(d.Posts, p.ID)
	}
	if err := db.Select(ctx, &d.Parts, "SELECT table, toString(sum(rows)) AS rows, toString(sum(bytes_on_disk)) AS bytes "+
		"FROM system.parts WHERE database = 'netpulse' AND active GROUP BY table ORDER BY table"); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(d)
}

// readStore runs the dump child for a stopped node's store.
func readStore(t testing.TB, dataDir string) storeDump {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dumpEnv+"="+filepath.Join(dataDir, "chdb"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("read store %s: %v\n%s", dataDir, err, stderr.String())
	}
	var d storeDump
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("read store %s: %v\n%s", dataDir, err, out)
	}
	return d
}
