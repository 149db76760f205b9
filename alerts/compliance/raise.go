package compliance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Rule names: the alerts' rule field, and silence matchers.
const (
	RuleMinorCafe       = "compliance-minor-cafe"
	RuleMinorHotel      = "compliance-minor-hotel"
	RuleSharedID        = "compliance-shared-id"
	RuleTerminalOverlap = "compliance-terminal-overlap"
	RuleLongSession     = "compliance-long-session"
	RuleGap             = "compliance-registration-gap"
)

// Kind is the alerts' kind field for every compliance rule.
const Kind = "compliance"

// Rules lists every rule with its severity and Chinese name, for the
// pages and reports.
var Rules = []struct {
	Name, Severity, Title string
}{
	{RuleMinorCafe, lifecycle.SeverityCritical, "网吧接纳未成年人"},
	{RuleMinorHotel, lifecycle.SeverityCritical, "未成年人入住未登记监护人"},
	{RuleSharedID, lifecycle.SeverityWarning, "同一证件同时两处使用"},
	{RuleTerminalOverlap, lifecycle.SeverityWarning, "同一终端记录重叠"},
	{RuleLongSession, lifecycle.SeverityInfo, "上网超过24小时"},
	{RuleGap, lifecycle.SeverityWarning, "登记缺失"},
}

// alertKey is a compliance alert's key: the venue, then the window that
// raised it (an hour, or a day for registration gaps).
func alertKey(venue, window string) string { return "venue:" + venue + "/" + window }

// Subject is lifecycle.Options.Subject for compliance alerts: their key is
// alertKey's "venue:CODE/WINDOW", and a silence an officer sets on one of
// them covers that venue and rule for the silence's time, not only the
// window that raised it.
func Subject(rule, key string) (string, bool) {
	i := strings.LastIndexByte(key, '/')
	if !isRule(rule) || !strings.HasPrefix(key, "venue:") || i < 0 {
		return "", false
	}
	return key[:i+1], true
}

func isRule(name string) bool { return severity(name) != "" }

// severity is rule's severity, "" for a rule that is not a compliance rule.
func severity(rule string) string {
	for _, r := range Rules {
		if r.Name == rule {
			return r.Severity
		}
	}
	return ""
}

// Session is the other session of an overlap, as an alert shows it.
type Session struct {
	Venue     string     `json:"venue"`
	VenueName string     `json:"venue_name,omitempty"`
	Place     string     `json:"place"`
	RecordID  string     `json:"record_id"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// Violation is one breach of a rule. Identity numbers appear masked only;
// the full number is one audited reveal away through the record id.
type Violation struct {
	ID         string     `json:"id"`
	Rule       string     `json:"-"`
	Venue      string     `json:"venue"`
	Place      string     `json:"place"`
	RecordID   string     `json:"record_id"`
	IDMasked   string     `json:"id_masked"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	ReceivedAt time.Time  `json:"received_at"`
	Age        *int       `json:"age,omitempty"`
	Late       bool       `json:"late,omitempty"`
	Other      *Session   `json:"other,omitempty"`
}

// MaxListed is how many violations an alert lists; it counts them all.
const MaxListed = 50

