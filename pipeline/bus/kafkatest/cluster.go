package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Cluster is a multi-node KRaft cluster on loopback: every node is a
// combined broker and controller in its own JVM (-Xmx512m), all nodes vote
// in the controller quorum. Unlike the single broker of kafka.sh, it is left
// at Kafka's defaults for everything a topic inherits (min.insync.replicas=1,
// compression.type=producer, max.message.bytes=1 MiB), so that tests see
// what netpulse itself sets. Only thread counts (the machine is small),
// group.initial.rebalance.delay.ms (test time) and auto-create (off, as in
// production) differ.
type Cluster struct {
	Nodes []*Node
}

// Node is one broker+controller JVM of a Cluster.
type Node struct {
	ID       int
	dir      string
	port     int // broker listener
	ctrlPort int // controller listener
	java     string
	libs     string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is the node's broker address host:port.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// Brokers lists every node's broker address.
func (c *Cluster) Brokers() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// NodeByID returns the node with Kafka node id id, or nil.
func (c *Cluster) NodeByID(id int) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// NewCluster prepares n nodes under dir on free loopback ports and formats
// their storage; Start launches them.
func NewCluster(dir string, n int) (*Cluster, error) {
	libs, err := libsDir()
	if err != nil {
		return nil, err
	}
	java, err := javaPath()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var voters []string
	for i := range n {
		node := &Node{ID: i + 1, dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
			port: ports[2*i], ctrlPort: ports[2*i+1], java: java, libs: libs}
		c.Nodes = append(c.Nodes, node)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", node.ID, node.ctrlPort))
	}
	idBytes := make([]byte, 16)
	rand.Read(idBytes)
	clusterID := base64.RawURLEncoding.EncodeToString(idBytes)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, node := range c.Nodes {
		if err := os.MkdirAll(node.dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(node.props(), []byte(node.properties(strings.Join(voters, ","))), 0o644); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", filepath.Join(libs, "*"),
				"kafka.tools.StorageTool", "format", "--cluster-id="+clusterID, "--config", node.props()).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("format node %d: %w\n%s", node.ID, err, out)
			}
		}()
	}
	wg.Wait()
	return c, errors.Join(errs...)
}

func (n *Node) props() string { return filepath.Join(n.dir, "server.properties") }

func (n *Node) properties(voters string) string {
	return fmt.Sprintf(`# Written by kafkatest.NewCluster.
process.roles=broker,controller
node.id=%d
controller.quorum.voters=%s
listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d
advertised.listeners=PLAINTEXT://127.0.0.1:%d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%s
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
`, n.ID, voters, n.port, n.ctrlPort, n.port, filepath.Join(n.dir, "data"))
}

// Start launches every node that is not running and waits until the
// cluster answers metadata naming all of them.
func (c *Cluster) Start(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := n.launch(); err != nil {
			return err
		}
	}
	return c.WaitBrokers(ctx, len(c.Nodes))
}

// WaitBrokers waits until metadata lists want live brokers.
func (c *Cluster) WaitBrokers(ctx context.Context, want int) error {
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers()...), Timeout: 2 * time.Second}
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		if err == nil && len(md.Brokers) >= want {
			return nil
		}
		for _, n := range c.Nodes {
			if n.exited() && n.started() {
				return fmt.Errorf("kafka node %d exited:\n%s", n.ID, n.tail())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d brokers: %w (last: %v)", want, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop ends every node (SIGTERM, controlled shutdown).
func (c *Cluster) Stop() error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Start launches the node again (keeping its data) and returns once its
// broker port accepts connections; use Cluster.WaitBrokers to wait for it
// to register.
func (n *Node) Start() error { return n.launch() }

func (n *Node) launch() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.done:
		default:
			return nil // running
		}
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "kafka.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.java, "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=256m",
		"-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true", "-cp", filepath.Join(n.libs, "*"), "kafka.Kafka", n.props())
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a test's Ctrl-C does not reach it
	// before the cleanup stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start kafka node %d: %w", n.ID, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	n.cmd, n.done = cmd, done
	return nil
}

func (n *Node) started() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.cmd != nil }

func (n *Node) exited() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Running reports whether the node's JVM is up.
func (n *Node) Running() bool { return !n.exited() }

// Stop shuts the node down with SIGTERM (a controlled shutdown that moves
// its leaderships away first) and waits for it, killing it after 30 s.
func (n *Node) Stop() error { return n.signal(syscall.SIGTERM, 30*time.Second) }

// Kill ends the node with SIGKILL: no controlled shutdown, no flush.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, 10*time.Second) }

func (n *Node) signal(sig syscall.Signal, wait time.Duration) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
		return nil
	case <-time.After(wait):
	}
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("kafka node %d ignored %v for %v; killed", n.ID, sig, wait)
}

func (n *Node) tail() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "kafka.out"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// ClusterForTest starts an n-node cluster in the test's temporary folder
// and stops it at the test's cleanup.
func ClusterForTest(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c, err := NewCluster(tb.TempDir(), n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

func libsDir() (string, error) {
	cache := os.Getenv("NETPULSE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "netpulse")
	}
	libs := filepath.Join(cache, "kafka-4.1.1", "libs")
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		return "", fmt.Errorf("kafka 4.1.1 jars not found in %s; install them with deploy/dev/install-deps.sh kafka", libs)
	}
	return libs, nil
}

func javaPath() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		if p := filepath.Join(h, "bin", "java"); fileExists(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", errors.New("java not found (need Java 17+ on PATH or under JAVA_HOME)")
	}
	return p, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// freePorts finds n distinct free loopback ports below the ephemeral range,
// so that no outgoing connection takes one while its node is stopped.
func freePorts(n int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for tries := 0; len(out) < n && tries < 1000; tries++ {
		p := 20000 + int(randUint32()%10000)
		if seen[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		seen[p] = true
		out = append(out, p)
	}
	if len(out) < n {
		return nil, fmt.Errorf("found %d of %d free ports", len(out), n)
	}
	return out, nil
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
