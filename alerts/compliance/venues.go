package compliance

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/jsonapi"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Venue statuses on the duty officer's venue page.
const (
	StatusNormal    = "normal"
	StatusSilent    = "silent"    // the flatline rule has an open alert for it
	StatusViolation = "violation" // it has an unresolved compliance alert
)

// VenueStatus is one line of the venue page.
//
//	{"venue":"JA-C01","name":"星河网咖","kind":"cafe","unit":"…","open_sessions":12,
//	 "last_received":"…"|null,"violations_today":3,"violations_month":9,
//	 "open_alerts":1,"silent":false,"status":"normal|silent|violation"}
type VenueStatus struct {
	Venue           string     `json:"venue"`
	Name            string     `json:"name"`
	Kind            string     `json:"kind"`
	Unit            string     `json:"unit"`
	OpenSessions    uint64     `json:"open_sessions"`
	LastReceived    *time.Time `json:"last_received"`
	ViolationsToday uint64     `json:"violations_today"`
	ViolationsMonth uint64     `json:"violations_month"`
	OpenAlerts      uint64     `json:"open_alerts"`
	Silent          bool       `json:"silent"`
	Status          string     `json:"status"`
}

// VenueStatuses lists every registered venue of unit ("" = all) as of
// now. Violations count each violation once, by the day (China time) its
// alert opened; a session without an end counts as open for maxOpen.
func VenueStatuses(ctx context.Context, db Store, unit string, now time.Time, maxOpen time.Duration) ([]VenueStatus, error) {
	y, m, d := now.In(identity.ChinaTime).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, identity.ChinaTime).UTC()
	month := time.Date(y, m, 1, 0, 0, 0, 0, identity.ChinaTime).UTC()
	var rows []struct {
		VenueStatus
		Last   time.Time `json:"last"`
		Silent uint8     `json:"silent_n"`
	}
	err := db.Select(ctx, &rows, `
SELECT v.code AS venue, v.name AS name, v.kind AS kind, v.unit AS unit,
       r.open_sessions AS open_sessions, l.last AS last,
       a.today AS violations_today, a.month AS violations_month, a.open_alerts AS open_alerts,
       toUInt8(f.n > 0) AS silent_n
FROM (SELECT code, name, kind, unit FROM netpulse.venues FINAL WHERE revoked = 0 AND (? = '' OR unit = ?)) AS v
LEFT JOIN (
    SELECT venue, count() AS open_sessions FROM netpulse.access_records FINAL
    WHERE started_at >= ? AND started_at <= ? AND toUnixTimestamp64Milli(ended_at) <= 0 GROUP BY venue
) AS r ON r.venue = v.code
LEFT JOIN (SELECT venue, max(received_at) AS last FROM netpulse.access_records GROUP BY venue) AS l ON l.venue = v.code
LEFT JOIN (
    SELECT extract(dedup_key, '^venue:([^/]+)') AS venue,
           sumIf(occurrences, opened_at >= ?) AS today, sum(occurrences) AS month,
           countIf(state != 'resolved') AS open_alerts
    FROM netpulse.alerts FINAL WHERE kind = 'compliance' AND (opened_at >= ? OR state != 'resolved') GROUP BY venue
) AS a ON a.venue = v.code
LEFT JOIN (
    SELECT substring(dedup_key, 7) AS venue, count() AS n FROM netpulse.alerts FINAL
    WHERE kind = 'flatline' AND state != 'resolved' AND startsWith(dedup_key, 'venue:') GROUP BY venue
) AS f ON f.venue = v.code
ORDER BY v.code
SETTINGS join_use_nulls = 0`, unit, unit, now.Add(-maxOpen), now, today, month)
	if err != nil {
		return nil, fmt.Errorf("compliance: venue statuses: %w", err)
	}
	out := make([]VenueStatus, len(rows))
	for i, r := range rows {
		s := r.VenueStatus
		if r.Last.Unix() > 0 {
			t := r.Last.UTC()
			s.LastReceived = &t
		}
		s.Silent = r.Silent != 0
		switch {
		case s.OpenAlerts > 0:
			s.Status = StatusViolation
		case s.Silent:
			s.Status = StatusSilent
		default:
			s.Status = StatusNormal
		}
		out[i] = s
	}
	return out, nil
}

// venueScope is the unit whose venues p may list, asked for asked ("" for
// all): a duty officer or leader of a unit sees that unit's whatever they
// ask; one without a unit sees none (none), as with alerts; district-wide
// roles and units see the unit they ask for, or all.
func venueScope(p access.Principal, asked string) (unit string, none bool) {
	if p.Role == "" {
		return "", true
	}
	if own, scoped := p.UnitScope(); scoped {
		return own, own == ""
	}
	return asked, false
}

// Mount serves GET /api/v1/compliance/venues, the venue page's data:
// {"unit":"…","venues":[VenueStatus…]}, scoped as venueScope says.
func Mount(mux *http.ServeMux, read func(http.Handler) http.Handler, db Store, maxOpen time.Duration, log *slog.Logger) {
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpen
	}
	mux.Handle("GET /api/v1/compliance/venues", read(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := access.FromContext(r.Context())
		unit, none := venueScope(p, r.URL.Query().Get("unit"))
		if none {
			jsonapi.Write(w, http.StatusOK, map[string]any{"unit": unit, "venues": []VenueStatus{}})
			return
		}
		vs, err := VenueStatuses(r.Context(), db, unit, time.Now(), maxOpen)
		if err != nil {
			jsonapi.Fail(w, log, err, "venue statuses")
			return
		}
		jsonapi.Write(w, http.StatusOK, map[string]any{"unit": unit, "venues": vs})
	})))
}
