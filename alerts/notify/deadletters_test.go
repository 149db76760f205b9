package notify_test

import (
	"fmt"
	"testing"

	"github.com/netpulse/netpulse/alerts/notify"
)

// TestDeadLettersForUnit: a dead letter's body is its alert's notification,
// so a unit-scoped officer sees only their unit's, and none whose alert is
// unknown.
func TestDeadLettersForUnit(t *testing.T) {
	units := map[string]string{"a1": "u1", "a2": "u2", "a3": "", "a4": "u1"}
	unitOf := func(id string) (string, bool) { u, ok := units[id]; return u, ok }
	dl := []notify.DeadLetter{{ID: "d1", AlertID: "a1"}, {ID: "d2", AlertID: "a2"}, {ID: "d3", AlertID: "a3"},
		{ID: "d4", AlertID: "gone"}, {ID: "d5", AlertID: "a4"}, {ID: "d6", AlertID: ""}}
	for _, tc := range []struct{ unit, want string }{
		{"u1", "[d1 d5]"},
		{"u2", "[d2]"},
		{"", "[d3]"}, // an alert without a unit; a letter of no alert is kept back
		{"u3", "[]"},
	} {
		var ids []string
		for _, d := range notify.ForUnit(dl, tc.unit, unitOf) {
			ids = append(ids, d.ID)
		}
		if got := fmt.Sprint(ids); got != tc.want && !(len(ids) == 0 && tc.want == "[]") {
			t.Errorf("unit %q sees %s, want %s", tc.unit, got, tc.want)
		}
	}
}
