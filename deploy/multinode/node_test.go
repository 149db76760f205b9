package multinode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const clusterToken = "multinode-test-token"

// node is one `netpulse serve` process.
type node struct {
	name string
	data string
	base string
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

// admin runs `netpulse admin ...` on data and returns the last line
// printed (the new token or key).
func admin(t testing.TB, data string, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, append(append([]string{"admin"}, args...), "--data", data)...).CombinedOutput()
	if err != nil {
		t.Fatalf("netpulse admin %v: %v\n%s", args, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNode starts serve on data with extra flags and waits for /healthz.
func startNode(t testing.TB, name, data string, flags ...string) *node {
	t.Helper()
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(filepath.Dir(data), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--data", data, "--listen", addr, "--log-level", "warn",
		"--batch-delay", "100ms"}, flags...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, data: data, base: "http://" + addr, cmd: cmd, log: logf, done: make(chan error, 1)}
	go func() { n.done <- cmd.Wait() }()
	t.Cleanup(func() { n.kill(); logf.Close() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(n.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case err := <-n.done:
			n.done <- err
			t.Fatalf("node %s exited during start: %v\n%s", name, err, n.tail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not healthy after 90s\n%s", name, n.tail())
		}
	}
}

func (n *node) tail() string {
	b, _ := os.ReadFile(n.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kill9 ends the process the way a crash does: no group leave, no flush.
func (n *node) kill() {
	if n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case err := <-n.done:
			n.done <- err
		case <-time.After(10 * time.Second):
		}
	}
}

// stop asks serve to shut down cleanly and waits.
func (n *node) stop(t testing.TB) {
	t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		n.done <- err
	case <-time.After(60 * time.Second):
		t.Fatalf("node %s did not stop in 60s\n%s", n.name, n.tail())
	}
}

// call sends a request with a bearer token and decodes a JSON answer.
func call(ctx context.Context, method, url, token, ctype string, body []byte, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b))
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// intakeAnswer is the answer of both intake endpoints.
type intakeAnswer struct {
	BatchID  string            `json:"batch_id"`
	Accepted int               `json:"accepted"`
	Rejected []json.RawMessage `json:"rejected"`
}
