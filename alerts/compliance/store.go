package compliance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/privacy/identity"
)

type storedSession struct {
	RecordID   string    `json:"record_id"`
	Venue      string    `json:"venue"`
	Place      string    `json:"place"`
	IDHash     string    `json:"id_hash"`
	IDMasked   string    `json:"id_masked"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	ReceivedAt time.Time `json:"received_at"`
}

func (s storedSession) session(now time.Time) *session {
	end := s.EndedAt.UTC()
	if end.Unix() <= 0 {
		end = time.Time{}
	}
	return &session{rec: s.RecordID, venue: s.Venue, place: s.Place, idHash: s.IDHash, idMasked: s.IDMasked,
		start: s.StartedAt.UTC(), end: end, received: s.ReceivedAt.UTC(), seen: now}
}

const sessionCols = `record_id, venue, place, id_hash, id_masked, started_at, ended_at, received_at`

// reach is how long before a session's start another may have started and
// still overlap it.
func (c *Checker) reach() time.Duration { return max(c.o.MaxOpen, 2*c.o.LongSession) }

// storedNeighbours reads the café sessions of s's identity or terminal
// that may overlap it. Callers hold c.mu.
func (c *Checker) storedNeighbours(ctx context.Context, s *session) ([]*session, error) {
	var rows []storedSession
	if err := c.o.DB.Select(ctx, &rows, `SELECT `+sessionCols+` FROM netpulse.access_records FINAL
		WHERE kind = 'cafe' AND started_at >= ? AND started_at < ? AND record_id != ?
		  AND (id_hash = ? OR (venue = ? AND place = ?))`,
		s.start.Add(-c.reach()), c.end(s.start, s.end), s.rec, s.idHash, s.venue, s.place); err != nil {
		return nil, fmt.Errorf("compliance: sessions near %s: %w", s.rec, err)
	}
	out := make([]*session, len(rows))
	for i, r := range rows {
		out[i] = r.session(s.seen)
	}
	return out, nil
}

// Load fills the memory from the store: the café sessions open now or
// ended within the horizon, and re-derives their conflicts. Conflicts
// already raised are recognised as such; those resting on an open session
// wait the grace again. Call it before the first Process.
func (c *Checker) Load(ctx context.Context) error {
	if c.o.DB == nil {
		return errors.New("compliance: Load needs a DB")
	}
	now := c.o.Now().UTC()
	horizon := now.Add(-c.o.Horizon)
	var rows []storedSession
	if err := c.o.DB.Select(ctx, &rows, `SELECT `+sessionCols+` FROM netpulse.access_records FINAL
		WHERE kind = 'cafe' AND started_at >= ? AND started_at <= ?
		  AND (toUnixTimestamp64Milli(ended_at) <= 0 AND started_at >= ? OR ended_at >= ?)`,
		horizon.Add(-c.reach()), now.Add(time.Hour), horizon.Add(-c.o.MaxOpen), horizon); err != nil {
		return fmt.Errorf("compliance: load sessions: %w", err)
	}
	var out []Violation
	c.mu.Lock()
	for _, r := range rows {
		c.put(r.session(now))
	}
	for _, s := range c.byRec {
		out = append(out, c.compare(s, c.byID[s.idHash], c.byPlace[s.venue+"\x00"+s.place], horizon)...)
	}
	c.mu.Unlock()
	var errs []error
	for _, v := range out {
		errs = append(errs, c.raise(ctx, v))
	}
	return errors.Join(errs...)
}

// Gap is a venue's intake of one China day.
type Gap struct {
	Day          string  `json:"day"`
	Accepted     uint64  `json:"accepted"`
	Rejected     uint64  `json:"rejected"`
	Missing      uint64  `json:"missing_identity"` // refused for a missing identity number or type
	Share        float64 `json:"rejected_share"`
	MissingShare float64 `json:"missing_share"`
}

// Gaps raises, for each venue whose rejected rows or rows without an
// identity pass their threshold today, one alert for the day that grows
// with the refused rows.
func (c *Checker) Gaps(ctx context.Context) error {
	now := c.o.Now()
	y, m, d := now.In(identity.ChinaTime).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, identity.ChinaTime).UTC()
	var rows []struct {
		Venue    string `json:"venue"`
		Accepted uint64 `json:"accepted"`
		Rejected uint64 `json:"rejected"`
		Missing  uint64 `json:"missing"`
	}
	if err := c.o.DB.Select(ctx, &rows, `SELECT venue, sum(acc) AS accepted, sum(rej) AS rejected, sum(miss) AS missing FROM (
		SELECT venue, toUInt64(uniqExact(record_id)) AS acc, toUInt64(0) AS rej, toUInt64(0) AS miss
		FROM netpulse.access_records WHERE received_at >= ? AND received_at < ? GROUP BY venue
		UNION ALL
		SELECT venue, toUInt64(0) AS acc, toUInt64(uniqExact(batch_id, row)) AS rej,
		       toUInt64(uniqExactIf((batch_id, row), match(errors, '"field":"id_(number|type)","reason":"required'))) AS miss
		FROM netpulse.intake_quarantine WHERE received_at >= ? AND received_at < ? GROUP BY venue
	) GROUP BY venue ORDER BY venue`, day, day.Add(24*time.Hour), day, day.Add(24*time.Hour)); err != nil {
		return fmt.Errorf("compliance: day's intake: %w", err)
	}
	var errs []error
	for _, r := range rows {
		total := r.Accepted + r.Rejected
		if total == 0 || int(total) < c.o.GapMinRows {
			continue
		}
		g := Gap{Day: day.In(identity.ChinaTime).Format("2006-01-02"), Accepted: r.Accepted, Rejected: r.Rejected, Missing: r.Missing,
			Share: float64(r.Rejected) / float64(total), MissingShare: float64(r.Missing) / float64(total)}
		if g.Share < c.o.GapRejectShare && g.MissingShare < c.o.GapMissingShare {
			continue
		}
		errs = append(errs, c.raiseGap(ctx, r.Venue, day, g))
	}
	return errors.Join(errs...)
}

func (c *Checker) raiseGap(ctx context.Context, code string, day time.Time, g Gap) error {
	c.raiseMu.Lock()
	defer c.raiseMu.Unlock()
	venue, err := c.o.Venue(ctx, code)
	if err != nil || venue.Code == "" {
		venue = Venue{Code: code}
	}
	label := venue.Code
	if venue.Name != "" {
		label = venue.Name + "（" + venue.Code + "）"
	}
	unit := venue.Unit
	if unit == "" {
		unit = c.o.Unit
	}
	p := Payload{Check: RuleGap, Venue: code, VenueName: venue.Name, VenueKind: venue.Kind, WindowStart: day,
		WindowEnd: day.Add(24 * time.Hour), Count: int(g.Rejected), Gap: &g, Violations: []Violation{}, Seen: []string{}}
	t := fmt.Sprintf("%s %s 登记缺失：拒收 %d/%d 条（%.0f%%），其中缺少证件 %d 条", label, g.Day, g.Rejected,
		g.Accepted+g.Rejected, 100*g.Share, g.Missing)
	id, _, err := c.alertID(RuleGap, code, day, "")
	if err != nil {
		return err
	}
	_, _, err = c.o.Raiser.Raise(ctx, lifecycle.Signal{ID: id, Rule: RuleGap, Kind: Kind,
		Key: alertKey(code, g.Day), Severity: severity(RuleGap), Unit: unit, Title: t, Payload: p,
		At: c.o.Now().UTC(), Occurrences: max(1, int(g.Rejected))})
	if err != nil {
		return fmt.Errorf("compliance: raise registration gap at %s: %w", code, err)
	}
	return nil
}
