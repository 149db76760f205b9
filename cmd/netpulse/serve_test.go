package main

import (
	"bufio"
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildBinary compiles netpulse for tests that need real processes: serve
// owns the process-wide chDB engine, which cannot be reopened in one process,
// so a restart is a new process, as in production.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "netpulse")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build netpulse: %v", err)
	}
	return bin
}

// startServe runs `netpulse serve` until the returned stop is called, which
// sends SIGTERM and checks for a clean exit.
func startServe(t *testing.T, bin string, args ...string) (base string, stop func()) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	cancel := func() { cmd.Process.Signal(syscall.SIGTERM) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	printed := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		printed <- line
		io.Copy(io.Discard, stdout)
	}()
	go func() { done <- cmd.Wait() }()
	base = "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("serve exited before it was healthy: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("serve did not become healthy within 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case line := <-printed:
		if !strings.Contains(line, "dashboard at "+base) {
			t.Errorf("serve printed %q, want the dashboard URL %s", line, base)
		}
	case <-time.After(5 * time.Second):
		t.Error("serve printed no dashboard URL")
	}
	return base, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b, _ := os.ReadFile(logs.Name())
				t.Errorf("serve exited with %v after SIGTERM\n%s", err, b)
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Error("serve did not stop within 60s of SIGTERM")
		}
	}
}

func TestServeHealthAndMetrics(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	// Twice on the same folder: a restart must find its state and come up.
	for round := 1; round <= 2; round++ {
		base, stop := startServe(t, bin, "--data", data)
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"netpulse_http_requests_total", "netpulse_store_op_seconds", "netpulse_bus_lag_messages", "go_goroutines"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("round %d: /metrics lacks %s", round, want)
			}
		}
		for _, probe := range []string{"/-/healthy", "/-/ready", "/healthz"} {
			resp, err := http.Get(base + probe)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("round %d: %s answered %d on a ready node", round, probe, resp.StatusCode)
			}
		}
		if round == 1 {
			// A second serve on the same folder must refuse to start,
			// saying why, and leave the first one serving.
			out, err := exec.Command(bin, "serve", "--listen", freeAddr(t), "--data", data).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "in use by another process") {
				t.Errorf("second serve on one data folder: err %v, output:\n%s", err, out)
			}
			if resp, err := http.Get(base + "/-/ready"); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("first serve no longer ready after the refused second: %v", err)
			}
		}
		stop()
	}
}

// TestServeRefusesUnreachableKafka: a node that cannot reach any broker
// says so and exits (for its supervisor to restart it) instead of hanging
// in its wiring with no message.
func TestServeRefusesUnreachableKafka(t *testing.T) {
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	cmd := exec.Command(bin, "serve", "--data", t.TempDir(), "--listen", freeAddr(t), "--kafka", dead, "--cluster-token", "t")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute): // a hang guard, not a speed check
		cmd.Process.Kill()
		t.Fatal("serve kept waiting for an unreachable broker")
	}
	if err == nil {
		t.Fatal("serve exited 0 without a broker")
	}
	if !strings.Contains(string(out), "unreachable at start") {
		t.Errorf("serve's output does not say the brokers are unreachable:\n%s", out)
	}
}
