package intake_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/collectors/intake/intaketest"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Two intake nodes of one cluster (same key material, from configuration)
// that both take one batch, because the retry raced the first send through
// the state topic's replication window, each publish it: the answers differ,
// but the records carry the same ids, and the store keeps one copy of each.
// This is why the shared ledger may leave that window open.
func TestRacedRetryIsCollapsedByRecordID(t *testing.T) {
	const venue = "RACE-C1"
	a := intaketest.New(t, db, map[string]string{venue: "cafe"}, nil)
	b := intaketest.New(t, db, map[string]string{venue: "cafe"}, func(o *intake.Options) { o.Protect = a.Protect })
	start := time.Now().Add(-time.Hour)
	var body strings.Builder
	body.WriteString(header)
	for i := range 5 {
		fmt.Fprintf(&body, "cafe,R%03d,resident_id,%s,赵六,%s,,,,\n", i, identity.Synthetic("420199", 880+i), ts(start.Add(time.Duration(i)*time.Minute)))
	}
	ra := a.Post(venue, "/api/v1/intake/access-records", "text/csv", "race-key", []byte(body.String()))
	rb := b.Post(venue, "/api/v1/intake/access-records", "text/csv", "race-key", []byte(body.String()))
	if ra.Code != http.StatusOK || rb.Code != http.StatusOK || ra.Ans.Accepted != 5 || rb.Ans.Accepted != 5 {
		t.Fatalf("sends: %d %+v / %d %+v", ra.Code, ra.Ans, rb.Code, rb.Ans)
	}
	if ra.Ans.BatchID == rb.Ans.BatchID {
		t.Fatalf("both nodes answered batch %s: the race did not happen", ra.Ans.BatchID)
	}
	// Each answer accepted 5 records, so each node put 5 on its bus: ten
	// published, five stored (FINAL collapses the copies by record id;
	// whether a background merge already did is up to ClickHouse).
	for _, e := range []*intaketest.Env{a, b} {
		// Each node's records writer has stored (committed) its copy.
		deadline := time.Now().Add(30 * time.Second)
		for {
			lag, err := e.Bus.Lag(context.Background(), "records", bus.TopicAccess)
			if err != nil {
				t.Fatal(err)
			}
			if lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("records writer still %d behind after 30s", lag)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	intaketest.WaitStored(t, db, venue, 5)
	var c []struct {
		IDs uint64 `json:"ids"`
	}
	if err := db.Select(context.Background(), &c, `SELECT uniqExact(record_id) AS ids
		FROM netpulse.access_records WHERE venue = ?`, venue); err != nil {
		t.Fatal(err)
	}
	if c[0].IDs != 5 {
		t.Errorf("%d distinct record ids for one batch sent twice, want 5", c[0].IDs)
	}
}
