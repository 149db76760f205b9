package faults

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/privacy/identity"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "netpulse test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestSecurity runs one TLS server with short sessions and checks, through
// HTTP only: TLS, security headers on every page, session expiry, login
// lockout, venue key revocation, memory-hard password hashes at rest, and
// that no secret or identity number reaches the log.
func TestSecurity(t *testing.T) {
	data := t.TempDir()
	pop := populate(t, data)
	cert, key := selfSigned(t, t.TempDir())
	const ttl = 4 * time.Second
	s := startServer(t, data, "--tls-cert", cert, "--tls-key", key, "--session-ttl", ttl.String(), "--log-level", "debug")
	secrets := map[string]string{"password": pop.password, "venue key": pop.venue.key}
	for r, tok := range pop.tokens {
		secrets[r+" token"] = tok
	}

	t.Run("tls", func(t *testing.T) {
		if !strings.HasPrefix(s.base, "https://") {
			t.Fatalf("base %s", s.base)
		}
		r := s.mustCall(t, "GET", "/healthz", "", nil)
		if r.code != 200 {
			t.Errorf("healthz over TLS: %s", r)
		}
		plain, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			if plain.StatusCode == 200 {
				t.Errorf("plain HTTP answered 200 on the TLS port")
			}
			plain.Body.Close()
		}
	})

	sessions := map[string]principal{}
	for _, r := range userRoles {
		sid, csrf, code := login(t, s, "u-"+r, pop.password)
		if sid == "" {
			t.Fatalf("login u-%s: %d", r, code)
		}
		sessions[r] = principal{name: "session:" + r, role: r, session: sid, csrf: csrf}
		secrets[r+" session"] = sid
	}

	t.Run("headers on every page", func(t *testing.T) {
		pages := 0
		for _, rt := range routes {
			if !rt.page || rt.method() != "GET" {
				continue
			}
			callers := []principal{{name: "none"}}
			for _, r := range strings.Fields(rt.roles) {
				if pr, ok := sessions[r]; ok {
					callers = append(callers, pr)
				}
			}
			for _, pr := range callers {
				r := pr.call(t, s, "GET", rt.path(), nil)
				pages++
				h := r.header
				csp := h.Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
					strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "script-src 'self'") {
					t.Errorf("%s as %s (%d): CSP %q", rt.pattern, pr.name, r.code, csp)
				}
				for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
					"Strict-Transport-Security": "max-age=", "Referrer-Policy": "same-origin"} {
					if !strings.Contains(h.Get(name), want) {
						t.Errorf("%s as %s (%d): %s = %q, want %q", rt.pattern, pr.name, r.code, name, h.Get(name), want)
					}
				}
				for _, c := range r.header.Values("Set-Cookie") {
					if strings.HasPrefix(c, "np_session=") && (!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "Secure")) {
						t.Errorf("%s: session cookie without HttpOnly and Secure: %s", rt.pattern, c)
					}
				}
			}
		}
		t.Logf("%d page answers checked", pages)
	})

	t.Run("lockout", func(t *testing.T) {
		codes := []int{}
		for i := 0; i < 6; i++ {
			_, _, code := login(t, s, "u-auditor", "wrong-password")
			codes = append(codes, code)
		}
		sid, _, code := login(t, s, "u-auditor", pop.password)
		if sid != "" || code != http.StatusTooManyRequests {
			t.Errorf("right password after 6 wrong ones: status %d, session %v (wrong tries answered %v); want 429 and no session", code, sid != "", codes)
		}
		if codes[len(codes)-1] != http.StatusTooManyRequests {
			t.Errorf("6th wrong password answered %d, want 429 (locked)", codes[len(codes)-1])
		}
		// Another name is not locked by it.
		if sid, _, code := login(t, s, "u-leader", pop.password); sid == "" {
			t.Errorf("lockout of one name refused another: %d", code)
		}
	})

	t.Run("venue key revocation", func(t *testing.T) {
		body := recordBatch(time.Now().Add(-time.Hour), 1, 1)
		r := s.mustCall(t, "POST", "/api/v1/intake/access-records", pop.venue.key, body, "Content-Type", "application/json")
		if r.code != 200 {
			t.Fatalf("intake before revocation: %s", r)
		}
		runBin(t, "admin", "venue", "revoke-key", "--data", data, "--code", pop.venue.code)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r = s.mustCall(t, "POST", "/api/v1/intake/access-records", pop.venue.key, body, "Content-Type", "application/json")
			if r.code == 401 || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if r.code != 401 {
			t.Errorf("revoked key still answered %s", r)
		}
	})

	t.Run("user disabled", func(t *testing.T) {
		tok := pop.tokens["leader"]
		if r := s.mustCall(t, "GET", "/api/v1/reports", tok, nil); denied(r) {
			t.Fatalf("leader token refused before disabling: %s", r)
		}
		runBin(t, "admin", "user", "disable", "--data", data, "--name", "u-leader")
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := s.mustCall(t, "GET", "/api/v1/reports", tok, nil)
			if r.code == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("token of a disabled user still answered %s", r)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if sid, _, code := login(t, s, "u-leader", pop.password); sid != "" {
			t.Errorf("disabled user logged in (%d)", code)
		}
	})

	t.Run("session expiry", func(t *testing.T) {
		pr := sessions["analyst"]
		time.Sleep(ttl + time.Second)
		r := pr.call(t, s, "GET", "/search", nil)
		if !denied(r) {
			t.Errorf("page with a session older than its TTL: %s", r)
		}
		r = pr.call(t, s, "GET", "/api/v1/search/posts?q=x", nil)
		if r.code != 401 {
			t.Errorf("API with an expired session: %s", r)
		}
	})

	t.Run("password hashes at rest", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(data, "access.db"))
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("$argon2id$")); n < len(userRoles) {
			t.Errorf("%d argon2id hashes in the registry, want one per user (%d)", n, len(userRoles))
		}
		for name, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("registry file holds the %s in clear", name)
			}
		}
	})

	t.Run("no secrets or identity numbers in logs", func(t *testing.T) {
		numbers := sendPersonalData(t, s, pop)
		for _, f := range []string{"id-hash.key", "id-enc.key"} {
			if b, err := os.ReadFile(filepath.Join(data, "keys", f)); err == nil {
				secrets[f] = strings.TrimSpace(string(b))
			}
		}
		s.stop()
		checkLogClean(t, s.logText(), secrets, numbers)
	})
}

