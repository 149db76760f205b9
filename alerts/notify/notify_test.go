package notify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/notify"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
)

var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

// mailbox is a real SMTP server (emersion/go-smtp) on loopback.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
	rcpt [][]string
	got  chan struct{}
}

type session struct {
	mb   *mailbox
	rcpt []string
}

func (s *session) Reset()        { s.rcpt = nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, string(b))
	s.mb.rcpt = append(s.mb.rcpt, s.rcpt)
	s.mb.mu.Unlock()
	s.mb.got <- struct{}{}
	return nil
}

func startSMTP(t *testing.T) (*mailbox, string) {
	mb := &mailbox{got: make(chan struct{}, 16)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return mb, ln.Addr().String()
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestWebhookEmailAndDeadLetter: a critical alert goes to a webhook that
// fails twice before accepting (signature checked), to a webhook that
// always fails (dead letter in ClickHouse), and by email to a real SMTP
// server. A silenced alert goes nowhere.
func TestWebhookEmailAndDeadLetter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret"
	var mu sync.Mutex
	attempts := 0
	var delivered []lifecycle.Event
	okHook := make(chan struct{}, 8)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("X-Netpulse-Timestamp"), 10, 64)
		if !notify.Verify(secret, ts, body, r.Header.Get("X-Netpulse-Signature")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var e lifecycle.Event
		json.Unmarshal(body, &e)
		delivered = append(delivered, e)
		okHook <- struct{}{}
	}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer bad.Close()
	mb, addr := startSMTP(t)
	n, err := notify.New(notify.Options{Source: m, DB: db, Retries: 3, Backoff: 10 * time.Millisecond,
		Webhooks: []notify.Webhook{{URL: good.URL, Secret: secret, Events: []string{"opened"}}, {URL: bad.URL, Secret: "x", Events: []string{"opened"}}},
		Mail:     &notify.Mailer{Addr: addr, From: "netpulse@example.test", To: []string{"duty@example.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond) // let Run subscribe

	u := fmt.Sprintf("u%d", time.Now().UnixNano())
	if _, err := m.AddSilence(ctx, lifecycle.Silence{Matchers: map[string]string{"rule": "muted-" + u}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "muted-" + u, Key: "k", Severity: "critical", Unit: u, Title: "muted"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "fire-" + u, Key: "k", Severity: "critical", Unit: u, Title: "仓库火灾"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, okHook, "the webhook delivery")
	wait(t, mb.got, "the email")
	mb.mu.Lock()
	msg := mb.msgs[0]
	mb.mu.Unlock()
	if !strings.Contains(msg, a.ID) || !strings.Contains(msg, "Subject: =?utf-8?q?") || mb.rcpt[0][0] != "duty@example.test" {
		t.Errorf("mail: %q", msg)
	}
	mu.Lock()
	if len(delivered) != 1 || delivered[0].Alert.ID != a.ID || attempts != 3 {
		t.Errorf("webhook got %d events after %d attempts", len(delivered), attempts)
	}
	mu.Unlock()
	// The failing hook ends in the dead-letter list.
	var dl []notify.DeadLetter
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if dl, err = notify.DeadLetters(ctx, db, 10); err != nil {
			t.Fatal(err)
		}
		if len(dl) > 0 {
			break
		}
	}
	if len(dl) != 1 || dl[0].AlertID != a.ID || dl[0].Target != bad.URL || dl[0].Attempts != 3 {
		t.Fatalf("dead letters: %+v", dl)
	}
	cancel()
	<-done
	mb.mu.Lock()
	if len(mb.msgs) != 1 {
		t.Errorf("%d mails sent, want 1 (the silenced alert must not mail)", len(mb.msgs))
	}
	mb.mu.Unlock()
}

func TestStreamSendsEvents(t *testing.T) {
	ctx := context.Background()
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	// The caller is a duty officer of unit u: another unit's alert is not
	// streamed to them.
	u := fmt.Sprintf("u%d", time.Now().UnixNano())
	stream := notify.Stream(m)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := access.Principal{Kind: "user", Name: "li", Role: access.RoleDuty, Unit: u}
		stream.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	line, _ := r.ReadString('\n') // ": connected" means subscribed
	if !strings.HasPrefix(line, ": connected") {
		t.Fatalf("first line %q", line)
	}
	if _, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "sse-other-" + u, Key: "k", Unit: "other-" + u, Title: "t"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "sse-" + u, Key: "k", Unit: u, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var ev, data string
	for data == "" {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			ev = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
		}
	}
	var e lifecycle.Event
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		t.Fatal(err)
	}
	if ev != "opened" || e.Alert.ID != a.ID {
		t.Fatalf("event %s %+v", ev, e)
	}
}

func TestDigest(t *testing.T) {
	ctx := context.Background()
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	u := fmt.Sprintf("u%d", time.Now().UnixNano())
	a, _, _ := m.Raise(ctx, lifecycle.Signal{Rule: "digest-" + u, Key: "k", Unit: u, Title: "digest me", Severity: "critical"})
	m.Feedback(ctx, a.ID, "li", "useful")
	// A topic alert carries its impact and direction as a Chinese summary.
	summary := "影响：帖文 180 条（去重后 127 组）。走势：上升。"
	m.Raise(ctx, lifecycle.Signal{Rule: "trends", Kind: "topic", Key: "topic:" + u, Unit: u, Title: "突发话题：" + u,
		Payload: map[string]string{"summary": summary}})
	subject, body, err := notify.Digest(ctx, m, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"digest-" + u, "digest me", "尚未办结：", "[紧急] digest me — 待处置，未指派", "准确率 100%", "（北京时间）", summary} {
		if !strings.Contains(body, want) {
			t.Errorf("digest lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(subject, "每日告警摘要") {
		t.Errorf("subject %q", subject)
	}
}
