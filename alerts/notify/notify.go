// Package notify tells people about alert changes: a server-sent-event
// stream for the live alert board, HMAC-signed webhooks with retries and a
// dead-letter list in ClickHouse, email over SMTP, and a daily digest.
//
// Webhook requests are POSTs of the lifecycle.Event JSON
// ({"type","at","actor","alert":{…}}) with headers
//
//	X-Netpulse-Event:     the event type
//	X-Netpulse-Delivery:  a unique id, the same on every retry
//	X-Netpulse-Timestamp: unix seconds
//	X-Netpulse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the hook's secret>
//
// Receivers recompute the signature and reject stale timestamps.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Source is where events come from; *lifecycle.Manager is the one.
type Source interface {
	Subscribe(buf int) (<-chan lifecycle.Event, func())
}

// Webhook is one receiver.
type Webhook struct {
	URL    string
	Secret string
	// Events limits the event types sent; empty sends all.
	Events []string
	// MinSeverity drops alerts below it; empty sends all.
	MinSeverity string
}

// Options configure a Notifier.
type Options struct {
	Source   Source
	DB       *store.DB // dead letters
	Webhooks []Webhook
	Mail     *Mailer // nil: no email
	// MailEvents are the event types mailed; opened and escalated if empty.
	MailEvents []string
	// Retries is the attempts per webhook delivery (5 if zero), waiting
	// Backoff (1 s if zero), doubling, between them.
	Retries int
	Backoff time.Duration
	Client  *http.Client
	Log     *slog.Logger
	Reg     prometheus.Registerer
}

// Notifier sends alert events to webhooks and email.
type Notifier struct {
	o     Options
	sent  *prometheus.CounterVec
	dead  *prometheus.CounterVec
	wg    sync.WaitGroup
	slots chan struct{}
}

// New checks options and registers metrics.
func New(o Options) (*Notifier, error) {
	if o.Source == nil || o.DB == nil {
		return nil, errors.New("notify: Source and DB are required")
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if len(o.MailEvents) == 0 {
		o.MailEvents = []string{"opened", "escalated"}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{o: o, slots: make(chan struct{}, 16),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_notify_sent_total", Help: "Notifications delivered, by channel."}, []string{"channel"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netpulse_notify_dead_letters_total", Help: "Notifications that failed every attempt, by channel."}, []string{"channel"}),
	}
	if o.Reg != nil {
		for _, c := range []prometheus.Collector{n.sent, n.dead} {
			if err := o.Reg.Register(c); err != nil {
				return nil, fmt.Errorf("notify: register metrics: %w", err)
			}
		}
	}
	return n, nil
}

var severityRank = map[string]int{lifecycle.SeverityInfo: 0, lifecycle.SeverityWarning: 1, lifecycle.SeverityCritical: 2}

// wants reports whether an event should go out at all: silenced and
// inhibited alerts stay on the board but do not page anyone.
func wants(e lifecycle.Event) bool {
	if e.Remote {
		return false // the node that made the change notifies
	}
	return !e.Alert.Quiet() || e.Type == "resolved"
}

// Run delivers events until ctx ends, then waits for deliveries in flight.
func (n *Notifier) Run(ctx context.Context) error {
	events, cancel := n.o.Source.Subscribe(1024)
	defer cancel()
	defer n.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			n.dispatch(ctx, e)
		}
	}
}

func (n *Notifier) dispatch(ctx context.Context, e lifecycle.Event) {
	if !wants(e) {
		return
	}
	for _, h := range n.o.Webhooks {
		if len(h.Events) > 0 && !slices.Contains(h.Events, e.Type) {
			continue
		}
		if h.MinSeverity != "" && severityRank[e.Alert.Severity] < severityRank[h.MinSeverity] {
			continue
		}
		n.spawn(ctx, func() { n.deliverWebhook(ctx, h, e) })
	}
	if n.o.Mail != nil && slices.Contains(n.o.MailEvents, e.Type) && !e.Alert.Quiet() {
		n.spawn(ctx, func() { n.deliverMail(ctx, e) })
	}
}

func (n *Notifier) spawn(ctx context.Context, fn func()) {
	select {
	case n.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() { <-n.slots }()
		fn()
	}()
}

// Sign returns the X-Netpulse-Signature value for body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature in constant time.
func Verify(secret string, ts int64, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

func deliveryID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (n *Notifier) deliverWebhook(ctx context.Context, h Webhook, e lifecycle.Event) {
	body, err := json.Marshal(e)
	if err != nil {
		n.o.Log.Error("notify: encode event", "err", err)
		return
	}
	id := deliveryID()
	wait := n.o.Backoff
	var last error
	for attempt := 1; attempt <= n.o.Retries; attempt++ {
		if last = n.post(ctx, h, id, e.Type, body); last == nil {
			n.sent.WithLabelValues("webhook").Inc()
			return
		}
		if attempt == n.o.Retries {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			last = fmt.Errorf("stopped before retry: %w", last)
			attempt = n.o.Retries
		case <-t.C:
		}
		wait *= 2
	}
	n.deadLetter(context.WithoutCancel(ctx), "webhook", h.URL, id, e.Alert.ID, body, last, n.o.Retries)
}

func (n *Notifier) post(ctx context.Context, h Webhook, id, typ string, body []byte) error {
	ts := time.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Netpulse-Event", typ)
	req.Header.Set("X-Netpulse-Delivery", id)
	req.Header.Set("X-Netpulse-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Netpulse-Signature", Sign(h.Secret, ts, body))
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", h.URL, resp.Status)
	}
	return nil
}