// sendPersonalData pushes records with fresh identity numbers through a
// second venue, searches and reveals them, and sends malformed rows (which
// are quarantined with their input). It returns the numbers it sent.
func sendPersonalData(t *testing.T, s *server, pop *population) []string {
	t.Helper()
	v := registerVenues(t, pop.data, "LG-", 1)[0]
	var numbers []string
	var b bytes.Buffer
	b.WriteString("kind,place,id_type,id_number,name,started_at,ended_at\n")
	for i := 0; i < 20; i++ {
		n := identity.Synthetic("420199", 7000+i)
		numbers = append(numbers, n)
		fmt.Fprintf(&b, "cafe,L%03d,resident_id,%s,日志测试,%s,\n", i, n, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	}
	// A row with a bad check digit, and a number in a wrong field.
	bad := numbers[0][:17] + "0"
	if bad == numbers[0] {
		bad = numbers[0][:17] + "1"
	}
	numbers = append(numbers, bad)
	fmt.Fprintf(&b, "cafe,L999,resident_id,%s,日志测试,%s,\n", bad, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "cafe,L998,resident_id,%s,日志测试,not-a-time,\n", numbers[1])
	r := s.mustCall(t, "POST", "/api/v1/intake/access-records", v.key, b.Bytes(), "Content-Type", "text/csv")
	if r.code != 200 {
		t.Fatalf("intake: %s", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = s.mustCall(t, "GET", "/api/v1/records?id_number="+numbers[2], pop.tokens["analyst"], nil, "X-Case-Ref", "LOG-1")
		if (r.code == 200 && !bytes.Contains(r.body, []byte(`"total":0`))) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var ans struct {
		Records []struct {
			RecordID string `json:"record_id"`
		} `json:"records"`
	}
	decode(t, r, &ans)
	if len(ans.Records) == 0 {
		t.Fatalf("record not found by number: %s", r)
	}
	r = s.mustCall(t, "GET", "/api/v1/records/"+ans.Records[0].RecordID+"/reveal", pop.tokens["analyst"], nil, "X-Case-Ref", "LOG-1")
	if r.code != 200 || !bytes.Contains(r.body, []byte(numbers[2])) {
		t.Errorf("reveal: %s", r)
	}
	// Refused searches log their filter too.
	s.mustCall(t, "GET", "/api/v1/records?id_number="+numbers[3], pop.tokens["analyst"], nil)
	s.mustCall(t, "GET", "/api/v1/records?id_number="+numbers[4], pop.tokens["duty"], nil, "X-Case-Ref", "LOG-1")
	return numbers
}

// checkLogClean fails for any secret or identity number in log, in clear
// or hex-encoded.
func checkLogClean(t *testing.T, log string, secrets map[string]string, numbers []string) {
	t.Helper()
	if len(log) == 0 {
		t.Fatal("empty log; nothing to check")
	}
	for name, sec := range secrets {
		if sec == "" {
			continue
		}
		if strings.Contains(log, sec) || strings.Contains(log, hex.EncodeToString([]byte(sec))) {
			t.Errorf("the %s appears in the log", name)
		}
	}
	for _, n := range numbers {
		if strings.Contains(log, n) {
			t.Errorf("identity number %s appears in the log", identity.Mask(identity.TypeResident, n))
		}
	}
	t.Logf("log of %d bytes checked for %d secrets and %d identity numbers", len(log), len(secrets), len(numbers))
}
