package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/netpulse/netpulse/jsonapi"
)

// maxAPIBody bounds source definitions and YAML imports.
const maxAPIBody = 1 << 20

// Handler serves the source registry and health under /api/v1/sources
// (mount it at both "/api/v1/sources" and "/api/v1/sources/"; the caller
// wraps it with admin authentication):
//
//	GET    /api/v1/sources           list
//	POST   /api/v1/sources           create (409 if the name exists)
//	GET    /api/v1/sources/{name}    one source
//	PUT    /api/v1/sources/{name}    create or replace
//	DELETE /api/v1/sources/{name}    remove
//	GET    /api/v1/sources/health    health of every source
//	GET    /api/v1/sources/export    all sources as YAML
//	POST   /api/v1/sources/import    YAML; all sources valid or nothing stored
//
// A bad definition is answered 400 with {"error", "problems":[{field, reason}]}.
func Handler(store *Store, health *Health, log *slog.Logger) http.Handler {
	a := &api{store: store, health: health, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sources", a.list)
	mux.HandleFunc("POST /api/v1/sources", a.create)
	mux.HandleFunc("GET /api/v1/sources/health", health.serveHTTP)
	mux.HandleFunc("GET /api/v1/sources/export", a.export)
	mux.HandleFunc("POST /api/v1/sources/import", a.importYAML)
	mux.HandleFunc("GET /api/v1/sources/{name}", a.get)
	mux.HandleFunc("PUT /api/v1/sources/{name}", a.put)
	mux.HandleFunc("DELETE /api/v1/sources/{name}", a.delete)
	return mux
}

type api struct {
	store  *Store
	health *Health
	log    *slog.Logger // detail of failures answered 500
}

type apiError struct {
	jsonapi.Body
	Problems []FieldError `json:"problems,omitempty"`
}

func (a *api) fail(w http.ResponseWriter, err error) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		jsonapi.Write(w, http.StatusBadRequest, apiError{Body: jsonapi.NewBody(w, "invalid source "+ve.Source), Problems: ve.Problems})
		return
	}
	jsonapi.Fail(w, a.log, err, "source request failed")
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	// An admin who just added a source through another node sees it here.
	if err := a.store.catchUp(r.Context()); err != nil {
		a.fail(w, err)
		return
	}
	srcs, err := a.store.Sources()
	if err != nil {
		a.fail(w, err)
		return
	}
	if srcs == nil {
		srcs = []Source{}
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"sources": srcs})
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	if err := a.store.catchUp(r.Context()); err != nil {
		a.fail(w, err)
		return
	}
	src, err := a.store.Source(r.PathValue("name"))
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, src)
}

func decodeSource(w http.ResponseWriter, r *http.Request) (Source, error) {
	var src Source
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&src); err != nil {
		return Source{}, &ValidationError{Problems: []FieldError{{Field: "body", Reason: "not a source JSON object: " + err.Error()}}}
	}
	return src, nil
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	src, err := decodeSource(w, r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if err := a.store.catchUp(r.Context()); err != nil {
		a.fail(w, err)
		return
	}
	if _, err := a.store.Source(src.Name); err == nil {
		jsonapi.Error(w, http.StatusConflict, fmt.Sprintf("source %q exists; PUT /api/v1/sources/%s replaces it", src.Name, src.Name))
		return
	}
	if err := a.store.PutSources(r.Context(), src); err != nil {
		a.fail(w, err)
		return
	}
	stored, err := a.store.Source(src.Name)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonapi.Write(w, http.StatusCreated, stored)
}

func (a *api) put(w http.ResponseWriter, r *http.Request) {
	src, err := decodeSource(w, r)
	if err != nil {
		a.fail(w, err)
		return
	}
	name := r.PathValue("name")
	if src.Name == "" {
		src.Name = name
	}
	if src.Name != name {
		a.fail(w, &ValidationError{Source: name, Problems: []FieldError{{Field: "name", Reason: "differs from the name in the path"}}})
		return
	}
	if err := a.store.PutSources(r.Context(), src); err != nil {
		a.fail(w, err)
		return
	}
	stored, err := a.store.Source(name)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, stored)
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.store.DeleteSource(r.Context(), name); err != nil {
		a.fail(w, err)
		return
	}
	a.health.forget(name)
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) export(w http.ResponseWriter, _ *http.Request) {
	srcs, err := a.store.Sources()
	if err != nil {
		a.fail(w, err)
		return
	}
	b, err := MarshalYAML(srcs)
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="sources.yaml"`)
	_, _ = w.Write(b)
}

func (a *api) importYAML(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		jsonapi.Error(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	srcs, err := UnmarshalYAML(b)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			jsonapi.Write(w, http.StatusBadRequest, apiError{Body: jsonapi.NewBody(w, "invalid sources file"), Problems: ve.Problems})
			return
		}
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.store.PutSources(r.Context(), srcs...); err != nil {
		a.fail(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"imported": len(srcs)})
}
