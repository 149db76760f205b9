package notify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// Lister is what the digest reads.
type Lister interface {
	List(f lifecycle.Filter) []lifecycle.Alert
	PrecisionByRule(ctx context.Context, since time.Time) ([]lifecycle.Precision, error)
}

// Digest composes the daily summary of the 24 hours before now.
func Digest(ctx context.Context, l Lister, now time.Time) (string, string, error) {
	since := now.Add(-24 * time.Hour)
	var opened, stillOpen []lifecycle.Alert
	byRule := map[string]int{}
	for _, a := range l.List(lifecycle.Filter{}) {
		if a.OpenedAt.After(since) && !a.OpenedAt.After(now) {
			opened = append(opened, a)
			byRule[a.Rule]++
		}
		if a.State != lifecycle.StateResolved {
			stillOpen = append(stillOpen, a)
		}
	}
	prec, err := l.PrecisionByRule(ctx, now.Add(-30*24*time.Hour))
	if err != nil {
		return "", "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "netpulse 每日告警摘要：%s 至 %s（北京时间）\n\n", since.In(cst).Format("2006-01-02 15:04"), now.In(cst).Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "新增告警 %d 条，尚未办结 %d 条。\n\n", len(opened), len(stillOpen))
	rules := make([]string, 0, len(byRule))
	for r := range byRule {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	if len(rules) > 0 {
		b.WriteString("按规则统计新增：\n")
		for _, r := range rules {
			fmt.Fprintf(&b, "  %-30s %d\n", r, byRule[r])
		}
		b.WriteString("\n")
	}
	if len(stillOpen) > 0 {
		b.WriteString("尚未办结：\n")
		for _, a := range stillOpen {
			esc, who := "", a.Assignee
			if a.Escalated {
				esc = "，已超时升级"
			}
			if who == "" {
				who = "未指派"
			}
			fmt.Fprintf(&b, "  [%s] %s — %s，%s，%s起%s\n", label(severityNames, a.Severity), a.Title, label(stateNames, a.State), who, a.OpenedAt.In(cst).Format("01-02 15:04"), esc)
			if s := a.Summary(); s != "" {
				fmt.Fprintf(&b, "      %s\n", s)
			}
		}
		b.WriteString("\n")
	}
	if len(prec) > 0 {
		b.WriteString("各规则准确率（近 30 天，据民警反馈）：\n")
		for _, p := range prec {
			if p.Useful+p.Noise == 0 {
				fmt.Fprintf(&b, "  %-30s 告警 %d 条，暂无反馈\n", p.Rule, p.Alerts)
				continue
			}
			fmt.Fprintf(&b, "  %-30s 告警 %d 条，有用 %d，误报 %d，准确率 %.0f%%\n", p.Rule, p.Alerts, p.Useful, p.Noise, 100*p.Precision)
		}
	}
	subject := fmt.Sprintf("[netpulse] 每日告警摘要：新增 %d 条，未办结 %d 条", len(opened), len(stillOpen))
	return subject, b.String(), nil
}

// RunDigest mails the digest every day at hour:00 UTC until ctx ends.
func RunDigest(ctx context.Context, l Lister, m *Mailer, hour int, log *slog.Logger) error {
	for {
		now := time.Now().UTC()
		next := time.Date(now.Year(), now.Month(), now.Day(), hour, 0, 0, 0, time.UTC)
		if !next.After(now) {
			next = next.Add(24 * time.Hour)
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		subject, body, err := Digest(ctx, l, time.Now())
		if err == nil {
			err = m.Send(ctx, subject, body)
		}
		if err != nil && log != nil {
			log.Warn("notify: daily digest", "err", err)
		}
	}
}
