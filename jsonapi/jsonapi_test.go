package jsonapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/netpulse/netpulse/jsonapi"
)

func TestFail(t *testing.T) {
	secret := errors.New("dial tcp 10.1.2.3:9092: connection refused")
	tests := []struct {
		name     string
		err      error
		code     int
		message  string
		retry    bool
		loggedAs string
	}{
		{"invalid", fmt.Errorf("from: %w", jsonapi.ErrInvalid), 400, "from: invalid request", false, ""},
		{"wrapped not found", fmt.Errorf("rule x: %w", fmt.Errorf("no such rule: %w", jsonapi.ErrNotFound)), 404, "rule x: no such rule: not found", false, ""},
		{"conflict", jsonapi.ErrConflict, 409, "conflict", false, ""},
		{"forbidden", jsonapi.ErrForbidden, 403, "forbidden", false, ""},
		{"unavailable", fmt.Errorf("bus: %w", jsonapi.ErrUnavailable), 503, "bus: temporarily unavailable", true, ""},
		// An error of no class never reaches the client: its text names
		// internals (addresses, brokers). The log has it with the id.
		{"internal", fmt.Errorf("publish: %w", secret), 500, "intake failed", false, "10.1.2.3:9092"},
		// A client that hung up cancels the query: not worth a line at
		// ERROR on a healthy node, and nothing internal in the answer.
		{"client gone", fmt.Errorf("select from 10.1.2.3: %w", context.Canceled), 503, "intake failed", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			h := jsonapi.RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				jsonapi.Fail(w, log, tt.err, "intake failed")
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			var body jsonapi.Body
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			id := rec.Header().Get(jsonapi.RequestIDHeader)
			if rec.Code != tt.code || body.Error != tt.message || id == "" || body.RequestID != id {
				t.Errorf("got %d %+v (header id %q), want %d %q with the header's id", rec.Code, body, id, tt.code, tt.message)
			}
			if strings.Contains(rec.Body.String(), "10.1.2.3") {
				t.Errorf("answer leaks the internal error: %s", rec.Body)
			}
			if (rec.Header().Get("Retry-After") != "") != tt.retry {
				t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
			}
			if tt.loggedAs == "" && logs.Len() > 0 {
				t.Errorf("logged at INFO or above: %s", logs.String())
			}
			if tt.loggedAs != "" && (!strings.Contains(logs.String(), tt.loggedAs) || !strings.Contains(logs.String(), id)) {
				t.Errorf("log %q lacks the detail or the request id", logs.String())
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// A client's own X-Request-Id is replaced: ids in the log are the server's.
func TestRequestIDsIgnoresTheClients(t *testing.T) {
	var seen string
	h := jsonapi.RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = jsonapi.RequestID(r) }))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(jsonapi.RequestIDHeader, "planted\nline")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if seen == "planted\nline" || seen == "" || rec.Header().Get(jsonapi.RequestIDHeader) != seen {
		t.Errorf("request id %q, answer header %q", seen, rec.Header().Get(jsonapi.RequestIDHeader))
	}
}

func TestWriteDoesNotEscapeChinese(t *testing.T) {
	rec := httptest.NewRecorder()
	jsonapi.Write(rec, 200, map[string]string{"title": "火灾 <b>"})
	if got := strings.TrimSpace(rec.Body.String()); got != `{"title":"火灾 <b>"}` {
		t.Errorf("body %s", got)
	}
}
