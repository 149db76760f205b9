package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/netpulse/netpulse/access"
)

// decodeList reads an API answer that is either a JSON array or an object
// holding the array under key.
func decodeList(raw []byte, key string) ([]map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	var out []map[string]any
	if len(raw) > 0 && raw[0] == '[' {
		err := json.Unmarshal(raw, &out)
		return out, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if v, ok := m[key]; ok {
		err := json.Unmarshal(v, &out)
		return out, err
	}
	return nil, nil
}

// flatten lifts nested objects (a source's "health") to dotted keys so
// that one table shows them.
func flatten(rows []map[string]any) []map[string]any {
	out := make([]map[string]any, len(rows))
	for i, row := range rows {
		f := map[string]any{}
		for k, v := range row {
			if m, ok := v.(map[string]any); ok {
				for k2, v2 := range m {
					if _, nested := v2.(map[string]any); !nested {
						f[k+"."+k2] = v2
					}
				}
				continue
			}
			f[k] = v
		}
		out[i] = f
	}
	return out
}

var sourceColumns = []string{"name", "title", "kind", "url", "enabled", "interval", "health.last_success_at",
	"health.failing", "health.consecutive_failures", "health.posts_total", "health.last_error"}

// venueDelivery is a venue's delivery accounting from the intake API.
type venueDelivery struct {
	Venue        string    `json:"venue"`
	LastDelivery time.Time `json:"last_delivery"`
	LastHour     uint64    `json:"last_hour"`
	Arrived24h   uint64    `json:"arrived_24h"`
	Late24h      uint64    `json:"late_24h"`
	P95DelayS    float64   `json:"p95_delay_s"`
	Silent       bool      `json:"silent"`
}

type adminData struct {
	Venues     []access.Venue
	Delivery   map[string]venueDelivery
	Sources    []map[string]any
	SourceCols []string
	Error      string
	SrcError   string
	NewKey     string
	NewKeyFor  string
	FormError  string
	// DeadLetters is how many messages the dead-letter topic holds; -1
	// when unknown.
	DeadLetters int64
}

func (s *Server) adminData(r *http.Request) adminData {
	d := adminData{DeadLetters: -1}
	var err error
	if s.dead != nil {
		if n, err := s.dead(r.Context()); err == nil {
			d.DeadLetters = n
		} else {
			s.logFailure(r, slog.LevelWarn, "count dead letters", "err", err)
		}
	}
	if d.Venues, err = s.access.Venues(r.Context()); err != nil {
		s.logFailure(r, slog.LevelError, "list venues", "err", err)
		d.Error = "error.unavailable"
	}
	var dl struct {
		Venues []venueDelivery `json:"venues"`
	}
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/intake/deliveries", nil, nil, nil, &dl); err != nil {
		s.logFailure(r, slog.LevelWarn, "venue deliveries", "err", err)
	}
	d.Delivery = map[string]venueDelivery{}
	for _, v := range dl.Venues {
		d.Delivery[v.Venue] = v
	}
	var raw []byte
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/sources", nil, nil, nil, &raw); err != nil {
		d.SrcError = apiErrorKey(err)
	} else if rows, err := decodeList(raw, "sources"); err != nil {
		d.SrcError = "error.unavailable"
	} else {
		// Health is served apart; show it on the source's row.
		var hraw []byte
		if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/sources/health", nil, nil, nil, &hraw); err == nil {
			if hs, err := decodeList(hraw, "sources"); err == nil {
				byName := map[string]map[string]any{}
				for _, h := range hs {
					if n, ok := h["source"].(string); ok {
						byName[n] = h
					}
				}
				for _, row := range rows {
					if n, ok := row["name"].(string); ok && byName[n] != nil {
						row["health"] = byName[n]
					}
				}
			}
		}
		d.Sources = flatten(rows)
		d.SourceCols = columnsOf(d.Sources, sourceColumns)
		d.SourceCols = keepOnly(d.SourceCols, sourceColumns)
	}
	return d
}

func keepOnly(cols, allowed []string) []string {
	var out []string
	for _, c := range cols {
		for _, a := range allowed {
			if c == a {
				out = append(out, c)
			}
		}
	}
	return out
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "admin", "nav.admin", s.adminData(r))
}

func (s *Server) adminAddVenue(w http.ResponseWriter, r *http.Request) {
	v := access.Venue{Code: strings.TrimSpace(r.FormValue("code")), Kind: r.FormValue("kind"),
		Name: strings.TrimSpace(r.FormValue("name")), District: strings.TrimSpace(r.FormValue("district")),
		Unit: strings.TrimSpace(r.FormValue("unit"))}
	key, err := s.access.AddVenue(r.Context(), v)
	d := s.adminData(r)
	switch {
	case errors.Is(err, access.ErrExists):
		d.FormError = "admin.venue_exists"
	case err != nil:
		d.FormError = "admin.venue_invalid"
	default:
		d.NewKey, d.NewKeyFor = key, v.Code
		d.Venues, _ = s.access.Venues(r.Context())
	}
	s.Fragment(w, r, "admin", "venues", d)
}

func (s *Server) adminRotateKey(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	key, err := s.access.RotateVenueKey(r.Context(), code)
	d := s.adminData(r)
	if err != nil {
		d.FormError = "error.not_found"
	} else {
		d.NewKey, d.NewKeyFor = key, code
	}
	s.Fragment(w, r, "admin", "venues", d)
}

func (s *Server) adminAddSource(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"name": strings.TrimSpace(r.FormValue("name")), "kind": r.FormValue("kind"),
		"url": strings.TrimSpace(r.FormValue("url")), "interval": r.FormValue("interval"), "enabled": true}
	b, _ := json.Marshal(body)
	err := s.api.call(r.Context(), r, http.MethodPost, "/api/v1/sources", nil,
		http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(b), nil)
	d := s.adminData(r)
	if err != nil {
		d.SrcError = apiErrorKey(err)
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusBadRequest {
			d.SrcError, d.FormError = "admin.source_invalid", ae.Msg
		}
	}
	s.Fragment(w, r, "admin", "sources", d)
}
