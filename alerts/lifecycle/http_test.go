package lifecycle_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// TestAPI drives the alert API as the board does, with real tokens: duty
// officers act, leaders read, analysts are refused.
func TestAPI(t *testing.T) {
	ctx := context.Background()
	reg, err := access.Open(t.TempDir(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	u := unit()
	// Duty officers and leaders see their own unit's alerts; "far" is of
	// another unit, "wide" district-wide.
	for _, x := range []struct {
		name string
		role access.Role
		unit string
	}{{"li", access.RoleDuty, u}, {"boss", access.RoleLeader, u}, {"ana", access.RoleAnalyst, u},
		{"far", access.RoleDuty, "another-unit"}, {"farboss", access.RoleLeader, "another-unit"}, {"wide", access.RoleLeader, access.DistrictWide}} {
		if tokens[x.name], err = reg.AddUser(ctx, access.UserSpec{Name: x.name, Role: x.role, Unit: x.unit}); err != nil {
			t.Fatal(err)
		}
	}
	m := open(t, &clock{t: time.Now().UTC()})
	mux := http.NewServeMux()
	m.Mount(mux, access.Require(reg, access.RoleDuty, access.RoleLeader), access.Require(reg, access.RoleDuty))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a, _, err := m.Raise(ctx, lifecycle.Signal{Rule: "api-" + u, Key: "k", Unit: u, Title: "t", Severity: "warning"})
	if err != nil {
		t.Fatal(err)
	}
	call := func(who, method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[who])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	steps := []struct {
		who, method, path, body string
		code                    int
		check                   func(map[string]any) bool
	}{
		{"ana", "GET", "/api/v1/alerts", "", 403, nil},
		{"far", "GET", "/api/v1/alerts", "", 200, func(b map[string]any) bool { return !strings.Contains(fmtJSON(b), a.ID) }},
		{"farboss", "GET", "/api/v1/alerts?unit=" + u, "", 200, func(b map[string]any) bool { return len(b["alerts"].([]any)) == 0 }},
		{"far", "GET", "/api/v1/alerts/" + a.ID, "", 404, nil},
		{"far", "GET", "/api/v1/alerts/" + a.ID + "/history", "", 404, nil},
		{"far", "POST", "/api/v1/alerts/" + a.ID + "/note", `{"text":"peek"}`, 404, nil},
		{"wide", "GET", "/api/v1/alerts/" + a.ID, "", 200, nil},
		{"wide", "GET", "/api/v1/alerts", "", 200, func(b map[string]any) bool { return strings.Contains(fmtJSON(b), a.ID) }},
		{"boss", "GET", "/api/v1/alerts?unit=" + u, "", 200, func(b map[string]any) bool { return len(b["alerts"].([]any)) == 1 }},
		{"boss", "POST", "/api/v1/alerts/" + a.ID + "/ack", "", 403, nil},
		{"li", "GET", "/api/v1/alerts/" + a.ID, "", 200, func(b map[string]any) bool { return b["state"] == "open" && b["sla_due"] != nil }},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/ack", "", 200, func(b map[string]any) bool { return b["state"] == "acknowledged" && b["acked_by"] == "li" }},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/ack", "", 409, nil},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/note", `{"text":"checking"}`, 200, func(b map[string]any) bool { return len(b["notes"].([]any)) == 1 }},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/silence", `{"duration":"1h","comment":"known"}`, 200, func(b map[string]any) bool { return b["id"] != "" }},
		{"li", "GET", "/api/v1/alerts/silences", "", 200, func(b map[string]any) bool { return len(b["silences"].([]any)) >= 1 }},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/resolve", `{}`, 400, nil},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/resolve", `{"reason":"handled"}`, 200, func(b map[string]any) bool { return b["state"] == "resolved" }},
		{"li", "POST", "/api/v1/alerts/" + a.ID + "/feedback", `{"value":"useful"}`, 200, func(b map[string]any) bool { return b["feedback"] == "useful" }},
		{"li", "GET", "/api/v1/alerts/" + a.ID + "/history", "", 200, func(b map[string]any) bool { return len(b["events"].([]any)) == 6 }},
		{"li", "GET", "/api/v1/alerts/precision", "", 200, func(b map[string]any) bool { return strings.Contains(fmtJSON(b), `"api-`+u+`"`) }},
		// Feedback on a unit's alerts is the unit's: another unit's officer
		// does not see its rules counted; a district-wide leader does.
		{"far", "GET", "/api/v1/alerts/precision", "", 200, func(b map[string]any) bool { return !strings.Contains(fmtJSON(b), `"api-`+u+`"`) }},
		{"wide", "GET", "/api/v1/alerts/precision", "", 200, func(b map[string]any) bool { return strings.Contains(fmtJSON(b), `"api-`+u+`"`) }},
		{"li", "GET", "/api/v1/alerts/nope", "", 404, nil},
		{"li", "POST", "/api/v1/alerts/silences", `{"matchers":{"rule":"x"},"duration":"2h"}`, 201, nil},
		{"li", "POST", "/api/v1/alerts/silences", `{"matchers":{},"duration":"2h"}`, 400, nil},
		// A silence hides alerts: an officer's are bound to the officer's
		// unit, whatever the matchers say, and another unit's silences are
		// neither listed nor lifted.
		{"far", "POST", "/api/v1/alerts/silences", `{"matchers":{"rule":"api-` + u + `"},"duration":"2h"}`, 201,
			func(b map[string]any) bool {
				return fmtJSON(b["matchers"]) == `{"rule":"api-`+u+`","unit":"another-unit"}`
			}},
		{"far", "POST", "/api/v1/alerts/silences", `{"matchers":{"severity":"warning","unit":"` + u + `"},"duration":"2h"}`, 403, nil},
		{"far", "GET", "/api/v1/alerts/silences", "", 200, func(b map[string]any) bool {
			return len(b["silences"].([]any)) == 1 && !strings.Contains(fmtJSON(b), `"unit":"`+u+`"`)
		}},
		{"li", "GET", "/api/v1/alerts/silences", "", 200, func(b map[string]any) bool {
			return len(b["silences"].([]any)) == 2 && !strings.Contains(fmtJSON(b), "another-unit")
		}},
		{"wide", "GET", "/api/v1/alerts/silences", "", 200, func(b map[string]any) bool { return len(b["silences"].([]any)) == 3 }},
	}
	for i, s := range steps {
		code, body := call(s.who, s.method, s.path, s.body)
		if code != s.code {
			t.Fatalf("step %d %s %s as %s: %d, want %d (%v)", i, s.method, s.path, s.who, code, s.code, body)
		}
		if s.check != nil && !s.check(body) {
			t.Fatalf("step %d %s %s: unexpected body %v", i, s.method, s.path, body)
		}
	}
	_, b := call("li", "GET", "/api/v1/alerts/silences", "")
	for _, x := range b["silences"].([]any) {
		sid := x.(map[string]any)["id"].(string)
		if code, _ := call("far", "DELETE", "/api/v1/alerts/silences/"+sid, ""); code != 404 {
			t.Errorf("another unit's officer lifts silence %s: %d, want 404", sid, code)
		}
		if code, _ := call("li", "DELETE", "/api/v1/alerts/silences/"+sid, ""); code != 204 {
			t.Errorf("own unit's officer lifts silence %s: %d, want 204", sid, code)
		}
	}
}

func fmtJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
