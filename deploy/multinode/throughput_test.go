package multinode

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
)

// BenchmarkPipelineNodes measures what one, two and three process nodes
// drain per second on this machine. For each size it queues a backlog
// through an intake-only node while no process node runs, starts the
// process nodes, waits until the consumer group has them all, and times
// the group's lag from there down to zero: first records, then posts.
// Every node has its own chDB; on a shared machine the nodes compete for
// the same cores (docs/sizing.md reads the numbers).
//
//	go test ./deploy/multinode -run '^$' -bench PipelineNodes -benchtime 1x
func BenchmarkPipelineNodes(b *testing.B) {
	useBroker(b)
	dir := b.TempDir()
	in := filepath.Join(dir, "intake")
	keys := map[string]string{}
	for i := range 24 {
		code := fmt.Sprintf("BN-%02d", i+1)
		keys[code] = admin(b, in, "venue", "add", "--code", code, "--kind", "cafe", "--name", "网吧"+code,
			"--district", "江岸区", "--unit", "网安大队")
	}
	token := admin(b, in, "user", "add", "--name", "admin", "--role", "admin")
	intake := startNode(b, "intake", in, kafkaFlags("--roles", "intake")...)
	kb, err := kafkabus.Open(kafkabus.Options{Brokers: []string{brokerAddr}, Partitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	defer kb.Close()
	c := &cluster{nodes: []*node{intake}, venues: keys, admin: token}
	posts := loadPosts(b)
	const perVenue, postRounds = 6000, 36 // 144,000 records, 12,960 posts per size
	seq := 100
	for _, size := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			for range b.N {
				var nodes []*node
				for i := range size {
					name := fmt.Sprintf("p%d-%d", size, i)
					nodes = append(nodes, startNode(b, name, filepath.Join(dir, name), kafkaFlags("--roles", "process")...))
				}
				// The group forms first; then the nodes are frozen
				// (SIGSTOP) while the backlog queues, so that all of them
				// start on it at once when thawed.
				waitAssignment(b, "records", bus.TopicAccess, size, partitions)
				freeze(nodes, true)
				s := &sent{records: map[string]bool{}, posts: map[string]bool{}}
				for range perVenue / 250 {
					seq++
					if err := c.sendRecords(s, 250, seq); err != nil {
						b.Fatal(err)
					}
				}
				freeze(nodes, false)
				rps := drainRate(b, kb, "records", bus.TopicAccess)

				waitAssignment(b, "posts", bus.TopicPosts, size, partitions)
				freeze(nodes, true)
				for r := range postRounds {
					round := make([]post, len(posts))
					for i, p := range posts {
						p.ID = fmt.Sprintf("%s-s%d-r%d", p.ID, size, r)
						p.URL = "https://example.test/" + p.ID
						round[i] = p
					}
					sendPosts(b, intake.base, token, round, nil)
				}
				freeze(nodes, false)
				pps := drainRate(b, kb, "posts", bus.TopicPosts)
				for _, n := range nodes {
					n.stop(b)
				}
				b.ReportMetric(rps, "records/s")
				b.ReportMetric(pps, "posts/s")
				if size == 1 {
					reportDisk(b, nodes[0].data)
				}
			}
		})
	}
}

// freeze stops (SIGSTOP) or continues (SIGCONT) every node.
func freeze(nodes []*node, stop bool) {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	for _, n := range nodes {
		_ = n.cmd.Process.Signal(sig)
	}
}

// drainRate times group's lag on topic from now down to zero.
func drainRate(b *testing.B, kb *kafkabus.Bus, group, topic string) float64 {
	b.Helper()
	ctx := context.Background()
	lag0, err := kb.Lag(ctx, group, topic)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	waitDrained(b, kb, group, topic, 10*time.Minute)
	el := time.Since(start).Seconds()
	b.Logf("%s: %d messages in %.1fs", group, lag0, el)
	if lag0 == 0 {
		b.Fatalf("%s: nothing to drain; the backlog was consumed before the group formed", group)
	}
	return float64(lag0) / el
}

// reportDisk reports stored bytes per record and per post (ClickHouse
// parts on disk, compressed) and index bytes per post (Bleve shards) of a
// node.
func reportDisk(b *testing.B, data string) {
	d := readStore(b, data)
	for _, p := range d.Parts {
		if p.Rows == 0 {
			continue
		}
		switch p.Table {
		case "access_records":
			b.ReportMetric(float64(p.Bytes)/float64(p.Rows), "B/record")
		case "posts":
			b.ReportMetric(float64(p.Bytes)/float64(p.Rows), "B/post")
			var idx int64
			_ = filepath.WalkDir(filepath.Join(data, "search", "posts"), func(_ string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					if fi, err := e.Info(); err == nil {
						idx += fi.Size()
					}
				}
				return nil
			})
			b.ReportMetric(float64(idx)/float64(p.Rows), "indexB/post")
		}
		b.Logf("table %s: %d rows, %d bytes", p.Table, p.Rows, p.Bytes)
	}
}
