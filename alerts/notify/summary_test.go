package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// TestMailCarriesTopicSummary: the mail of a topic alert shows the
// impact and direction its payload carries; other alerts' mail is as
// before.
func TestMailCarriesTopicSummary(t *testing.T) {
	summary := "影响：帖文 12 条（去重后 9 组），来源 3 个。走势：上升，预计未来 3 小时 40 条。"
	p, _ := json.Marshal(map[string]any{"summary": summary, "impact": map[string]int{"posts": 12}})
	for _, tc := range []struct {
		name    string
		payload json.RawMessage
		want    bool
	}{
		{"topic", p, true},
		{"no payload", nil, false},
		{"other payload", json.RawMessage(`{"matches":3}`), false},
		{"not an object", json.RawMessage(`[1,2]`), false},
	} {
		_, body := mailFor(lifecycle.Event{Type: "opened", Alert: lifecycle.Alert{ID: "a1", Title: "突发话题", Payload: tc.payload}})
		if got := strings.Contains(body, summary); got != tc.want {
			t.Errorf("%s: summary in mail = %v, want %v:\n%s", tc.name, got, tc.want, body)
		}
	}
}
