// Package lifecycle keeps the alerts duty officers handle: it opens them
// from signals (topic bursts, rule hits) with grouping by rule and key,
// silences and inhibition, takes them through open → acknowledged →
// resolved with notes, an assignee and an acknowledgement SLA that
// escalates, records every change in ClickHouse, and reports precision per
// rule from officers' feedback.
//
// JSON shapes of the API (all times RFC 3339 UTC):
//
//	Alert:
//	{"id":"trend-3f2a…","rule":"trends","kind":"topic","key":"topic:…",
//	 "severity":"warning","unit":"cyber-1","title":"突发话题：火灾 高架 浓烟",
//	 "state":"open|acknowledged|resolved","assignee":"li",
//	 "acked_by":"li","acked_at":"…","resolved_by":"li","resolved_at":"…","resolve_reason":"…",
//	 "opened_at":"…","last_seen":"…","occurrences":1,"escalated":false,"sla_due":"…"|null,
//	 "silenced_by":"<silence id or empty>","suppressed_by":"<topic alert id or empty>",
//	 "feedback":"useful|noise|","terms":["火灾",…],"term":"",
//	 "payload":{…kind-specific: topics trends.TopicPayload, compliance compliance.Payload…},
//	 "notes":[{"at":"…","by":"li","text":"…"}]}
//	Event (SSE data and webhook body):
//	{"type":"opened|updated|acknowledged|assigned|noted|resolved|escalated|feedback|silenced",
//	 "at":"…","actor":"li","alert":{Alert}}
//	Silence:
//	{"id":"…","matchers":{"rule":"flatline-venues","key":"venue:NB001"},"comment":"…",
//	 "created_by":"li","created_at":"…","expires_at":"…"}
//
// Matcher values match exactly, or as a prefix when they end in "*".
package lifecycle

import (
	"encoding/json"
	"strings"
	"time"
)

// States of an alert.
const (
	StateOpen     = "open"
	StateAcked    = "acknowledged"
	StateResolved = "resolved"
)

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// ValidSeverity reports whether s is a known severity.
func ValidSeverity(s string) bool {
	return s == SeverityInfo || s == SeverityWarning || s == SeverityCritical
}

// Signal is what a detector or rule reports; Raise turns it into an alert
// or folds it into an existing one.
type Signal struct {
	// ID, when set, makes raising idempotent: a detector that re-evaluates
	// after a crash derives the same ID and Raise changes nothing new.
	ID       string
	Rule     string
	Kind     string
	Key      string // dedup key within the rule
	Severity string
	Unit     string
	Title    string
	Terms    []string // a topic's terms: term alerts for them are inhibited
	Term     string   // the term a term-level alert is about
	Payload  any
	At       time.Time
	// Occurrences, with ID, is the detector's own count of what the alert
	// covers (a compliance window's violations): a re-raise with a larger
	// count grows the alert (count, title, payload, last seen) and one with
	// the same or a smaller count is a replay and changes nothing.
	Occurrences int
	// Realert is how long after an alert of the same rule and key was
	// opened a new one may open; within it, signals fold into the old one.
	Realert time.Duration
}

// Note is a free-text remark on an alert.
type Note struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Text string    `json:"text"`
}

// Alert is one alert as the API shows it.
type Alert struct {
	ID            string          `json:"id"`
	Rule          string          `json:"rule"`
	Kind          string          `json:"kind"`
	Key           string          `json:"key"`
	Severity      string          `json:"severity"`
	Unit          string          `json:"unit"`
	Title         string          `json:"title"`
	State         string          `json:"state"`
	Assignee      string          `json:"assignee"`
	AckedBy       string          `json:"acked_by"`
	AckedAt       *time.Time      `json:"acked_at"`
	ResolvedBy    string          `json:"resolved_by"`
	ResolvedAt    *time.Time      `json:"resolved_at"`
	ResolveReason string          `json:"resolve_reason"`
	OpenedAt      time.Time       `json:"opened_at"`
	LastSeen      time.Time       `json:"last_seen"`
	Occurrences   int             `json:"occurrences"`
	Escalated     bool            `json:"escalated"`
	SLADue        *time.Time      `json:"sla_due"` // acknowledgement deadline while open
	SilencedBy    string          `json:"silenced_by"`
	SuppressedBy  string          `json:"suppressed_by"`
	Feedback      string          `json:"feedback"`
	Terms         []string        `json:"terms"`
	Term          string          `json:"term"`
	Payload       json.RawMessage `json:"payload"`
	Notes         []Note          `json:"notes"`
}

// Quiet reports whether notifications for a are held back.
func (a *Alert) Quiet() bool { return a.SilencedBy != "" || a.SuppressedBy != "" }

func (a *Alert) clone() Alert {
	c := *a
	c.SLADue = nil
	c.Terms = append([]string(nil), a.Terms...)
	c.Notes = append([]Note(nil), a.Notes...)
	return c
}

// Event is one change to an alert, as subscribers (the live board, the
// notifiers) receive it.
type Event struct {
	Type  string    `json:"type"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Alert Alert     `json:"alert"`
	// Remote marks a change another node made, learnt by Follow: the live
	// board shows it, the notifiers leave it to the node that made it.
	Remote bool `json:"-"`
}

// Silence holds back notifications of matching alerts until it expires.
type Silence struct {
	ID        string            `json:"id"`
	Matchers  map[string]string `json:"matchers"`
	Comment   string            `json:"comment"`
	CreatedBy string            `json:"created_by"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// Matches reports whether every matcher of s matches a.
func (s *Silence) Matches(a *Alert) bool {
	if len(s.Matchers) == 0 {
		return false
	}
	for k, want := range s.Matchers {
		var got string
		switch k {
		case "rule":
			got = a.Rule
		case "key":
			got = a.Key
		case "kind":
			got = a.Kind
		case "severity":
			got = a.Severity
		case "unit":
			got = a.Unit
		case "term":
			got = a.Term
		case "id":
			got = a.ID
		default:
			return false
		}
		if p, ok := strings.CutSuffix(want, "*"); ok {
			if !strings.HasPrefix(got, p) {
				return false
			}
		} else if got != want {
			return false
		}
	}
	return true
}

// MatcherFields are the alert fields a silence may match on.
var MatcherFields = []string{"rule", "key", "kind", "severity", "unit", "term", "id"}

// Summary is the Chinese impact-and-direction paragraph a topic alert
// carries in its payload ("summary", see trends.TopicPayload), or "" for
// alerts without one. The board, the mail and the digest all show it.
func (a Alert) Summary() string {
	if len(a.Payload) == 0 {
		return ""
	}
	var p struct {
		Summary string `json:"summary"`
	}
	if json.Unmarshal(a.Payload, &p) != nil {
		return ""
	}
	return p.Summary
}
