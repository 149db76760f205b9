package multinode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Key material every node of one cluster shares (configuration, not files),
// so that identity hashes and receipts agree whichever node took a batch.
var clusterKeys = []string{
	"--id-hash-key", strings.Repeat("ab", 32),
	"--id-enc-key", strings.Repeat("cd", 32),
}

// TestSharedState runs two intake/api nodes behind an imaginary load
// balancer and a process node, and checks that the state that used to live
// in one node's data folder is the cluster's: venue keys, their revocation,
// browser sessions and Idempotency-Key answers.
func TestSharedState(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three netpulse processes")
	}
	useBroker(t)
	dir := t.TempDir()
	n1data := filepath.Join(dir, "n1")
	// n1 ran alone before: its registry seeds the empty state topic.
	const password = "shared-state-pass"
	admin(t, n1data, "user", "add", "--name", "chief", "--role", "admin", "--password", password)
	flags := func(roles string) []string { return kafkaFlags(append([]string{"--roles", roles}, clusterKeys...)...) }
	a := startNode(t, "a", n1data, flags("intake,api")...)
	b := startNode(t, "b", filepath.Join(dir, "n2"), flags("intake,api")...)
	p := startNode(t, "p", filepath.Join(dir, "n3"), flags("process")...)
	ctx := context.Background()
	kb, err := kafkabus.Open(kafkabus.Options{Brokers: []string{brokerAddr}, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()

	// An operator registers a venue once for the cluster, from a folder of
	// their own.
	op := filepath.Join(dir, "operator")
	key := admin(t, op, "venue", "add", "--kafka", brokerAddr, "--code", "SH-01", "--kind", "cafe",
		"--name", "共享网吧", "--district", "江岸区", "--unit", "网安大队")
	if !strings.HasPrefix(key, "npv_") {
		t.Fatalf("venue add printed %q as its last line, want the key", key)
	}

	t.Run("admin without --kafka refuses to change a node's copy", func(t *testing.T) {
		out, err := exec.Command(binary, "admin", "venue", "add", "--data", n1data, "--code", "SH-02", "--kind", "cafe",
			"--name", "分叉网吧", "--district", "江岸区", "--unit", "网安大队").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--kafka") {
			t.Errorf("admin venue add on a replica without --kafka: %v\n%s", err, out)
		}
	})

	t.Run("venue made by the admin CLI submits through either node", func(t *testing.T) {
		for i, n := range []*node{b, a} {
			var ans intakeAnswer
			if code, err := call(ctx, "POST", n.base+"/api/v1/intake/access-records", key, "application/json",
				recordBatch(t, i, 2), &ans); err != nil || ans.Accepted != 2 {
				t.Errorf("node %s: %d %+v %v", n.name, code, ans, err)
			}
		}
	})

	t.Run("same Idempotency-Key on the other node returns the first answer and publishes nothing", func(t *testing.T) {
		body := recordBatch(t, 10, 3)
		first := postIdem(t, a, key, "batch-0001", body)
		if first.Accepted != 3 {
			t.Fatalf("first send on a: %+v", first)
		}
		// Every message raw.access holds: the count of a group that never
		// committed.
		before, err := kb.Lag(ctx, "nobody", bus.TopicAccess)
		if err != nil {
			t.Fatal(err)
		}
		again := postIdem(t, b, key, "batch-0001", body)
		if again.BatchID != first.BatchID || again.Accepted != first.Accepted {
			t.Errorf("retry on b answered %+v, want a's %+v", again, first)
		}
		after, err := kb.Lag(ctx, "nobody", bus.TopicAccess)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("the retry on b published %d messages, want none", after-before)
		}
		var rc json.RawMessage
		if _, err := call(ctx, "GET", b.base+"/api/v1/intake/receipts/"+first.BatchID, key, "", nil, &rc); err != nil {
			t.Errorf("a's receipt on b: %v", err)
		}
	})

	t.Run("session opened on one node works on the other", func(t *testing.T) {
		sid := login(t, a, "chief", password)
		req, _ := http.NewRequest("GET", b.base+"/api/v1/intake/deliveries", nil)
		req.AddCookie(&http.Cookie{Name: access.SessionCookie, Value: sid})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a's session cookie on b: %s, want 200", resp.Status)
		}
	})

	t.Run("key revoked through the cluster is refused by both nodes", func(t *testing.T) {
		admin(t, op, "venue", "revoke-key", "--kafka", brokerAddr, "--code", "SH-01")
		for _, n := range []*node{a, b} {
			// Polled with a generous deadline: the promise is that the
			// refusal comes (within the token cache's 3 s plus the
			// replication lag), not how fast this machine is.
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, _ := call(ctx, "POST", n.base+"/api/v1/intake/access-records", key, "application/json", recordBatch(t, 20, 1), nil)
				if code == http.StatusUnauthorized {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %s still answers %d to a revoked key after 30s", n.name, code)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})

	// Nothing stored twice: the process node's store holds each record of
	// the idempotent batch once. (The records sent while polling for the
	// revocation, place S20-…, may have been taken more than once.)
	waitDrained(t, kb, "records", bus.TopicAccess, 90*time.Second)
	for _, n := range []*node{a, b, p} {
		n.stop(t)
	}
	d := readStore(t, p.data)
	seen := map[string]int{}
	for _, r := range d.Records {
		if r.Venue == "SH-01" && !strings.HasPrefix(r.Place, "S20-") {
			seen[r.key()]++
		}
	}
	if len(seen) != 2+2+3 {
		t.Errorf("store holds %d distinct SH-01 records, want 7", len(seen))
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("record %s stored %d times", k, c)
		}
	}
}

// recordBatch is a JSON batch of n records; seq keeps places apart.
func recordBatch(t *testing.T, seq, n int) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	var rows []map[string]string
	for i := range n {
		rows = append(rows, map[string]string{
			"kind": "cafe", "place": fmt.Sprintf("S%02d-%02d", seq, i), "id_type": identity.TypeResident,
			"id_number": identity.Synthetic("420199", 700000+seq*100+i), "name": "测试",
			"started_at": now.Add(-time.Duration(i+1) * time.Minute).Format(time.RFC3339),
		})
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func postIdem(t *testing.T, n *node, key, idem string, body []byte) intakeAnswer {
	t.Helper()
	req, _ := http.NewRequest("POST", n.base+"/api/v1/intake/access-records", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans intakeAnswer
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("node %s: %s", n.name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	return ans
}

// login signs in through the web form and returns the session id.
func login(t *testing.T, n *node, name, password string) string {
	t.Helper()
	form := url.Values{"name": {name}, "password": {password}, "csrf": {"login-csrf"}}
	req, _ := http.NewRequest("POST", n.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "np_login_csrf", Value: "login-csrf"})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == access.SessionCookie && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("login on %s: %s, no session cookie", n.name, resp.Status)
	return ""
}
