package web

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/netpulse/netpulse/dashboards/access"
)

// BenchmarkRenderBoard measures drawing a full alert board (200 cards), the
// template share of an alert board page load.
func BenchmarkRenderBoard(b *testing.B) {
	reg, err := access.Open(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	sh, err := NewShell(reg, ShellOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var d boardData
	now := time.Now()
	for i := range 200 {
		a := alert{ID: fmt.Sprint(i), Rule: "demo-fraud-words", Severity: []string{"critical", "warning", "info"}[i%3],
			Title: fmt.Sprintf("诈骗 话题 %d 爆发", i), State: "open", OpenedAt: now.Add(-time.Duration(i) * time.Minute),
			Terms: []string{"诈骗", "刷单"}}
		if i%2 == 1 {
			a.State, a.AckedBy = "acknowledged", "duty"
			d.Acked = append(d.Acked, a)
		} else {
			d.Open = append(d.Open, a)
		}
	}
	req := httptest.NewRequest("GET", "/alerts", nil)
	req = req.WithContext(contextWithSession(req.Context(), sessionInfo{P: access.Principal{Name: "duty", Role: access.RoleDuty}, CSRF: "x"}))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		sh.Render(w, req, 200, "alerts", "nav.alerts", d)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
