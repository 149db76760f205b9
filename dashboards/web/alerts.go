package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// listAlerts asks the alerts API; until that API is mounted the board reads
// the alerts table, read-only, so duty officers still see what is firing.
func (s *Server) listAlerts(ctx context.Context, r *http.Request) ([]alert, bool, error) {
	var raw []byte
	err := s.api.call(ctx, r, http.MethodGet, "/api/v1/alerts", url.Values{"limit": {"200"}}, nil, nil, &raw)
	var out []alert
	live := true
	switch {
	case err == nil:
		raw = bytes.TrimSpace(raw)
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
			return nil, true, fmt.Errorf("decode alerts: %w", err)
		}
	case notMounted(err):
		live = false
		err = s.db.Select(ctx, &out, `SELECT id, rule, kind, severity, unit, title, state, assignee, acked_by, acked_at,
				resolved_by, resolved_at, resolve_reason, opened_at, last_seen, occurrences, escalated, feedback
			FROM netpulse.alerts FINAL
			WHERE state != 'resolved' OR resolved_at >= now() - INTERVAL 1 DAY
			ORDER BY opened_at DESC LIMIT 200`)
		if err != nil {
			return nil, false, err
		}
	default:
		return nil, true, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := rank(a.Severity), rank(b.Severity); ra != rb {
			return ra < rb
		}
		return a.due().Before(b.due())
	})
	return out, live, nil
}

func rank(sev string) int {
	if r, ok := severityRank[strings.ToLower(sev)]; ok {
		return r
	}
	return 3
}

type boardData struct {
	Open, Acked, Resolved []alert
	Live                  bool
	Error                 string
	Fingerprint           string
	Flash                 string
}

func (s *Server) board(ctx context.Context, r *http.Request) boardData {
	list, live, err := s.listAlerts(ctx, r)
	d := boardData{Live: live}
	if err != nil {
		s.log.Error("list alerts", "err", err)
		d.Error = "error.unavailable"
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
	d.Fingerprint = fingerprint(list)
	return d
}

func fingerprint(list []alert) string {
	h := sha256.New()
	for _, a := range list {
		fmt.Fprintf(h, "%s|%s|%s|%s|%s\n", a.ID, a.State, a.Assignee, a.Feedback, a.LastSeen)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
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
	body := map[string]string{}
	for _, k := range []string{"assignee", "note", "reason", "duration", "feedback"} {
		if v := strings.TrimSpace(r.FormValue(k)); v != "" {
			body[k] = v
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

// alertEvents streams a "changed" event whenever the board would look
// different, so that open boards refresh at once and announce new alerts.
// The alerts subsystem keeps its state in ClickHouse; a cheap poll of it
// here spares it a fan-out of its own.
func (s *Server) alertEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	ctx := r.Context()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := r.URL.Query().Get("fp")
	lastOpen := -1
	beat := time.Now()
	fmt.Fprint(w, "retry: 3000\n\n")
	fl.Flush()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		d := s.board(ctx, r)
		if d.Error == "" && d.Fingerprint != last {
			newAlert := lastOpen >= 0 && len(d.Open) > lastOpen
			fmt.Fprintf(w, "event: changed\ndata: {\"fp\":%q,\"open\":%d,\"new\":%t}\n\n", d.Fingerprint, len(d.Open), newAlert)
			fl.Flush()
			last, beat = d.Fingerprint, time.Now()
		} else if time.Since(beat) > 15*time.Second {
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
			beat = time.Now()
		}
		if d.Error == "" {
			lastOpen = len(d.Open)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
