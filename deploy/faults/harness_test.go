package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the netpulse binary, built once for the package by the
// first test that needs it.
var (
	binDir   string
	buildMu  sync.Mutex
	bin      string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netpulse-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds netpulse (once) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin == "" && buildErr == nil {
		path := filepath.Join(binDir, "netpulse")
		build := exec.Command("go", "build", "-o", path, "./cmd/netpulse")
		build.Dir = moduleRoot()
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build netpulse: %v\n%s", err, out)
		} else {
			bin = path
		}
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

func moduleRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

func long() bool { return os.Getenv("NETPULSE_LONG") == "1" }

// runBin runs a netpulse command to completion and returns its last output
// line (the token or key of admin commands).
func runBin(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netpulse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func addVenue(t *testing.T, data, code string) string {
	return runBin(t, "admin", "venue", "add", "--data", data, "--code", code, "--kind", "cafe",
		"--name", "测试网吧 "+code, "--district", "测试区", "--unit", "测试大队")
}

func addUser(t *testing.T, data, name, role string, extra ...string) string {
	return runBin(t, append([]string{"admin", "user", "add", "--data", data, "--name", name, "--role", role,
		"--unit", "测试大队"}, extra...)...)
}

// server is one netpulse serve process.
type server struct {
	t       *testing.T
	data    string
	args    []string
	addr    string
	base    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	scheme  string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts serve on data with extra flags and waits for /healthz.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, data: data, args: extra, addr: freeAddr(t), logPath: filepath.Join(t.TempDir(), "serve.log"), scheme: "http"}
	for i, a := range extra {
		if a == "--tls-cert" && i+1 < len(extra) {
			s.scheme = "https"
		}
	}
	s.start()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	args := append([]string{"serve", "--data", s.data, "--listen", s.addr}, s.args...)
	s.cmd = exec.Command(binary(s.t), args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, f *os.File) { c.Wait(); f.Close(); close(s.exited) }(s.cmd, logf)
	s.base = s.scheme + "://" + s.addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := insecureClient.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("serve exited before it was healthy:\n%s", tail(s.logText(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve not healthy within 90s:\n%s", tail(s.logText(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// kill9 kills serve without any chance to flush or close.
func (s *server) kill9() {
	s.t.Helper()
	if s.cmd == nil || !s.alive() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop ends serve with SIGTERM, as an operator would.
func (s *server) stop() {
	if s.cmd == nil || !s.alive() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.t.Errorf("serve did not stop within 60s of SIGTERM; killing")
		s.kill9()
	}
}

func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

func (s *server) logText() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// rssKB reads a figure (VmRSS, VmHWM) of the running process in kB.
func (s *server) rssKB(field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

var insecureClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 64}}

// reply is one HTTP answer, read fully.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, tail(string(r.body), 300)) }

// call sends one request; token may be empty, hdr holds extra headers as
// name, value pairs.
func (s *server) call(ctx context.Context, method, path, token string, body []byte, hdr ...string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := insecureClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, header: resp.Header, body: b}, err
}

func (s *server) mustCall(t *testing.T, method, path, token string, body []byte, hdr ...string) reply {
	t.Helper()
	r, err := s.call(context.Background(), method, path, token, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// acked collects what the server acknowledged, safely from many goroutines.
type acked struct {
	mu   sync.Mutex
	keys map[string]int // record key (venue/place) → times acknowledged
}

func newAcked() *acked { return &acked{keys: map[string]int{}} }

func (a *acked) add(keys ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range keys {
		a.keys[k]++
	}
}

func (a *acked) len() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.keys) }

func decode(t *testing.T, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// metric returns the value of one series (name with labels as /metrics
// prints it), or "absent".
func (s *server) metric(t *testing.T, series string) string {
	t.Helper()
	r, err := s.call(context.Background(), "GET", "/metrics", "", nil)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "absent"
}
