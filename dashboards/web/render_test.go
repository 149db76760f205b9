package web

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"

	"github.com/netpulse/netpulse/access"
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
		due := now.Add(time.Duration(15-i) * time.Minute)
		a := alert{lifecycle.Alert{ID: fmt.Sprint(i), Rule: "demo-fraud-words", Severity: []string{"critical", "warning", "info"}[i%3],
			Title: fmt.Sprintf("诈骗 话题 %d 爆发", i), State: "open", OpenedAt: now.Add(-time.Duration(i) * time.Minute),
			SLADue: &due, Terms: []string{"诈骗", "刷单"}}}
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

// TestRenderPagesWithData draws each page template with data of the shape
// the APIs return, so a template error cannot hide behind an empty demo.
func TestRenderPagesWithData(t *testing.T) {
	reg, err := access.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := NewShell(reg, ShellOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	first := now.Add(-30 * time.Hour)
	pts := []volumePoint{{T: now.Add(-time.Hour), N: 2}, {T: now, N: 9}}
	tests := []struct {
		page, name string
		data       any
		want       []string
	}{
		{"trends", "layout", trendsData{Topics: []topicView{{Status: "bursting", Terms: []string{"诈骗", "刷单"}, Counts: []uint64{9, 4},
			Opened: now, LastHot: now, Chart: lineChart("帖文数", pts, pts[1:]),
			Samples: []samplePost{{Title: "警惕刷单诈骗", Source: "demo-news", URL: "http://example.test/a", PublishedAt: now}},
			Summary: "影响：帖文 12 条（去重后 9 组）", Trend: "rising", Label: "上升"}},
			Until: now, Tracked: 12, Volume: lineChart("帖文数", pts, nil), Top: barChart([]topTerm{{"诈骗", 9}})},
			[]string{"诈骗<sup>9</sup>", "爆发中", "警惕刷单诈骗", `data-chart="{`, "2026-11-29 10:00", "影响：帖文 12 条（去重后 9 组）", `trend-rising">上升`}},
		// No topic on the engine's list, but alerts of topics that cooled
		// off today: the page says so instead of "nothing happened".
		{"trends", "layout", trendsData{RecentAlerts: 2, Volume: lineChart("帖文数", pts, nil), Top: barChart([]topTerm{{"诈骗", 9}})},
			[]string{"当前没有正在爆发的话题。 过去24小时共有 2 个话题告警，见告警看板。"}},
		{"alerts", "layout", boardData{Open: []alert{{lifecycle.Alert{ID: "a1", Rule: "trends", Kind: "topic", Severity: "warning",
			Title: "突发话题：诈骗", State: "open", OpenedAt: time.Now(), SLADue: ptrTime(time.Now().Add(55*time.Minute + 20*time.Second)),
			Payload: []byte(`{"summary":"影响：帖文 12 条。走势：上升。"}`)}}}},
			[]string{"影响：帖文 12 条。走势：上升。", "55分钟"}},
		// A deadline that has passed reads as overdue, never as a negative
		// time left.
		{"alerts", "layout", boardData{Open: []alert{{lifecycle.Alert{ID: "a2", Rule: "r", Severity: "critical",
			Title: "逾期告警", State: "open", OpenedAt: time.Now().Add(-time.Hour), SLADue: ptrTime(time.Now().Add(-2*time.Minute - 10*time.Second))}}}},
			[]string{"已超过签收时限 2分钟", `class="sla late"`}},
		{"alerts", "layout", boardData{Open: []alert{{lifecycle.Alert{ID: "a3", Rule: "r", Severity: "critical",
			Title: "刚逾期", State: "open", OpenedAt: time.Now().Add(-time.Hour), SLADue: ptrTime(time.Now().Add(-10 * time.Second))}}}},
			[]string{"已超过签收时限 1分钟"}},
		{"trends", "term", termData{Term: "诈骗", Bursts: 1, FirstSeen: &first, Chart: lineChart("诈骗", pts, pts[1:])},
			[]string{"检测到 1 次爆发", "首次出现 2026-11-28 04:00"}},
		{"search", "post-results", map[string]any{"Res": postResults{Total: 1, Hits: []postHit{{ID: "p1", Title: "标题", Source: "demo-rss",
			Fragments: []string{"江岸区<mark>诈骗</mark><b>x</b>"}}}}, "Export": "/search/posts.csv?q=x"},
			[]string{"<mark>诈骗</mark>&lt;b&gt;x&lt;/b&gt;", "共 1 条结果"}},
		{"search", "record-results", map[string]any{"CaseRef": "C-1", "Cols": []string{"venue", "kind", "id_type", "id_number", "started_at"},
			"Res": recordResults{Total: 1, Records: []map[string]any{{"record_id": "r1", "venue": "JA-C01", "kind": "cafe",
				"id_type": "resident_id", "id_number": "420199********0073", "started_at": "2026-11-29T02:00:00Z"}}}},
			[]string{"网吧", "居民身份证", "420199********0073", "2026-11-29 10:00", `name="id" value="r1"`}},
		{"operator", "upload-result", operatorData{Result: &intakeAnswer{BatchID: "b1", Accepted: 1, Rejected: []struct {
			Row    int    `json:"row"`
			Field  string `json:"field"`
			Reason string `json:"reason"`
		}{{Row: 2, Field: "id_number", Reason: "check digit"}}}},
			[]string{"已接收 1 行，拒绝 1 行", `class="row-error"`, "check digit"}},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/"+tt.page, nil)
		req = req.WithContext(contextWithSession(req.Context(), sessionInfo{P: access.Principal{Name: "a", Role: access.RoleAnalyst}, CSRF: "x"}))
		w := httptest.NewRecorder()
		if tt.name == "layout" {
			sh.Render(w, req, 200, tt.page, "nav."+tt.page, tt.data)
		} else {
			sh.Fragment(w, req, tt.page, tt.name, tt.data)
		}
		body := w.Body.String()
		if w.Code != 200 {
			t.Errorf("%s/%s: status %d: %s", tt.page, tt.name, w.Code, body)
			continue
		}
		for _, s := range tt.want {
			if !strings.Contains(body, s) {
				t.Errorf("%s/%s lacks %q", tt.page, tt.name, s)
			}
		}
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// TestChartsUseTheUnitsClock: a chart point at 02:00 UTC is drawn at 10:00
// Beijing time, as the page text says, whatever the browser's zone.
func TestChartsUseTheUnitsClock(t *testing.T) {
	at := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	c := lineChart("帖文数", []volumePoint{{T: at, N: 3}}, []volumePoint{{T: at, N: 3}})
	if c["useUTC"] != true {
		t.Fatalf("chart not drawn in UTC: %v", c["useUTC"])
	}
	want := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC).UnixMilli()
	data := c["series"].([]map[string]any)[0]["data"].([][2]any)
	if got := data[0][0].(int64); got != want {
		t.Errorf("point at %v, want 10:00 on the chart (%v)", time.UnixMilli(got).UTC(), time.UnixMilli(want).UTC())
	}
}
