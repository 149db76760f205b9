// Package jsonapi writes the HTTP API's answers: JSON bodies, and the one
// error format every endpoint shares,
//
//	{"error": "<stable message>", "request_id": "<id>"}
//
// plus whatever details a caller adds (per-row problems, for instance).
//
// Errors are classified by errors.Is against the sentinel classes below, so
// a package declares its own errors as wrappers of them and never picks a
// status itself. An error of no class is a 500 whose message is generic: the
// detail goes to the log with the request id, never to the client, because a
// store or broker error quotes addresses and internals.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package jsonapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// RequestIDHeader carries the request id on every answer, so that a caller
// quoting it lets an operator find the request's log lines.
const RequestIDHeader = "X-Request-Id"

// The error classes. Wrap one to give an error its status:
//
//	var ErrNoAlert = fmt.Errorf("no such alert: %w", jsonapi.ErrNotFound)
var (
	ErrInvalid     = errors.New("invalid request")         // 400
	ErrForbidden   = errors.New("forbidden")               // 403
	ErrNotFound    = errors.New("not found")               // 404
	ErrConflict    = errors.New("conflict")                // 409
	ErrUnavailable = errors.New("temporarily unavailable") // 503, with Retry-After
)

// Status returns the HTTP status of err's class, 500 for none.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Write answers v as JSON with status code. HTML is not escaped: the API's
// text is Chinese and the answer is typed JSON, never rendered as HTML.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client hung up; nothing useful to do
}

// Body is the error answer. Embed it to add details beside the message.
type Body struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// NewBody is the error body for msg on the answer being written to w.
func NewBody(w http.ResponseWriter, msg string) Body {
	return Body{Error: msg, RequestID: w.Header().Get(RequestIDHeader)}
}

// Error answers code with msg, a message meant for the client.
func Error(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	Write(w, code, NewBody(w, msg))
}

// Fail answers err by its class. A classified error's text is the message;
// an unclassified one is logged with the request id and answered with
// internal, a stable message naming what failed ("search failed").
//
// A canceled context is not this node's fault: the client went away (or the
// node is stopping), so nobody reads the answer. It is logged at debug, so
// a healthy node stays quiet, and answered 503 in case someone still waits.
func Fail(w http.ResponseWriter, log *slog.Logger, err error, internal string) {
	if errors.Is(err, context.Canceled) {
		if log != nil {
			log.Debug(internal, "err", err, "request_id", w.Header().Get(RequestIDHeader))
		}
		Error(w, http.StatusServiceUnavailable, internal)
		return
	}
	code := Status(err)
	if code == http.StatusInternalServerError {
		if log != nil {
			log.Error(internal, "err", err, "request_id", w.Header().Get(RequestIDHeader))
		}
		Error(w, code, internal)
		return
	}
	Error(w, code, err.Error())
}

// LogFailure logs a failure of the request r at level, with its request
// id. A client that went away (a navigation, a closed tab, a timeout on its
// side) cancels r's context and so every query still running for it; that
// is no fault of this node, so it is logged at debug and a quiet, healthy
// node stays quiet at WARN. A deadline the handler set itself is not the
// client's: it still logs at level.
func LogFailure(log *slog.Logger, r *http.Request, level slog.Level, msg string, args ...any) {
	if log == nil {
		return
	}
	if r.Context().Err() != nil {
		level = slog.LevelDebug
	}
	if id := RequestID(r); id != "" {
		args = append(args, "request_id", id)
	}
	log.Log(r.Context(), level, msg, args...)
}

// RequestIDs gives every request an id, set on the answer's header before
// the handler runs (so that Error finds it) and on the request's, for the
// handlers' logs. An incoming id is not trusted: a client could plant one
// to confuse the log.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newID()
		w.Header().Set(RequestIDHeader, id)
		r.Header.Set(RequestIDHeader, id)
		next.ServeHTTP(w, r)
	})
}

// RequestID returns the id RequestIDs gave r ("" outside it).
func RequestID(r *http.Request) string { return r.Header.Get(RequestIDHeader) }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