func (n *Notifier) deliverMail(ctx context.Context, e lifecycle.Event) {
	subject, body := mailFor(e)
	var err error
	wait := n.o.Backoff
	for attempt := 1; attempt <= n.o.Retries; attempt++ {
		if err = n.o.Mail.Send(ctx, subject, body); err == nil {
			n.sent.WithLabelValues("email").Inc()
			return
		}
		if attempt < n.o.Retries {
			select {
			case <-ctx.Done():
				attempt = n.o.Retries
			case <-time.After(wait):
			}
			wait *= 2
		}
	}
	n.deadLetter(context.WithoutCancel(ctx), "email", fmt.Sprint(n.o.Mail.To), deliveryID(), e.Alert.ID, []byte(subject+"\n\n"+body), err, n.o.Retries)
}

// DeadLetter is a notification that failed every attempt.
type DeadLetter struct {
	ID       string    `json:"id"`
	Channel  string    `json:"channel"`
	Target   string    `json:"target"`
	AlertID  string    `json:"alert_id"`
	Body     string    `json:"body"`
	Error    string    `json:"error"`
	Attempts uint32    `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
}

func (n *Notifier) deadLetter(ctx context.Context, channel, target, id, alertID string, body []byte, err error, attempts int) {
	n.dead.WithLabelValues(channel).Inc()
	msg := "unknown"
	if err != nil {
		msg = err.Error()
	}
	n.o.Log.Warn("notify: giving up", "channel", channel, "target", target, "alert", alertID, "err", msg)
	if ierr := n.o.DB.Insert(ctx, "netpulse.notify_dead_letters", []DeadLetter{{ID: id, Channel: channel, Target: target,
		AlertID: alertID, Body: string(body), Error: msg, Attempts: uint32(attempts), FailedAt: time.Now().UTC()}}); ierr != nil {
		n.o.Log.Error("notify: store dead letter", "err", ierr)
	}
}

// ForUnit keeps the dead letters of alerts of unit: a dead letter's body is
// its alert's notification, so a duty officer scoped to a unit sees only
// those, like the alerts themselves. unitOf answers an alert's unit; a
// letter whose alert it does not know is kept back.
func ForUnit(dl []DeadLetter, unit string, unitOf func(alertID string) (string, bool)) []DeadLetter {
	out := make([]DeadLetter, 0, len(dl))
	for _, d := range dl {
		if u, ok := unitOf(d.AlertID); ok && u == unit {
			out = append(out, d)
		}
	}
	return out
}

// DeadLetters lists the most recent failed notifications.
func DeadLetters(ctx context.Context, db *store.DB, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	if err := db.Select(ctx, &out, `SELECT * FROM netpulse.notify_dead_letters ORDER BY failed_at DESC LIMIT ?`, limit); err != nil {
		return nil, fmt.Errorf("notify: dead letters: %w", err)
	}
	return out, nil
}

// Mail goes to duty officers of a Chinese unit: its frame is in Chinese
// and its times in China time, like the board's. Rule names, keys and
// terms stay as written, since officers search for them.
var cst = time.FixedZone("CST", 8*3600)

// cnTime formats a moment for an officer, with the zone spelled out so a
// forwarded mail cannot be misread.
func cnTime(t time.Time) string {
	return t.In(cst).Format("2006-01-02 15:04:05") + "（北京时间）"
}

var (
	eventNames = map[string]string{
		"opened": "新告警", "updated": "告警更新", "escalated": "超时未签收", "acknowledged": "已签收",
		"assigned": "已指派", "resolved": "已办结", "note": "新备注", "feedback": "反馈", "silenced": "已静默", "suppressed": "已抑制",
	}
	severityNames = map[string]string{"critical": "紧急", "warning": "重要", "info": "一般"}
	stateNames    = map[string]string{lifecycle.StateOpen: "待处置", lifecycle.StateAcked: "处置中", lifecycle.StateResolved: "已办结"}
)

// label returns the Chinese name of a code, or the code itself when it has
// none (a new event type still reads, if in English).
func label(names map[string]string, code string) string {
	if n, ok := names[code]; ok {
		return n
	}
	return code
}

func mailFor(e lifecycle.Event) (string, string) {
	a := e.Alert
	subject := fmt.Sprintf("[netpulse %s] %s：%s", label(severityNames, a.Severity), label(eventNames, e.Type), a.Title)
	var b bytes.Buffer
	fmt.Fprintf(&b, "告警 %s：%s，%s。\n\n", a.ID, label(eventNames, e.Type), cnTime(e.At))
	fmt.Fprintf(&b, "规则：%s（%s）\n对象：%s\n级别：%s\n责任单位：%s\n状态：%s\n首次告警：%s\n",
		a.Rule, a.Kind, a.Key, label(severityNames, a.Severity), a.Unit, label(stateNames, a.State), cnTime(a.OpenedAt))
	if a.Assignee != "" {
		fmt.Fprintf(&b, "负责人：%s\n", a.Assignee)
	}
	if len(a.Terms) > 0 {
		fmt.Fprintf(&b, "关键词：%s\n", strings.Join(a.Terms, "、"))
	}
	if s := a.Summary(); s != "" {
		fmt.Fprintf(&b, "\n%s\n", s)
	}
	if e.Type == "escalated" {
		b.WriteString("\n此告警未在规定时限内签收，请值班民警尽快处置。\n")
	}
	return subject, b.String()
}
