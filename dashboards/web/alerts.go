package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// alert is one alert as the alerts API returns it, with what the board
// shows about its acknowledgement deadline.
type alert struct{ lifecycle.Alert }

// due is the acknowledgement deadline; the alerts API states it (sla_due)
// while an alert is open, from its own per-severity SLA settings.
func (a alert) due() (time.Time, bool) {
	if a.SLADue == nil {
		return time.Time{}, false
	}
	return *a.SLADue, true
}

// urgency orders alerts of one severity: by deadline while open, else by
// when they opened.
func (a alert) urgency() time.Time {
	if due, ok := a.due(); ok {
		return due
	}
	return a.OpenedAt
}

// SLALeft is the time left to acknowledge, or, once late, how long ago
// the deadline passed (the template says which: a negative duration reads
// as nonsense to an officer).
func (a alert) SLALeft() string {
	due, ok := a.due()
	if !ok {
		return "—"
	}
	left := time.Until(due)
	if left < 0 {
		// Late counts from the first second; it never reads "0分钟".
		return fmtDur(max((-left).Round(time.Minute), time.Minute))
	}
	return fmtDur(left.Round(time.Minute))
}

func (a alert) Late() bool {
	due, ok := a.due()
	return ok && a.State == "open" && time.Now().After(due)
}

// fmtDur writes a deadline in Chinese units, as the board's other
// durations are.
func fmtDur(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	if h > 0 {
		return fmt.Sprintf("%d小时%02d分", h, m)
	}
	return fmt.Sprintf("%d分钟", m)
}

// Impact is the topic's impact-and-direction paragraph, "" for other
// alerts (the template's name for lifecycle.Alert.Summary).
func (a alert) Impact() string { return a.Summary() }

var severityRank = map[string]int{"critical": 0, "warning": 1, "info": 2}

// listAlerts asks the alerts API for the board's alerts, most urgent
// first: by severity, then by acknowledgement deadline.
func (s *Server) listAlerts(ctx context.Context, r *http.Request) ([]alert, error) {
	var raw []byte
	if err := s.api.call(ctx, r, http.MethodGet, "/api/v1/alerts", url.Values{"limit": {"200"}}, nil, nil, &raw); err != nil {
		return nil, err
	}
	var out []alert
	raw = bytes.TrimSpace(raw)
	var err error
	if len(raw) > 0 && raw[0] == '[' {
		err = json.Unmarshal(raw, &out)
	} else {
		var wrap struct {
			Alerts []alert `json:"alerts"`
		}
		err = json.Unmarshal(raw, &wrap)
		out = wrap.Alerts
	}
	if err != nil {
		return nil, fmt.Errorf("decode alerts: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := rank(a.Severity), rank(b.Severity); ra != rb {
			return ra < rb
		}
		return a.urgency().Before(b.urgency())
	})
	return out, nil
}

func rank(sev string) int {
	if r, ok := severityRank[strings.ToLower(sev)]; ok {
		return r
	}
	return 3
}

type boardData struct {
	Open, Acked, Resolved []alert
	Error                 string
	Flash                 string
}

func (s *Server) board(ctx context.Context, r *http.Request) boardData {
	list, err := s.listAlerts(ctx, r)
	var d boardData
	if err != nil {
		s.logFailure(r, slog.LevelError, "list alerts", "err", err)
		d.Error = apiErrorKey(err)
		return d
	}
	for _, a := range list {
		switch a.State {
		case "acknowledged", "acked":
			d.Acked = append(d.Acked, a)
		case "resolved":
			d.Resolved = append(d.Resolved, a)
		case "silenced", "suppressed":
			// Not on the board; silences list them.
		default:
			d.Open = append(d.Open, a)
		}
	}
	return d
}

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "alerts", "nav.alerts", s.board(r.Context(), r))
}

func (s *Server) alertsBoard(w http.ResponseWriter, r *http.Request) {
	s.Fragment(w, r, "alerts", "board", s.board(r.Context(), r))
}

// alertActions maps the board's buttons to the alerts API.
var alertActions = map[string]bool{"ack": true, "assign": true, "note": true, "resolve": true,
	"silence": true, "feedback": true}

func (s *Server) alertAction(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if !alertActions[action] {
		s.Error(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	// Form fields to the alerts API's body (see alerts/lifecycle/http.go).
	body := map[string]string{}
	for form, api := range map[string]string{"assignee": "assignee", "note": "text", "reason": "reason",
		"duration": "duration", "feedback": "value", "comment": "comment"} {
		if v := strings.TrimSpace(r.FormValue(form)); v != "" {
			body[api] = v
		}
	}
	b, _ := json.Marshal(body)
	h := http.Header{"Content-Type": {"application/json"}}
	err := s.api.call(r.Context(), r, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(id)+"/"+action, nil, h, bytes.NewReader(b), nil)
	d := s.board(r.Context(), r)
	if err != nil {
		s.logFailure(r, slog.LevelWarn, "alert action", "id", id, "action", action, "err", err)
		d.Error = apiErrorKey(err)
	} else {
		d.Flash = "alerts.done_" + action
	}
	s.Fragment(w, r, "alerts", "board", d)
}
