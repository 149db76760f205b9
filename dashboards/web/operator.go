package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// intakeAnswer is the answer of record intake.
type intakeAnswer struct {
	BatchID  string `json:"batch_id"`
	Accepted int    `json:"accepted"`
	Rejected []struct {
		Row    int    `json:"row"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"rejected"`
}

// recordInput is a record as an operator typed it.
type recordInput struct {
	Kind      string `json:"kind"`
	Place     string `json:"place"`
	IDType    string `json:"id_type"`
	IDNumber  string `json:"id_number"`
	Name      string `json:"name"`
	StartedAt string `json:"started_at"`
	EndedAt   string `json:"ended_at"`
	// A hotel's minor guest needs both (Law on the Protection of Minors,
	// art. 57); empty for everyone else.
	GuardianContact  string `json:"guardian_contact,omitempty"`
	GuardianRelation string `json:"guardian_relation,omitempty"`
}

var inputFields = []string{"kind", "place", "id_type", "id_number", "name", "started_at", "ended_at", "guardian_contact", "guardian_relation"}

type quarantinedRow struct {
	BatchID    string      `json:"batch_id"`
	Row        int         `json:"row"`
	ReceivedAt time.Time   `json:"received_at"`
	Status     string      `json:"status"`
	Record     recordInput `json:"record"`
	Errors     []struct {
		Row    int    `json:"row"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// delivery is one batch a venue delivered.
type delivery struct {
	BatchID    string    `json:"batch_id"`
	ReceivedAt time.Time `json:"first_received"`
	Accepted   uint32    `json:"accepted"`
}

type operatorData struct {
	Venue      string
	Quarantine []quarantinedRow
	QTotal     int
	History    []delivery
	Error      string
	Result     *intakeAnswer
	ResultErr  string
	Fields     []string
}

// maxUpload bounds an uploaded CSV file; the intake API has its own limit.
const maxUpload = 32 << 20

func (s *Server) operatorData(r *http.Request) operatorData {
	si, _ := sessionFrom(r)
	d := operatorData{Venue: si.P.Venue, Fields: inputFields}
	var q struct {
		Total int              `json:"total"`
		Rows  []quarantinedRow `json:"rows"`
	}
	err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/intake/quarantine", url.Values{"status": {"open"}}, nil, nil, &q)
	if err != nil {
		d.Error = apiErrorKey(err)
	}
	d.Quarantine, d.QTotal = q.Rows, q.Total
	// No API lists a venue's batches yet; the stored records do, and the
	// venue comes from the session, so an operator sees only their own.
	if err := s.db.Select(r.Context(), &d.History, `SELECT batch_id, min(received_at) AS first_received,
			toUInt32(count()) AS accepted
		FROM netpulse.access_records
		WHERE venue = ? AND received_at >= now() - INTERVAL 30 DAY AND batch_id != ''
		GROUP BY batch_id ORDER BY first_received DESC LIMIT 30`, d.Venue); err != nil {
		s.logFailure(r, slog.LevelWarn, "delivery history", "venue", d.Venue, "err", err)
	}
	return d
}

func (s *Server) operatorPage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "operator", "nav.operator", s.operatorData(r))
}

// operatorUpload sends an uploaded CSV file to the intake API as the
// operator, and shows its answer row by row.
func (s *Server) operatorUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	d := operatorData{Fields: inputFields}
	f, _, err := r.FormFile("file")
	if err != nil {
		d.ResultErr = "operator.no_file"
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.ResultErr = "operator.too_large"
		}
		s.Fragment(w, r, "operator", "upload-result", d)
		return
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		d.ResultErr = "operator.too_large"
		s.Fragment(w, r, "operator", "upload-result", d)
		return
	}
	h := http.Header{"Content-Type": {"text/csv"}}
	if k := strings.TrimSpace(r.FormValue("idempotency_key")); k != "" {
		h.Set("Idempotency-Key", k)
	}
	var ans intakeAnswer
	if err := s.api.call(r.Context(), r, http.MethodPost, "/api/v1/intake/access-records", nil, h, bytes.NewReader(body), &ans); err != nil {
		d.ResultErr = apiErrorKey(err)
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusBadRequest {
			d.ResultErr = "operator.bad_file"
		}
		s.logFailure(r, slog.LevelWarn, "operator upload", "err", err)
	} else {
		d.Result = &ans
		w.Header().Set("HX-Trigger", "intake-changed")
	}
	s.Fragment(w, r, "operator", "upload-result", d)
}

// operatorLists redraws the quarantine and the delivery history.
func (s *Server) operatorLists(w http.ResponseWriter, r *http.Request) {
	part := "quarantine"
	if r.URL.Query().Get("part") == "history" {
		part = "history"
	}
	s.Fragment(w, r, "operator", part, s.operatorData(r))
}

func (s *Server) operatorReceipt(w http.ResponseWriter, r *http.Request) {
	var raw []byte
	err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/intake/receipts/"+url.PathEscape(r.PathValue("batch")), nil, nil, nil, &raw)
	if err != nil {
		s.Error(w, r, http.StatusNotFound, apiErrorKey(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="receipt-`+safeFile(r.PathValue("batch"))+`.json"`)
	w.Write(raw)
}

func safeFile(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, s)
}

// operatorFix resubmits one corrected quarantined row.
func (s *Server) operatorFix(w http.ResponseWriter, r *http.Request) {
	batch, rowS, _ := strings.Cut(r.PathValue("id"), ":")
	row, _ := strconv.Atoi(rowS)
	in := recordInput{Kind: r.FormValue("kind"), Place: r.FormValue("place"), IDType: r.FormValue("id_type"),
		IDNumber: r.FormValue("id_number"), Name: r.FormValue("name"), StartedAt: r.FormValue("started_at"),
		EndedAt: r.FormValue("ended_at"), GuardianContact: r.FormValue("guardian_contact"), GuardianRelation: r.FormValue("guardian_relation")}
	b, _ := json.Marshal(map[string]any{"items": []map[string]any{{"batch_id": batch, "row": row, "record": in}}})
	var ans intakeAnswer
	d := operatorData{Fields: inputFields}
	err := s.api.call(r.Context(), r, http.MethodPost, "/api/v1/intake/quarantine/resubmit", nil,
		http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(b), &ans)
	if err != nil {
		d.ResultErr = apiErrorKey(err)
	} else {
		d.Result = &ans
		w.Header().Set("HX-Trigger", "intake-changed")
	}
	s.Fragment(w, r, "operator", "upload-result", d)
}
