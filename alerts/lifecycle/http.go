package lifecycle

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/netpulse/netpulse/access"
)

// Mount adds the alert API to mux. read guards the GET routes, write the
// changes (serve passes access.Require with the right roles).
//
//	GET  /api/v1/alerts?state=&rule=&severity=&unit=&assignee=&kind=&limit=  → {"alerts":[Alert…]}
//	GET  /api/v1/alerts/{id}                      → Alert
//	GET  /api/v1/alerts/{id}/history              → {"events":[{"type","at","actor","detail"}…]}
//	POST /api/v1/alerts/{id}/ack                  → Alert
//	POST /api/v1/alerts/{id}/assign   {"assignee":"li"}            → Alert
//	POST /api/v1/alerts/{id}/note     {"text":"…"}                 → Alert
//	POST /api/v1/alerts/{id}/resolve  {"reason":"…"}               → Alert
//	POST /api/v1/alerts/{id}/feedback {"value":"useful|noise"}     → Alert
//	POST /api/v1/alerts/{id}/silence  {"duration":"2h","comment":"…"} → Silence
//	GET  /api/v1/alerts/silences                  → {"silences":[Silence…]}
//	POST /api/v1/alerts/silences      {"matchers":{…},"expires_at":"…"|"duration":"2h","comment":"…"} → Silence
//	DELETE /api/v1/alerts/silences/{sid}          → 204
//	GET  /api/v1/alerts/precision?days=30         → {"rules":[{"rule","alerts","useful","noise","precision"}…]} (the caller's unit's alerts)
//
// Errors are {"error":"…"} with 400 (bad input), 404 (unknown id) or 409
// (e.g. acknowledging a resolved alert).
func (m *Manager) Mount(mux *http.ServeMux, read, write func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/alerts", read(http.HandlerFunc(m.handleList)))
	mux.Handle("GET /api/v1/alerts/silences", read(http.HandlerFunc(m.handleSilences)))
	mux.Handle("GET /api/v1/alerts/precision", read(http.HandlerFunc(m.handlePrecision)))
	mux.Handle("GET /api/v1/alerts/{id}", read(http.HandlerFunc(m.handleGet)))
	mux.Handle("GET /api/v1/alerts/{id}/history", read(http.HandlerFunc(m.handleHistory)))
	mux.Handle("POST /api/v1/alerts/silences", write(http.HandlerFunc(m.handleAddSilence)))
	mux.Handle("DELETE /api/v1/alerts/silences/{sid}", write(http.HandlerFunc(m.handleDeleteSilence)))
	mux.Handle("POST /api/v1/alerts/{id}/{action}", write(http.HandlerFunc(m.handleAction)))
}

func actor(r *http.Request) string {
	if p, ok := access.FromContext(r.Context()); ok {
		return p.Name
	}
	return "anonymous"
}

// scope is the unit the caller is limited to (access.Principal.UnitScope).
func scope(r *http.Request) (string, bool) {
	p, ok := access.FromContext(r.Context())
	if !ok {
		return "", true // no principal: nothing is in scope
	}
	return p.UnitScope()
}

// visible reports whether the caller may see alert id; an alert of
// another unit answers 404, as if it did not exist.
func (m *Manager) visible(r *http.Request, id string) bool {
	a, ok := m.Get(id)
	if !ok {
		return false
	}
	unit, scoped := scope(r)
	return !scoped || a.Unit == unit
}

func (m *Manager) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	f := Filter{State: q.Get("state"), Rule: q.Get("rule"), Severity: q.Get("severity"), Unit: q.Get("unit"),
		Assignee: q.Get("assignee"), Kind: q.Get("kind"), Limit: limit}
	if unit, scoped := scope(r); scoped {
		if f.Unit != "" && f.Unit != unit {
			jsonapi.Write(w, http.StatusOK, map[string]any{"alerts": []Alert{}})
			return
		}
		f.Unit = unit
		if unit == "" {
			f.NoUnit = true
		}
	}
	list := m.List(f)
	jsonapi.Write(w, http.StatusOK, map[string]any{"alerts": list})
}

func (m *Manager) handleGet(w http.ResponseWriter, r *http.Request) {
	a, ok := m.Get(r.PathValue("id"))
	if !ok || !m.visible(r, a.ID) {
		jsonapi.Fail(w, m.o.Log, ErrNotFound, "alert request failed")
		return
	}
	jsonapi.Write(w, http.StatusOK, a)
}

func (m *Manager) handleHistory(w http.ResponseWriter, r *http.Request) {
	if !m.visible(r, r.PathValue("id")) {
		jsonapi.Fail(w, m.o.Log, ErrNotFound, "alert request failed")
		return
	}
	evs, err := m.History(r.Context(), r.PathValue("id"))
	if err != nil {
		jsonapi.Fail(w, m.o.Log, err, "alert request failed")
		return
	}
	type ev struct {
		Type   string    `json:"type"`
		At     time.Time `json:"at"`
		Actor  string    `json:"actor"`
		Detail string    `json:"detail"`
	}
	out := make([]ev, 0, len(evs))
	for _, e := range evs {
		out = append(out, ev{e.Type, e.At, e.Actor, e.Alert.Notes[0].Text})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"events": out})
}

