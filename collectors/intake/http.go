package intake

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/netpulse/netpulse/access"
)

// Routes adds the intake endpoints to mux, each behind reg's role check.
// Venue keys and operator accounts act for their own venue only.
func (s *Service) Routes(mux *http.ServeMux, reg *access.Registry) {
	venueOnly := access.Require(reg, access.RoleVenue, access.RoleOperator)
	mux.Handle("POST /api/v1/intake/access-records", venueOnly(http.HandlerFunc(s.handleSubmit)))
	mux.Handle("GET /api/v1/intake/receipts/{batch}", venueOnly(http.HandlerFunc(s.handleReceipt)))
	mux.Handle("POST /api/v1/intake/receipts/verify", venueOnly(http.HandlerFunc(s.handleVerify)))
	mux.Handle("GET /api/v1/intake/quarantine", access.Require(reg, access.RoleVenue, access.RoleOperator, access.RoleAdmin)(http.HandlerFunc(s.handleQuarantine)))
	mux.Handle("POST /api/v1/intake/quarantine/resubmit", venueOnly(http.HandlerFunc(s.handleResubmit)))
}

// callerVenue is the venue the caller acts for.
func callerVenue(r *http.Request) (string, bool) {
	p, ok := access.FromContext(r.Context())
	if !ok || p.Venue == "" {
		return "", false
	}
	return p.Venue, true
}

func (s *Service) handleSubmit(w http.ResponseWriter, r *http.Request) {
	venue, ok := callerVenue(r)
	if !ok {
		jsonapi.Error(w, http.StatusForbidden, "caller is not bound to a venue")
		return
	}
	if !s.enter(w) {
		return
	}
	defer s.leave()
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		jsonapi.Error(w, http.StatusBadRequest, "Idempotency-Key longer than 200 characters")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.refused.WithLabelValues("413").Inc()
			jsonapi.Error(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(s.o.MaxBody, 10)+" bytes; split the batch")
			return
		}
		jsonapi.Error(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	ans, replayed, err := s.Submit(r.Context(), venue, key, r.Header.Get("Content-Type"), body)
	if err != nil {
		s.writeSubmitError(w, r, venue, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	jsonapi.Write(w, http.StatusOK, ans)
}

// enter takes an in-flight slot before the body is read, or answers 503
// with Retry-After: under overload, batches wait at the client, not here.
func (s *Service) enter(w http.ResponseWriter) bool {
	select {
	case s.inflight <- struct{}{}:
		return true
	default:
		s.refused.WithLabelValues("503").Inc()
		w.Header().Set("Retry-After", "1")
		jsonapi.Error(w, http.StatusServiceUnavailable, "intake busy: too many batches in flight; retry after 1 s")
		return false
	}
}

func (s *Service) leave() { <-s.inflight }

func (s *Service) writeSubmitError(w http.ResponseWriter, r *http.Request, venue string, err error) {
	var ra *RetryAfter
	switch {
	case errors.As(err, &ra):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(ra.After.Seconds(), 1)))))
		if errors.Is(err, ErrRateLimited) {
			jsonapi.Error(w, http.StatusTooManyRequests, "too many batches from this venue; retry after the Retry-After seconds")
			return
		}
		// The cause quotes the bus (broker addresses, kafka-go's words):
		// it goes to the log under the request id, never to the venue.
		s.o.Log.Warn("intake: bus unavailable", "venue", venue, "request_id", jsonapi.RequestID(r), "err", err)
		jsonapi.Error(w, http.StatusServiceUnavailable, "records not accepted: intake temporarily unavailable; retry after the Retry-After seconds")
	case errors.Is(err, ErrKeyConflict):
		jsonapi.Error(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, ErrBody):
		s.refused.WithLabelValues("400").Inc()
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrUnknownVenue):
		jsonapi.Error(w, http.StatusForbidden, err.Error())
	case r.Context().Err() != nil:
		// The client left; nothing to answer.
	default:
		s.o.Log.Error("intake batch failed", "venue", venue, "request_id", jsonapi.RequestID(r), "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "batch not accepted; retry later")
	}
}

func (s *Service) handleReceipt(w http.ResponseWriter, r *http.Request) {
	venue, ok := callerVenue(r)
	if !ok {
		jsonapi.Error(w, http.StatusForbidden, "caller is not bound to a venue")
		return
	}
	rc, err := s.Receipt(venue, r.PathValue("batch"))
	if err != nil {
		jsonapi.Error(w, http.StatusNotFound, "no such batch for this venue")
		return
	}
	jsonapi.Write(w, http.StatusOK, rc)
}

func (s *Service) handleVerify(w http.ResponseWriter, r *http.Request) {
	var rc Receipt
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&rc); err != nil {
		jsonapi.Error(w, http.StatusBadRequest, "body must be a receipt: "+err.Error())
		return
	}
	jsonapi.Write(w, http.StatusOK, map[string]bool{"valid": s.VerifyReceipt(rc)})
}

func (s *Service) handleQuarantine(w http.ResponseWriter, r *http.Request) {
	venue, ok := callerVenue(r)
	if p, _ := access.FromContext(r.Context()); p.Role == access.RoleAdmin {
		venue, ok = r.URL.Query().Get("venue"), r.URL.Query().Get("venue") != ""
	}
	if !ok {
		jsonapi.Error(w, http.StatusBadRequest, "venue required")
		return
	}
	q := r.URL.Query()
	status := q.Get("status")
	if status == "" {
		status = StatusOpen
	} else if status == "all" {
		status = ""
	}
	limit, offset := paging(q.Get("limit"), q.Get("offset"))
	total, rows, err := s.Quarantined(r.Context(), venue, status, limit, offset)
	if err != nil {
		jsonapi.LogFailure(s.o.Log, r, slog.LevelError, "list quarantine", "venue", venue, "err", err)
		jsonapi.Error(w, http.StatusInternalServerError, "quarantine unavailable")
		return
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"total": total, "rows": rows})
}

func (s *Service) handleResubmit(w http.ResponseWriter, r *http.Request) {
	venue, ok := callerVenue(r)
	if !ok {
		jsonapi.Error(w, http.StatusForbidden, "caller is not bound to a venue")
		return
	}
	if !s.enter(w) {
		return
	}
	defer s.leave()
	var req struct {
		Items []Fix `json:"items"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.o.MaxBody)).Decode(&req); err != nil {
		jsonapi.Error(w, http.StatusBadRequest, "body must be {\"items\": [{\"batch_id\", \"row\", \"record\"}]}: "+err.Error())
		return
	}
	if len(req.Items) == 0 || len(req.Items) > s.o.MaxRows {
		jsonapi.Error(w, http.StatusBadRequest, "items must hold 1 to "+strconv.Itoa(s.o.MaxRows)+" rows")
		return
	}
	ans, err := s.Resubmit(r.Context(), venue, req.Items)
	if err != nil {
		s.writeSubmitError(w, r, venue, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, ans)
}

func paging(limitS, offsetS string) (int, int) {
	limit, err := strconv.Atoi(limitS)
	if err != nil || limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	offset, err := strconv.Atoi(offsetS)
	if err != nil || offset < 0 {
		offset = 0
	}
	return limit, offset
}
