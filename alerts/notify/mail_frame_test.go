package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// TestMailFrame: an officer's mail reads in Chinese and in China time,
// whatever the event; codes without a Chinese name still show as written.
func TestMailFrame(t *testing.T) {
	opened := time.Date(2026, 12, 5, 1, 30, 0, 0, time.UTC) // 09:30 in Beijing
	a := lifecycle.Alert{ID: "a1", Rule: "trends", Kind: "topic", Key: "topic:诈骗", Severity: "warning",
		Unit: "网安大队", State: lifecycle.StateOpen, Title: "突发话题：诈骗", OpenedAt: opened, Terms: []string{"诈骗", "退款"}}
	tests := []struct {
		typ          string
		subject      string
		body, absent []string
	}{
		{"opened", "[netpulse 重要] 新告警：突发话题：诈骗",
			[]string{"告警 a1：新告警，2026-12-05 09:30:00（北京时间）", "级别：重要", "状态：待处置", "关键词：诈骗、退款", "责任单位：网安大队"},
			[]string{"超时", "UTC", "Rule:"}},
		{"escalated", "[netpulse 重要] 超时未签收：突发话题：诈骗",
			[]string{"此告警未在规定时限内签收"}, nil},
		{"reopened_by_magic", "[netpulse 重要] reopened_by_magic：突发话题：诈骗", []string{"reopened_by_magic"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			subject, body := mailFor(lifecycle.Event{Type: tt.typ, At: opened, Alert: a})
			if subject != tt.subject {
				t.Errorf("subject %q, want %q", subject, tt.subject)
			}
			for _, w := range tt.body {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.absent {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}
}
