package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// venueRow is one venue as the compliance venue API returns it.
type venueRow struct {
	Venue           string     `json:"venue"`
	Name            string     `json:"name"`
	Kind            string     `json:"kind"`
	OpenSessions    uint64     `json:"open_sessions"`
	LastReceived    *time.Time `json:"last_received"`
	ViolationsToday uint64     `json:"violations_today"`
	ViolationsMonth uint64     `json:"violations_month"`
	OpenAlerts      uint64     `json:"open_alerts"`
	Status          string     `json:"status"`
}

type venuesData struct {
	Unit      string
	Venues    []venueRow
	Violating int
	Silent    int
	Error     string
}

// venuesPage is the duty officer's venue page: every venue of the unit
// with its open sessions, last record, violations and status. It lists
// venues, never people.
func (s *Server) venuesPage(w http.ResponseWriter, r *http.Request) {
	var raw struct {
		Unit   string     `json:"unit"`
		Venues []venueRow `json:"venues"`
	}
	d := venuesData{}
	q := url.Values{}
	if u := r.URL.Query().Get("unit"); u != "" {
		q.Set("unit", u)
	}
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/compliance/venues", q, nil, nil, &raw); err != nil {
		s.logFailure(r, slog.LevelError, "venue statuses", "err", err)
		d.Error = apiErrorKey(err)
	}
	d.Unit, d.Venues = raw.Unit, raw.Venues
	for _, v := range d.Venues {
		switch v.Status {
		case "violation":
			d.Violating++
		case "silent":
			d.Silent++
		}
	}
	s.Render(w, r, http.StatusOK, "venues", "nav.venues", d)
}
