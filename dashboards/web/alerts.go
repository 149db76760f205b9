package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// alert is one alert as the alerts API (and its table) describe it.
type alert struct {
	ID            string     `json:"id"`
	Rule          string     `json:"rule"`
	Kind          string     `json:"kind"`
	Severity      string     `json:"severity"`
	Unit          string     `json:"unit"`
	Title         string     `json:"title"`
	State         string     `json:"state"`
	Assignee      string     `json:"assignee"`
	AckedBy       string     `json:"acked_by"`
	AckedAt       *time.Time `json:"acked_at"`
	ResolvedBy    string     `json:"resolved_by"`
	ResolvedAt    *time.Time `json:"resolved_at"`
	ResolveReason string     `json:"resolve_reason"`
	OpenedAt      time.Time  `json:"opened_at"`
	LastSeen      time.Time  `json:"last_seen"`
	Occurrences   uint32     `json:"occurrences"`
	Escalated     any        `json:"escalated"`
	Feedback      string     `json:"feedback"`
	SLADue        *time.Time `json:"sla_due"`
	Terms         []string   `json:"terms"`
	Notes         []struct {
		At   time.Time `json:"at"`
		By   string    `json:"by"`
		Text string    `json:"text"`
	} `json:"notes"`
}

// ackSLA is the time to acknowledge by severity, used when the API does not
// state an alert's deadline itself.
var ackSLA = map[string]time.Duration{"critical": 5 * time.Minute, "warning": 15 * time.Minute, "info": time.Hour}

func (a alert) due() time.Time {
	if a.SLADue != nil {
		return *a.SLADue
	}
	d, ok := ackSLA[strings.ToLower(a.Severity)]
	if !ok {
		d = ackSLA["info"]
	}
	return a.OpenedAt.Add(d)
}

// slaLeft is the time left to acknowledge, negative when late.
func (a alert) SLALeft() string {
	left := time.Until(a.due()).Round(time.Minute)
	if left < 0 {
		return "-" + fmtDur(-left)
	}
	return fmtDur(left)
}

func (a alert) Late() bool { return a.State == "open" && time.Now().After(a.due()) }

func fmtDur(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

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
		return a.due().Before(b.due())
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
		s.log.Error("list alerts", "err", err)
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
		s.log.Warn("alert action", "id", id, "action", action, "err", err)
		d.Error = apiErrorKey(err)
	} else {
		d.Flash = "alerts.done_" + action
	}
	s.Fragment(w, r, "alerts", "board", d)
}