type actionBody struct {
	Assignee string `json:"assignee"`
	Text     string `json:"text"`
	Reason   string `json:"reason"`
	Value    string `json:"value"`
	Duration string `json:"duration"`
	Comment  string `json:"comment"`
}

func (m *Manager) handleAction(w http.ResponseWriter, r *http.Request) {
	var b actionBody
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&b); err != nil {
			jsonapi.Error(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
	}
	id, who := r.PathValue("id"), actor(r)
	if !m.visible(r, id) {
		jsonapi.Fail(w, m.o.Log, ErrNotFound, "alert request failed")
		return
	}
	var (
		a   Alert
		err error
	)
	switch r.PathValue("action") {
	case "ack":
		a, err = m.Ack(r.Context(), id, who)
	case "assign":
		if b.Assignee == "" {
			b.Assignee = who
		}
		a, err = m.Assign(r.Context(), id, who, b.Assignee)
	case "note":
		a, err = m.AddNote(r.Context(), id, who, b.Text)
	case "resolve":
		a, err = m.Resolve(r.Context(), id, who, b.Reason)
	case "feedback":
		a, err = m.Feedback(r.Context(), id, who, b.Value)
	case "silence":
		d, perr := time.ParseDuration(b.Duration)
		if perr != nil || d <= 0 {
			jsonapi.Error(w, http.StatusBadRequest, "duration: want a positive Go duration such as 2h")
			return
		}
		s, err := m.SilenceAlert(r.Context(), id, who, b.Comment, d)
		if err != nil {
			jsonapi.Fail(w, m.o.Log, err, "alert request failed")
			return
		}
		jsonapi.Write(w, http.StatusOK, s)
		return
	default:
		jsonapi.Error(w, http.StatusNotFound, "unknown action "+r.PathValue("action"))
		return
	}
	if err != nil {
		jsonapi.Fail(w, m.o.Log, err, "alert request failed")
		return
	}
	jsonapi.Write(w, http.StatusOK, a)
}

func (m *Manager) handleSilences(w http.ResponseWriter, r *http.Request) {
	list := m.Silences()
	if unit, scoped := scope(r); scoped {
		list = slices.DeleteFunc(list, func(s Silence) bool { return !ownSilence(s, unit) })
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"silences": list})
}

// ownSilence reports whether silence s is one a caller scoped to unit may
// see and lift: one that matches only that unit's alerts. A silence is a
// way to hide alerts, so an officer's silences are bound to the officer's
// unit, and another unit's are invisible to them, like its alerts.
func ownSilence(s Silence, unit string) bool {
	u, ok := s.Matchers["unit"]
	return ok && u == unit
}

func (m *Manager) handleAddSilence(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Silence
		Duration string `json:"duration"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&b); err != nil {
		jsonapi.Error(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if b.Duration != "" {
		d, err := time.ParseDuration(b.Duration)
		if err != nil {
			jsonapi.Error(w, http.StatusBadRequest, "duration: "+err.Error())
			return
		}
		b.ExpiresAt = time.Now().Add(d)
	}
	b.CreatedBy = actor(r)
	if unit, scoped := scope(r); scoped {
		// Without this a duty officer could mute another unit's alerts
		// by rule, kind or severity.
		if u, ok := b.Matchers["unit"]; ok && u != unit {
			jsonapi.Error(w, http.StatusForbidden, "matchers.unit: you may silence only your own unit's alerts")
			return
		}
		if len(b.Matchers) == 0 {
			jsonapi.Error(w, http.StatusBadRequest, "matchers: a silence needs at least one matcher")
			return
		}
		b.Matchers = maps.Clone(b.Matchers)
		b.Matchers["unit"] = unit
	}
	s, err := m.AddSilence(r.Context(), b.Silence)
	if err != nil {
		jsonapi.Fail(w, m.o.Log, err, "alert request failed")
		return
	}
	jsonapi.Write(w, http.StatusCreated, s)
}

func (m *Manager) handleDeleteSilence(w http.ResponseWriter, r *http.Request) {
	if unit, scoped := scope(r); scoped {
		own := slices.ContainsFunc(m.Silences(), func(s Silence) bool { return s.ID == r.PathValue("sid") && ownSilence(s, unit) })
		if !own {
			jsonapi.Error(w, http.StatusNotFound, "no such silence")
			return
		}
	}
	if err := m.DeleteSilence(r.Context(), r.PathValue("sid"), actor(r)); err != nil {
		jsonapi.Fail(w, m.o.Log, err, "alert request failed")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Manager) handlePrecision(w http.ResponseWriter, r *http.Request) {
	// Days past ten years would put the start before any stored time
	// (and past what the store parses), so they mean the default too.
	days, _ := strconv.Atoi(r.URL.Query().Get("days"))
	if days <= 0 || days > 3650 {
		days = 30
	}
	since := time.Now().AddDate(0, 0, -days)
	var p []Precision
	var err error
	if unit, scoped := scope(r); scoped {
		p, err = m.PrecisionOfUnit(r.Context(), since, unit)
	} else {
		p, err = m.PrecisionByRule(r.Context(), since)
	}
	if err != nil {
		jsonapi.Fail(w, m.o.Log, err, "alert request failed")
		return
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"rules": p})
}
