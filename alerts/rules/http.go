package rules

import (
	"errors"
	"io"
	"net/http"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/netpulse/netpulse/access"
)

// Mount adds the rules API to mux.
//
//	GET    /api/v1/rules              → {"rules":[Rule…]}  (Rule: name, type, severity, unit, realert and
//	                                     every in nanoseconds, dedup_key, type fields, source "file:…"|"api", line, yaml,
//	                                     disabled: why the rule is not evaluated, absent when it runs)
//	POST   /api/v1/rules              body: a YAML rule file → 201 {"rules":[Rule…]}
//	POST   /api/v1/rules/validate     body: a YAML rule file → 200 {"rules":[Rule…]} without storing
//	DELETE /api/v1/rules/{name}       → 204
//
// Invalid YAML answers 400 {"error":"…","errors":[{"line":12,"rule":"x","field":"window","message":"…"}]}.
// Threshold rules (SQL) may be posted only by admins.
func (e *Engine) Mount(mux *http.ServeMux, read, write func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/rules", read(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonapi.Write(w, http.StatusOK, map[string]any{"rules": e.Rules()})
	})))
	mux.Handle("POST /api/v1/rules", write(http.HandlerFunc(e.handlePut)))
	mux.Handle("POST /api/v1/rules/validate", write(http.HandlerFunc(e.handleValidate)))
	mux.Handle("DELETE /api/v1/rules/{name}", write(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := ""
		if p, ok := access.FromContext(r.Context()); ok {
			who = p.Name
		}
		if err := e.Delete(r.Context(), r.PathValue("name"), who); err != nil {
			jsonapi.Fail(w, e.o.Log, err, "rule request failed")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
}

func (e *Engine) writeValidation(w http.ResponseWriter, err error) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		jsonapi.Write(w, http.StatusBadRequest, struct {
			jsonapi.Body
			Errors []FieldError `json:"errors"`
		}{jsonapi.NewBody(w, err.Error()), ve.Errors})
		return
	}
	jsonapi.Fail(w, e.o.Log, err, "rule request failed")
}

func (e *Engine) handleValidate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRuleFile))
	if err != nil {
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	rs, err := e.Check(r.Context(), body)
	if err != nil {
		e.writeValidation(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"rules": nonNil(rs)})
}

// nonNil keeps a file without rules answering "rules": [] (the documented
// list), not null.
func nonNil(rs []Rule) []Rule {
	if rs == nil {
		return []Rule{}
	}
	return rs
}

func (e *Engine) handlePut(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRuleFile))
	if err != nil {
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := access.FromContext(r.Context())
	rs, err := e.Put(r.Context(), body, p.Name, p.Role == access.RoleAdmin)
	if err != nil {
		e.writeValidation(w, err)
		return
	}
	jsonapi.Write(w, http.StatusCreated, map[string]any{"rules": nonNil(rs)})
}
