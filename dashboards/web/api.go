package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/netpulse/netpulse/access"
)

// apiClient calls the JSON APIs of the other subsystems in process, through
// the same mux that serves them to the outside, with the browser's session.
// The pages thus get exactly the API's answers, its role checks and its
// audit trail, and no query logic is written twice.
type apiClient struct {
	mux http.Handler
}

// apiError is a non-2xx answer of an API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("API answered %d: %s", e.Status, e.Msg) }

// notMounted reports an API that no subsystem has wired yet.
func notMounted(err error) bool {
	ae, ok := err.(*apiError)
	return ok && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed)
}

// call runs method path against the mux as the user of r, with query q and
// body, and decodes a JSON answer into out (when out is not nil). Extra
// headers (X-Case-Ref, Content-Type) come in hdr.
func (c *apiClient) call(ctx context.Context, r *http.Request, method, path string, q url.Values, hdr http.Header, body io.Reader, out any) error {
	u := path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("build API request %s %s: %w", method, path, err)
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	if ck, err := r.Cookie(access.SessionCookie); err == nil {
		req.AddCookie(ck)
	}
	if si, ok := sessionFrom(r); ok {
		req.Header.Set(access.CSRFHeader, si.CSRF)
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	c.mux.ServeHTTP(rec, req)
	if rec.code/100 != 2 {
		msg := rec.body.String()
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return &apiError{Status: rec.code, Msg: msg}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = rec.body.Bytes()
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// recorder is the in-process ResponseWriter for API calls.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