// Payload is a compliance alert's payload.
type Payload struct {
	Check       string      `json:"check"`
	Venue       string      `json:"venue"`
	VenueName   string      `json:"venue_name"`
	VenueKind   string      `json:"venue_kind"`
	WindowStart time.Time   `json:"window_start"`
	WindowEnd   time.Time   `json:"window_end"`
	Count       int         `json:"count"`
	Late        int         `json:"late"`
	Violations  []Violation `json:"violations"`
	Seen        []string    `json:"seen"`
	Gap         *Gap        `json:"gap,omitempty"`
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// pairID names a conflict between two records whichever arrives first.
func pairID(rule, a, b string) string {
	if a > b {
		a, b = b, a
	}
	return hash(rule, a, b)
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (c *Checker) violation(rule string, r *Record, other *Session, age int, late bool) Violation {
	v := Violation{ID: hash(rule, r.RecordID), Rule: rule, Venue: r.Venue, Place: r.Place, RecordID: r.RecordID,
		IDMasked: r.IDMasked, StartedAt: r.StartedAt, EndedAt: ptr(r.EndedAt), ReceivedAt: r.ReceivedAt, Late: late, Other: other}
	if rule == RuleMinorCafe || rule == RuleMinorHotel {
		v.Age = &age
	}
	return v
}

// pairViolation is a conflict of two sessions, told at the venue of the
// one that started later: that venue admitted a card already in use, or
// started a terminal still taken.
func (c *Checker) pairViolation(rule string, a, b *session, late bool) Violation {
	if b.start.After(a.start) || b.start.Equal(a.start) && b.rec > a.rec {
		a, b = b, a
	}
	v := Violation{ID: pairID(rule, a.rec, b.rec), Rule: rule, Venue: a.venue, Place: a.place, RecordID: a.rec,
		IDMasked: a.idMasked, StartedAt: a.start, EndedAt: ptr(a.end), ReceivedAt: a.received, Late: late,
		Other: &Session{Venue: b.venue, Place: b.place, RecordID: b.rec, StartedAt: b.start, EndedAt: ptr(b.end)}}
	return v
}

// window is the start of the window holding t, aligned on China time.
func (c *Checker) window(t time.Time) time.Time {
	w := int64(c.o.Window / time.Second)
	const off = 8 * 3600
	return time.Unix(((t.Unix()+off)/w)*w-off, 0).UTC()
}

// alertID finds the alert a violation of rule at venue in window belongs
// to: the window's alert, or while that is resolved, its follow-up. known
// reports whether the violation is already in one of them.
func (c *Checker) alertID(rule, venue string, window time.Time, vid string) (id string, known bool, err error) {
	id = "cp-" + hash(rule, venue, window.Format(time.RFC3339))
	for range 100 {
		a, ok := c.o.Raiser.Get(id)
		if !ok {
			return id, false, nil
		}
		if vid != "" && len(a.Payload) > 0 {
			var p struct {
				Seen []string `json:"seen"`
			}
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				return "", false, fmt.Errorf("compliance: payload of %s: %w", id, err)
			}
			if slices.Contains(p.Seen, vid) {
				return id, true, nil
			}
		}
		if a.State != lifecycle.StateResolved || a.ResolvedAt == nil {
			return id, false, nil
		}
		id = "cp-" + hash(id, a.ResolvedAt.UTC().Format(time.RFC3339Nano))
	}
	return id, false, nil
}

// raise folds v into its window's alert, or opens it.
func (c *Checker) raise(ctx context.Context, v Violation) error {
	c.raiseMu.Lock()
	defer c.raiseMu.Unlock()
	venue, err := c.o.Venue(ctx, v.Venue)
	if err != nil || venue.Code == "" {
		venue = Venue{Code: v.Venue}
	}
	if v.Other != nil && v.Other.Venue != v.Venue {
		if ov, err := c.o.Venue(ctx, v.Other.Venue); err == nil {
			v.Other.VenueName = ov.Name
		}
	}
	win := c.window(v.StartedAt)
	id, known, err := c.alertID(v.Rule, v.Venue, win, v.ID)
	if err != nil || known {
		return err // known: a replay, or a conflict seen from its other side
	}
	p := Payload{Check: v.Rule, Venue: v.Venue, VenueName: venue.Name, VenueKind: venue.Kind, WindowStart: win,
		WindowEnd: win.Add(c.o.Window)}
	if a, ok := c.o.Raiser.Get(id); ok && len(a.Payload) > 0 {
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			return fmt.Errorf("compliance: payload of %s: %w", id, err)
		}
	}
	p.Seen = append(p.Seen, v.ID)
	p.Count = len(p.Seen)
	if v.Late {
		p.Late++
	}
	if len(p.Violations) < MaxListed {
		p.Violations = append(p.Violations, v)
	}
	c.violations.WithLabelValues(v.Rule).Inc()
	unit := venue.Unit
	if unit == "" {
		unit = c.o.Unit
	}
	_, _, err = c.o.Raiser.Raise(ctx, lifecycle.Signal{ID: id, Rule: v.Rule, Kind: Kind,
		Key: alertKey(v.Venue, win.In(identity.ChinaTime).Format("20060102T1504")), Severity: severity(v.Rule),
		Unit: unit, Title: title(venue, &p, &v), Payload: p, At: c.o.Now().UTC(), Occurrences: p.Count})
	if err != nil {
		return fmt.Errorf("compliance: raise %s at %s: %w", v.Rule, v.Venue, err)
	}
	return nil
}

func clock(t time.Time) string { return t.In(identity.ChinaTime).Format("01月02日 15:04") }

// title is the alert's Chinese title: the venue, what happened how often,
// and the latest case with its place, time and masked number.
func title(venue Venue, p *Payload, v *Violation) string {
	label := venue.Code
	if venue.Name != "" {
		label = venue.Name + "（" + venue.Code + "）"
	}
	prefix := ""
	switch {
	case p.Late == p.Count:
		prefix = "【补报】"
	case p.Late > 0:
		prefix = "【含补报】"
	}
	place := "终端 " + v.Place
	if venue.Kind == "hotel" || v.Rule == RuleMinorHotel {
		place = "房间 " + v.Place
	}
	latest := fmt.Sprintf("最近：%s，%s 起，证件 %s", place, clock(v.StartedAt), v.IDMasked)
	if v.Age != nil {
		latest += fmt.Sprintf("，%d 周岁", *v.Age)
	}
	var what string
	switch v.Rule {
	case RuleMinorCafe:
		what = fmt.Sprintf("接纳未成年人上网 %d 人次", p.Count)
	case RuleMinorHotel:
		what = fmt.Sprintf("未成年人入住未登记监护人联系方式及关系 %d 人次", p.Count)
	case RuleSharedID:
		what = fmt.Sprintf("同一证件同时在两处上网 %d 起", p.Count)
		if o := v.Other; o != nil {
			where := "本场所"
			if o.Venue != v.Venue {
				where = o.Venue
				if o.VenueName != "" {
					where = o.VenueName + "（" + o.Venue + "）"
				}
			}
			latest += fmt.Sprintf("，同时在%s终端 %s（%s 起）", where, o.Place, clock(o.StartedAt))
		}
	case RuleTerminalOverlap:
		what = fmt.Sprintf("同一终端上一记录未结束即开始新记录 %d 起", p.Count)
		if o := v.Other; o != nil {
			latest += fmt.Sprintf("，上一记录 %s 起", clock(o.StartedAt))
		}
	case RuleLongSession:
		what = fmt.Sprintf("单次上网超过 24 小时 %d 起", p.Count)
		if v.EndedAt != nil {
			latest += fmt.Sprintf("，时长 %.1f 小时", v.EndedAt.Sub(v.StartedAt).Hours())
		} else {
			latest += "，报送时仍未下机"
		}
	default:
		what = fmt.Sprintf("%s %d 起", v.Rule, p.Count)
	}
	return prefix + label + " " + what + "（" + latest + "）"
}
