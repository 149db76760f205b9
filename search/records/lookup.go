package records

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// An exact-identity lookup is a reveal-class act: the mask shows the area
// code and the last four characters, so a few hundred exact searches over
// candidate birth dates find the number behind a mask. Lookups are
// therefore limited per user in distinct candidates (a repeat of a
// candidate is free), and a user who reaches AlertAt distinct candidates in
// a window raises an alert for the auditors. An exact name is a candidate
// too: the name mask (王*) falls to guessed given names the same way.

// LookupLimit configures the limit. Zero values take the defaults.
type LookupLimit struct {
	Distinct int           // distinct candidates per user and window; default 30
	Window   time.Duration // default 1h
	AlertAt  int           // distinct candidates that raise the alert; default 20
}

// LookupPattern is what the auditors are told.
type LookupPattern struct {
	Actor    string // the user, or "case:REF (user)" when a case's shared budget is reached
	Role     string
	Unit     string
	Distinct int
	Window   time.Duration
	Refused  bool // the user also hit the limit
	At       time.Time
}

// PrivacyAlert is an alert about personal-data use as the audit API shows
// it to auditors.
type PrivacyAlert struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	State       string    `json:"state"`
	OpenedAt    time.Time `json:"opened_at"`
	LastSeen    time.Time `json:"last_seen"`
	Occurrences int       `json:"occurrences"`
}

// PrivacyAlerts is the seam to the alert lifecycle (serve wires it): raise
// a lookup pattern, and list the privacy alerts for the audit page.
type PrivacyAlerts interface {
	RaiseLookups(ctx context.Context, p LookupPattern) error
	PrivacyAlerts(ctx context.Context) ([]PrivacyAlert, error)
}

type lookupLimiter struct {
	o LookupLimit

	mu    sync.Mutex
	users map[string]*userLookups
	calls int
}

type userLookups struct {
	seen    map[string]time.Time // candidate hash → first lookup in the window
	alerted time.Time
}

func newLookupLimiter(o LookupLimit) *lookupLimiter {
	if o.Distinct <= 0 {
		o.Distinct = 30
	}
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.AlertAt <= 0 || o.AlertAt > o.Distinct {
		o.AlertAt = min(20, o.Distinct)
	}
	return &lookupLimiter{o: o, users: map[string]*userLookups{}}
}

// lookupVerdict is the limiter's answer for one lookup.
type lookupVerdict struct {
	ok       bool
	retry    time.Duration // when refused: until the oldest candidate leaves the window
	distinct int           // distinct candidates in the window, this one included
	alert    bool          // the pattern threshold was reached now
}

// check records a lookup of candidate (its keyed hash) by actor at now.
func (l *lookupLimiter) check(actor, candidate string, now time.Time) lookupVerdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%1024 == 0 {
		l.sweep(now)
	}
	u := l.users[actor]
	if u == nil {
		u = &userLookups{seen: map[string]time.Time{}}
		l.users[actor] = u
	}
	oldest := now
	for c, at := range u.seen {
		if now.Sub(at) >= l.o.Window {
			delete(u.seen, c)
		} else if at.Before(oldest) {
			oldest = at
		}
	}
	if _, again := u.seen[candidate]; again {
		return lookupVerdict{ok: true, distinct: len(u.seen)}
	}
	if len(u.seen) >= l.o.Distinct {
		v := lookupVerdict{retry: oldest.Add(l.o.Window).Sub(now), distinct: len(u.seen) + 1}
		if now.Sub(u.alerted) >= l.o.Window {
			u.alerted, v.alert = now, true
		}
		return v
	}
	u.seen[candidate] = now
	v := lookupVerdict{ok: true, distinct: len(u.seen)}
	if len(u.seen) >= l.o.AlertAt && now.Sub(u.alerted) >= l.o.Window {
		u.alerted, v.alert = now, true
	}
	return v
}

// sweep forgets users with nothing left in the window, so the map does not
// grow with every user that ever looked someone up.
func (l *lookupLimiter) sweep(now time.Time) {
	for a, u := range l.users {
		live := false
		for _, at := range u.seen {
			if now.Sub(at) < l.o.Window {
				live = true
				break
			}
		}
		if !live && now.Sub(u.alerted) >= l.o.Window {
			delete(l.users, a)
		}
	}
}

// auditedLookups are the distinct exact candidates (identity-number
// hashes, and name hashes prefixed "name:", as candidates spells them) that
// the audit log shows looked up in the window, by one user and under one
// case reference. The audit log is shared by every api node, while each
// node's lookupLimiter sees only its own requests: this is what holds the
// budgets across nodes behind a load balancer.
type auditedLookups struct{ byActor, byCase map[string]bool }

// storedCandidates reads the auditedLookups of actor and caseRef since
// since, in one pass over the audit log.
func (a *API) storedCandidates(ctx context.Context, actor, caseRef string, since time.Time) (auditedLookups, error) {
	var rows []struct {
		C    string `json:"c"`
		Mine uint8  `json:"mine"`
		Ours uint8  `json:"ours"`
	}
	err := a.Search.db.Select(ctx, &rows, `SELECT c, max(actor = ?) AS mine, max(case_ref = ?) AS ours FROM (
		SELECT actor, case_ref, arrayJoin([JSONExtractString(filter, 'id_hash'),
			if(JSONExtractString(filter, 'name_hash') = '', '', concat('name:', JSONExtractString(filter, 'name_hash')))]) AS c
		FROM netpulse.audit_log WHERE (actor = ? OR case_ref = ?) AND at >= ? AND outcome = 'ok')
		WHERE c != '' GROUP BY c`, actor, caseRef, actor, caseRef, since)
	if err != nil {
		return auditedLookups{}, fmt.Errorf("records: lookups in the audit log: %w", err)
	}
	seen := auditedLookups{byActor: map[string]bool{}, byCase: map[string]bool{}}
	for _, r := range rows {
		if r.Mine == 1 {
			seen.byActor[r.C] = true
		}
		if r.Ours == 1 {
			seen.byCase[r.C] = true
		}
	}
	return seen, nil
}

// sharedBudget judges candidate against the lookups audited in one budget
// (seen) and, when it passes, counts it there, so that a second new
// candidate of the same request is judged with the first. Two nodes
// answering at the same instant can let a lookup or two past the limit;
// the local limiter still holds exactly on each node.
func (a *API) sharedBudget(seen map[string]bool, candidate string) lookupVerdict {
	if seen[candidate] {
		return lookupVerdict{ok: true, distinct: len(seen)}
	}
	if len(seen) >= a.limiter.o.Distinct {
		return lookupVerdict{retry: a.limiter.o.Window, distinct: len(seen) + 1}
	}
	seen[candidate] = true
	return lookupVerdict{ok: true, distinct: len(seen)}
}
