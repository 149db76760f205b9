package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	srecords "github.com/netpulse/netpulse/search/records"
)

// lookupRule is the alert rule of identity-lookup patterns.
const lookupRule = "identity-lookups"

// privacyAlerts raises the records API's lookup patterns through the alert
// lifecycle (stored, on the board, notified) and lists them for the audit
// API. It reads a.alerts at call time: wireAlerts sets it after the records
// API is wired.
type privacyAlerts struct{ a *app }

func (p privacyAlerts) mgr() (*lifecycle.Manager, error) {
	if p.a.alerts == nil {
		return nil, errors.New("no alert lifecycle on this node")
	}
	return p.a.alerts, nil
}

func (p privacyAlerts) RaiseLookups(ctx context.Context, lp srecords.LookupPattern) error {
	m, err := p.mgr()
	if err != nil {
		return err
	}
	title := fmt.Sprintf("身份精确查询异常：%s 在 %s 内查询了 %d 个不同的证件号码或姓名", lp.Actor, lp.Window, lp.Distinct)
	if lp.Refused {
		title += "（已达上限被拒绝）"
	}
	_, _, err = m.Raise(ctx, lifecycle.Signal{Rule: lookupRule, Kind: "privacy", Key: "actor:" + lp.Actor,
		Severity: lifecycle.SeverityCritical, Unit: lp.Unit, Title: title, At: lp.At, Realert: lp.Window,
		Payload: map[string]any{"actor": lp.Actor, "role": lp.Role, "distinct": lp.Distinct, "window": lp.Window.String(), "refused": lp.Refused}})
	return err
}

func (p privacyAlerts) PrivacyAlerts(context.Context) ([]srecords.PrivacyAlert, error) {
	m, err := p.mgr()
	if err != nil {
		return []srecords.PrivacyAlert{}, nil
	}
	as := m.List(lifecycle.Filter{Rule: lookupRule})
	out := make([]srecords.PrivacyAlert, 0, len(as))
	for _, a := range as {
		out = append(out, srecords.PrivacyAlert{ID: a.ID, Title: a.Title, State: a.State, OpenedAt: a.OpenedAt,
			LastSeen: a.LastSeen, Occurrences: a.Occurrences})
	}
	return out, nil
}
