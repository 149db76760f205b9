package multinode

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
	"github.com/netpulse/netpulse/pipeline/ownership"
	"github.com/netpulse/netpulse/privacy/identity"
)

const partitions = 6

// cluster is the three-node set-up: n1 takes intake and api and processes,
// n2 and n3 only process. Every node has its own chDB.
type cluster struct {
	dir     string
	nodes   []*node
	venues  map[string]string // code → API key (registered on n1, the intake node)
	admin   string            // n1 admin token
	analyst string            // n1 analyst token
}

func kafkaFlags(extra ...string) []string {
	return append([]string{"--kafka", brokerAddr, "--kafka-partitions", fmt.Sprint(partitions),
		"--cluster-token", clusterToken}, extra...)
}

func startCluster(t testing.TB, venues int) *cluster {
	t.Helper()
	c := &cluster{dir: t.TempDir(), venues: map[string]string{}}
	n1 := filepath.Join(c.dir, "n1")
	for i := range venues {
		code := fmt.Sprintf("MN-%02d", i+1)
		c.venues[code] = admin(t, n1, "venue", "add", "--code", code, "--kind", "cafe", "--name", "网吧"+code,
			"--district", "江岸区", "--unit", "网安大队")
	}
	c.admin = admin(t, n1, "user", "add", "--name", "admin", "--role", "admin")
	c.analyst = admin(t, n1, "user", "add", "--name", "analyst", "--role", "analyst")
	c.nodes = append(c.nodes, startNode(t, "n1", n1, kafkaFlags("--roles", "intake,api,process")...))
	for _, name := range []string{"n2", "n3"} {
		c.nodes = append(c.nodes, startNode(t, name, filepath.Join(c.dir, name), kafkaFlags("--roles", "process")...))
	}
	return c
}

// assignment is member id → partitions of a consumer group.
type assignment map[string][]int

func groupAssignment(ctx context.Context, group, topic string) (assignment, error) {
	ms, err := ownership.Members(ctx, []string{brokerAddr}, group)
	if err != nil {
		return nil, err
	}
	out := assignment{}
	for _, m := range ms {
		out[m.ID] = m.Owned[topic]
	}
	return out, nil
}

// waitAssignment waits until group has members members that together own
// every partition of topic once.
func waitAssignment(t testing.TB, group, topic string, members, parts int) assignment {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var last assignment
	stableSince := time.Time{}
	for time.Now().Before(deadline) {
		a, err := groupAssignment(ctx, group, topic)
		ok := err == nil && len(a) == members
		if ok {
			var all []int
			for _, ps := range a {
				// A member without partitions while there are more
				// partitions than members is mid-rebalance.
				ok = ok && (len(ps) > 0 || parts < members)
				all = append(all, ps...)
			}
			slices.Sort(all)
			want := make([]int, parts)
			for i := range want {
				want[i] = i
			}
			ok = ok && slices.Equal(all, want)
		}
		// Settled: the same complete assignment for two seconds.
		if ok && fmt.Sprint(a) == fmt.Sprint(last) {
			if stableSince.IsZero() {
				stableSince = time.Now()
			}
			if time.Since(stableSince) >= 2*time.Second {
				return a
			}
		} else {
			stableSince = time.Time{}
		}
		last = a
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("group %s on %s: want %d members owning all %d partitions, last saw %v", group, topic, members, parts, last)
	return nil
}

// moved lists the partitions whose owner differs between two assignments.
func moved(before, after assignment) []int {
	owner := func(a assignment) map[int]string {
		m := map[int]string{}
		for id, ps := range a {
			for _, p := range ps {
				m[p] = id
			}
		}
		return m
	}
	b, a := owner(before), owner(after)
	var out []int
	for p := range partitions {
		if b[p] != a[p] {
			out = append(out, p)
		}
	}
	return out
}

// sent remembers every acknowledged record (venue|place|start) and post id.
type sent struct {
	mu      sync.Mutex
	records map[string]bool
	posts   map[string]bool
}

// sendRecords submits n records for each venue to the intake node and
// remembers the acknowledged ones. seq keeps places unique across calls.
func (c *cluster) sendRecords(s *sent, perVenue, seq int) error {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	codes := make([]string, 0, len(c.venues))
	for code := range c.venues {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for vi, code := range codes {
		type in struct {
			Kind      string `json:"kind"`
			Place     string `json:"place"`
			IDType    string `json:"id_type"`
			IDNumber  string `json:"id_number"`
			Name      string `json:"name"`
			StartedAt string `json:"started_at"`
			EndedAt   string `json:"ended_at"`
			IP        string `json:"ip"`
			MAC       string `json:"mac"`
		}
		rows := make([]in, perVenue)
		keys := make([]string, perVenue)
		for i := range rows {
			start := now.Add(-time.Duration(i+1) * time.Second)
			place := fmt.Sprintf("T%d-%04d", seq, i)
			rows[i] = in{Kind: "cafe", Place: place, IDType: identity.TypeResident,
				IDNumber: identity.Synthetic("420199", seq*100000+vi*1000+i), Name: "测试",
				StartedAt: start.Format(time.RFC3339), IP: "10.0.0.2", MAC: "52:54:00:00:00:01"}
			keys[i] = code + "|" + place + "|" + start.Format(time.RFC3339)
		}
		body, _ := json.Marshal(rows)
		var ans intakeAnswer
		if _, err := call(ctx, "POST", c.nodes[0].base+"/api/v1/intake/access-records", c.venues[code],
			"application/json", body, &ans); err != nil {
			return err
		}
		if ans.Accepted != perVenue {
			return fmt.Errorf("venue %s: %d of %d accepted: %s", code, ans.Accepted, perVenue, ans.Rejected)
		}
		s.mu.Lock()
		for _, k := range keys {
			s.records[k] = true
		}
		s.mu.Unlock()
	}
	return nil
}

type post struct {
	ID          string `json:"id"`
	Source      string `json:"source"`
	URL         string `json:"url"`
	Title       string `json:"title"`
	Body        string `json:"body"`
	Author      string `json:"author"`
	PublishedAt string `json:"published_at"`
}

func loadPosts(t testing.TB) []post {
	t.Helper()
	f, err := os.Open("testdata/posts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []post
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p post
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// sendPosts pushes posts in batches of 40 through base's post intake.
func sendPosts(t testing.TB, base, token string, ps []post, s *sent) {
	t.Helper()
	for i := 0; i < len(ps); i += 40 {
		var b strings.Builder
		for _, p := range ps[i:min(i+40, len(ps))] {
			j, _ := json.Marshal(p)
			b.Write(j)
			b.WriteByte('\n')
		}
		var ans intakeAnswer
		if _, err := call(context.Background(), "POST", base+"/api/v1/intake/posts", token, "application/x-ndjson",
			[]byte(b.String()), &ans); err != nil {
			t.Fatal(err)
		}
		if n := min(i+40, len(ps)) - i; ans.Accepted != n {
			t.Fatalf("posts: %d of %d accepted: %s", ans.Accepted, n, ans.Rejected)
		}
		if s != nil {
			s.mu.Lock()
			for _, p := range ps[i:min(i+40, len(ps))] {
				s.posts[p.ID] = true
			}
			s.mu.Unlock()
		}
	}
}

// waitDrained waits until group has committed everything on topic.
func waitDrained(t testing.TB, b *kafkabus.Bus, group, topic string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var lag int64
	var err error
	for time.Now().Before(deadline) {
		lag, err = b.Lag(context.Background(), group, topic)
		if err == nil && lag == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("group %s on %s not drained in %v: lag %d, %v", group, topic, limit, lag, err)
}

type searchAnswer struct {
	Total uint64 `json:"total"`
	Hits  []struct {
		ID        string   `json:"id"`
		Title     string   `json:"title"`
		Score     float64  `json:"score"`
		Fragments []string `json:"fragments"`
	} `json:"hits"`
	Facets *struct {
		Source []struct {
			Term  string `json:"term"`
			Count int    `json:"count"`
		} `json:"source"`
		Day []struct {
			Term  string `json:"term"`
			Count int    `json:"count"`
		} `json:"day"`
	} `json:"facets"`
}

func searchPosts(t *testing.T, base, token string, params url.Values) searchAnswer {
	t.Helper()
	var a searchAnswer
	if _, err := call(context.Background(), "GET", base+"/api/v1/search/posts?"+params.Encode(), token, "", nil, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestThreeNodes streams records and posts into three nodes, checks that
// a search over the cluster answers what one node holding every post
// answers, kills one pipeline node with SIGKILL while records stream, and
// checks that its partitions move and that the union of the nodes' stores
// holds every acknowledged record and post, without duplicates inside a
// store. Duplicates across stores are allowed only on partitions that
// changed owner: a shared ClickHouse (ReplacingMergeTree on the record id)
// collapses those; here every node has its own chDB.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four netpulse processes")
	}
	useBroker(t)
	c := startCluster(t, 12)
	before := waitAssignment(t, "records", bus.TopicAccess, 3, partitions)
	beforePosts := waitAssignment(t, "posts", bus.TopicPosts, 3, partitions)
	waitAssignment(t, "netpulse.search", ownership.TopicSearch, 3, 1)
	waitLeaders(t, c.nodes)

	kb, err := kafkabus.Open(kafkabus.Options{Brokers: []string{brokerAddr}, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()

	s := &sent{records: map[string]bool{}, posts: map[string]bool{}}
	all := loadPosts(t)
	first, rest := all[:300], all[300:]

	// Phase 1: stream, drain, compare search with one node.
	if err := c.sendRecords(s, 40, 1); err != nil {
		t.Fatal(err)
	}
	sendPosts(t, c.nodes[0].base, c.admin, first, s)
	waitDrained(t, kb, "records", bus.TopicAccess, 60*time.Second)
	waitDrained(t, kb, "posts", bus.TopicPosts, 90*time.Second)

	// The reference: one node (journal, all roles) fed the same posts.
	ref := filepath.Join(c.dir, "ref")
	refAdmin := admin(t, ref, "user", "add", "--name", "admin", "--role", "admin")
	refAnalyst := admin(t, ref, "user", "add", "--name", "analyst", "--role", "analyst")
	single := startNode(t, "ref", ref, "--roles", "intake,process,api")
	defer single.stop(t)
	sendPosts(t, single.base, refAdmin, first, nil)
	waitIndexed(t, single.base, refAnalyst, len(first))
	t.Run("search equals one node", func(t *testing.T) { compareSearch(t, c, single.base, refAnalyst) })

	// Phase 2: stream while n3 dies.
	var wg sync.WaitGroup
	var streamErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 2; round < 6 && streamErr == nil; round++ {
			streamErr = c.sendRecords(s, 25, round)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	c.nodes[2].kill()
	sendPosts(t, c.nodes[0].base, c.admin, rest, s)
	wg.Wait()
	if streamErr != nil {
		t.Fatal(streamErr)
	}
	after := waitAssignment(t, "records", bus.TopicAccess, 2, partitions)
	afterPosts := waitAssignment(t, "posts", bus.TopicPosts, 2, partitions)
	waitLeaders(t, c.nodes[:2])
	movedRecords, movedPosts := moved(before, after), moved(beforePosts, afterPosts)
	gone := 0
	for id := range before {
		if _, ok := after[id]; !ok {
			gone++
			for _, p := range before[id] {
				if !slices.Contains(movedRecords, p) {
					t.Errorf("partition %d of the killed member did not move", p)
				}
			}
		}
	}
	if gone != 1 {
		t.Fatalf("%d members left the records group, want the killed one: before %v after %v", gone, before, after)
	}
	t.Logf("records partitions %v -> %v (moved %v); posts %v -> %v (moved %v)", before, after, movedRecords,
		beforePosts, afterPosts, movedPosts)
	waitDrained(t, kb, "records", bus.TopicAccess, 90*time.Second)
	waitDrained(t, kb, "posts", bus.TopicPosts, 90*time.Second)

	// Shards live with the node that indexed them: restarted on its data
	// folder, n3 rejoins the search group and the cluster again answers
	// like one node holding every post.
	sendPosts(t, single.base, refAdmin, rest, nil)
	waitIndexed(t, single.base, refAnalyst, len(all))
	c.nodes[2] = startNode(t, "n3-again", c.nodes[2].data, kafkaFlags("--roles", "process")...)
	waitAssignment(t, "netpulse.search", ownership.TopicSearch, 3, 1)
	waitAssignment(t, "posts", bus.TopicPosts, 3, partitions)
	waitDrained(t, kb, "posts", bus.TopicPosts, 90*time.Second)
	t.Run("search equals one node after a restart", func(t *testing.T) { compareSearch(t, c, single.base, refAnalyst) })

	for _, n := range c.nodes {
		n.stop(t)
	}
	checkStores(t, c, s, movedRecords, movedPosts)
}

// waitIndexed waits until a node's search finds n posts.
func waitIndexed(t *testing.T, base, token string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for searchPosts(t, base, token, url.Values{"collapse": {"0"}}).Total < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not index %d posts in 90s", base, n)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// compareSearch runs the same searches on the cluster (through n1, the api
// node) and on the single reference node.
func compareSearch(t *testing.T, c *cluster, refBase, refToken string) {
	cases := []url.Values{
		{"q": {"诈骗"}},
		{"q": {"网贷 上海"}},
		{"q": {"诈骗"}, "page": {"2"}, "size": {"10"}},
		{"q": {"警方 -盗窃"}},
		{"q": {`"手续费"`}},
		{"q": {"警方"}, "from": {"2026-11-20T06:00:00Z"}, "to": {"2026-11-24"}},
		{"q": {"警方"}, "sort": {"time"}, "page": {"3"}, "size": {"10"}},
		{"sort": {"time"}, "size": {"50"}},
	}
	for _, p := range cases {
		p.Set("collapse", "0")
		t.Run(p.Encode(), func(t *testing.T) {
			got := searchPosts(t, c.nodes[0].base, c.analyst, p)
			want := searchPosts(t, refBase, refToken, p)
			if len(want.Hits) == 0 {
				t.Fatal("the single node found nothing; the case tests nothing")
			}
			sameAnswer(t, got, want, p.Get("sort") == "time")
		})
	}
}

// checkStores reads the three stores and checks the union.
func checkStores(t *testing.T, c *cluster, s *sent, movedRecords, movedPosts []int) {
	t.Helper()
	recordOn := map[string][]string{} // key → nodes
	postOn := map[string][]string{}
	for _, n := range c.nodes {
		d := readStore(t, n.data)
		seenR, seenP := map[string]bool{}, map[string]bool{}
		for _, r := range d.Records {
			k := r.key()
			if seenR[k] {
				t.Errorf("node %s holds record %s twice", n.name, k)
			}
			seenR[k] = true
			recordOn[k] = append(recordOn[k], n.name)
		}
		for _, id := range d.Posts {
			if seenP[id] {
				t.Errorf("node %s holds post %s twice", n.name, id)
			}
			seenP[id] = true
			postOn[id] = append(postOn[id], n.name)
		}
		t.Logf("node %s: %d records, %d posts", n.name, len(d.Records), len(d.Posts))
	}
	missing := 0
	for k := range s.records {
		if len(recordOn[k]) == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records are in no store", missing, len(s.records))
	}
	missing = 0
	for id := range s.posts {
		if len(postOn[id]) == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged posts are in no store", missing, len(s.posts))
	}
	crossR, crossP := 0, 0
	for k, on := range recordOn {
		if len(on) > 1 {
			crossR++
			venue := k[:strings.IndexByte(k, '|')]
			if p := bus.PartitionFor([]byte(venue), partitions); !slices.Contains(movedRecords, p) {
				t.Errorf("record %s on %v, but its partition %d never moved", k, on, p)
			}
		}
	}
	for id, on := range postOn {
		if len(on) > 1 {
			crossP++
			if p := bus.PartitionFor([]byte(id), partitions); !slices.Contains(movedPosts, p) {
				t.Errorf("post %s on %v, but its partition %d never moved", id, on, p)
			}
		}
	}
	t.Logf("acknowledged: %d records, %d posts; on two stores (moved partitions, collapsed by a shared ReplacingMergeTree): %d records, %d posts",
		len(s.records), len(s.posts), crossR, crossP)
}

func sameAnswer(t *testing.T, got, want searchAnswer, byTime bool) {
	t.Helper()
	if got.Total != want.Total {
		t.Errorf("total %d, one node %d", got.Total, want.Total)
	}
	gf, _ := json.Marshal(got.Facets)
	wf, _ := json.Marshal(want.Facets)
	if string(gf) != string(wf) {
		t.Errorf("facets\n cluster  %s\n one node %s", gf, wf)
	}
	if len(got.Hits) != len(want.Hits) {
		t.Fatalf("%d hits, one node %d", len(got.Hits), len(want.Hits))
	}
	for i := range want.Hits {
		g, w := got.Hits[i], want.Hits[i]
		if math.Abs(g.Score-w.Score) > 1e-9*math.Max(1, math.Abs(w.Score)) {
			t.Fatalf("hit %d: score %v (%s), one node %v (%s)", i, g.Score, g.ID, w.Score, w.ID)
		}
		if byTime && g.ID != w.ID {
			t.Errorf("hit %d: %s, one node %s", i, g.ID, w.ID)
		}
	}
	if !byTime {
		// Equal scores may come in any order; compare each run as a set.
		key := func(a searchAnswer) []string {
			var out []string
			for _, h := range a.Hits {
				out = append(out, fmt.Sprintf("%.9f %s %s %q", h.Score, h.ID, h.Title, h.Fragments))
			}
			sort.Strings(out)
			return out
		}
		if !slices.Equal(key(got), key(want)) {
			t.Errorf("hits differ:\n cluster  %v\n one node %v", key(got), key(want))
		}
	}
}

// waitLeaders waits until exactly one of nodes holds the leader lease (runs
// the detector and the rules), as its netpulse_cluster_leader gauge says,
// and checks that it stays alone for a few seconds.
func waitLeaders(t *testing.T, nodes []*node) {
	t.Helper()
	count := func() (int, []string) {
		n, who := 0, []string(nil)
		for _, nd := range nodes {
			resp, err := http.Get(nd.base + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "\nnetpulse_cluster_leader 1\n") {
				n++
				who = append(who, nd.name)
			}
		}
		return n, who
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		n, who := count()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d leaders %v, want one", n, who)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for range 6 {
		time.Sleep(500 * time.Millisecond)
		if n, who := count(); n != 1 {
			t.Fatalf("%d leaders %v, want one", n, who)
		}
	}
}
