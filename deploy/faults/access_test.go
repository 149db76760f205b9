package faults

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// route is one registered pattern and who may use it. api routes take a
// bearer token or a session (access.Require); page routes are the web UI's
// and take only a browser session (web Guard).
type route struct {
	pattern string // as registered: "METHOD /path"
	roles   string // space-separated roles allowed; "*" public
	page    bool
}

const (
	board   = "duty admin leader"
	dutyW   = "duty admin"
	readers = "analyst duty admin leader"
	venueOp = "venue operator"
	anyUser = "admin analyst duty leader auditor operator"
)

// routes is every route serve registers, with the roles that may use it.
// TestRouteTableCoversEveryRegisteredRoute keeps it complete.
var routes = []route{
	{"GET /healthz", "*", false},
	{"GET /-/healthy", "*", false},
	{"GET /-/ready", "*", false},
	{"GET /metrics", "*", false},

	{"POST /api/v1/intake/access-records", venueOp, false},
	{"GET /api/v1/intake/receipts/{batch}", venueOp, false},
	{"POST /api/v1/intake/receipts/verify", venueOp, false},
	{"GET /api/v1/intake/quarantine", venueOp + " admin", false},
	{"POST /api/v1/intake/quarantine/resubmit", venueOp, false},
	{"GET /api/v1/intake/deliveries", "admin leader duty analyst", false},
	{"GET /api/v1/compliance/venues", board, false},
	{"PUT /api/v1/venues/{code}/legal-hold", "admin", false},
	{"PUT /api/v1/records/holds", "admin", false},
	{"GET /api/v1/records", "analyst", false},
	{"POST /api/v1/records/search", "analyst", false},
	{"GET /api/v1/records/{id}/reveal", "analyst", false},
	{"GET /api/v1/audit", "auditor", false},
	{"GET /api/v1/audit/verify", "auditor", false},

	{"GET /api/v1/search/posts", "analyst admin", false},
	{"POST /api/v1/intake/posts", "admin", false},

	{"GET /api/v1/sources", "admin", false},
	{"POST /api/v1/sources", "admin", false},
	{"GET /api/v1/sources/health", "admin", false},
	{"GET /api/v1/sources/export", "admin", false},
	{"POST /api/v1/sources/import", "admin", false},
	{"GET /api/v1/sources/{name}", "admin", false},
	{"PUT /api/v1/sources/{name}", "admin", false},
	{"DELETE /api/v1/sources/{name}", "admin", false},

	{"GET /api/v1/alerts", board, false},
	{"GET /api/v1/alerts/silences", board, false},
	{"GET /api/v1/alerts/precision", board, false},
	{"GET /api/v1/alerts/{id}", board, false},
	{"GET /api/v1/alerts/{id}/history", board, false},
	{"POST /api/v1/alerts/silences", dutyW, false},
	{"DELETE /api/v1/alerts/silences/{sid}", dutyW, false},
	{"POST /api/v1/alerts/{id}/{action}", dutyW, false},
	{"GET /api/v1/alerts/stream", board, false},
	{"GET /api/v1/alerts/dead-letters", dutyW, false},
	{"GET /api/v1/rules", readers, false},
	{"POST /api/v1/rules", dutyW, false},
	{"POST /api/v1/rules/validate", dutyW, false},
	{"DELETE /api/v1/rules/{name}", dutyW, false},
	{"GET /api/v1/trends", readers, false},
	{"GET /api/v1/trends/terms/{term}", readers, false},
	{"GET /api/v1/reports", "leader", false},

	{"GET /static/", "*", true},
	{"GET /favicon.ico", "*", true},
	{"GET /login", "*", true},
	{"POST /login", "*", true},
	{"GET /lang/{lang}", "*", true},
	{"POST /logout", anyUser, true},
	{"GET /{$}", anyUser, true},
	{"GET /search", "analyst", true},
	{"GET /search/posts", "analyst", true},
	{"GET /search/posts.csv", "analyst", true},
	{"POST /search/records", "analyst", true},
	{"POST /search/records.csv", "analyst", true},
	{"POST /search/reveal", "analyst", true},
	{"GET /trends", "analyst duty", true},
	{"GET /trends/term", "analyst duty", true},
	{"GET /alerts", "duty", true},
	{"GET /alerts/board", "duty", true},
	{"POST /alerts/{id}/{action}", "duty", true},
	{"GET /venues", "duty", true},
	{"GET /operator", "operator", true},
	{"GET /operator/lists", "operator", true},
	{"POST /operator/upload", "operator", true},
	{"GET /operator/receipts/{batch}", "operator", true},
	{"POST /operator/quarantine/{id}", "operator", true},
	{"GET /admin", "admin", true},
	{"POST /admin/venues", "admin", true},
	{"POST /admin/venues/{code}/rotate", "admin", true},
	{"POST /admin/sources", "admin", true},
	{"GET /audit", "auditor", true},
	{"GET /audit/entries", "auditor", true},
	{"POST /audit/verify", "auditor", true},
	{"GET /reports/", "leader", true},
	{"GET /reports/{file}", "leader", true},
}

// clusterRoutes exist only on nodes in a cluster (--kafka), which the
// embedded serve of TestAccessMatrix is not; they are listed so that the
// coverage test knows them, with the role access.Require gives them.
var clusterRoutes = []route{
	{"POST /api/v1/search/repair", "admin", false},
}

var sample = strings.NewReplacer("{batch}", "20260101T000000Z-0000", "{code}", "AC-01", "{id}", "no-such-id",
	"{action}", "ack", "{name}", "no-such-source", "{sid}", "no-such-silence", "{term}", "%E7%81%AB%E7%81%BE",
	"{lang}", "en", "{file}", "report.csv", "{$}", "")

func (r route) method() string { m, _, _ := strings.Cut(r.pattern, " "); return m }
func (r route) path() string {
	_, p, _ := strings.Cut(r.pattern, " ")
	return sample.Replace(p)
}
func (r route) allows(role string) bool {
	return r.roles == "*" || slices.Contains(strings.Fields(r.roles), role)
}

// denied says whether an answer refuses the caller: 401, 403, or (pages)
// a redirect to the login form.
func denied(r reply) bool {
	if r.code == 401 || r.code == 403 {
		return true
	}
	return r.code == 303 && strings.HasPrefix(r.header.Get("Location"), "/login")
}

// TestAccessMatrix calls every route as nobody, with every role's token and
// the venue key, and with every role's browser session: each call by a
// caller the route does not allow must be refused, and each GET by one it
// allows must not be.
func TestAccessMatrix(t *testing.T) {
	data := t.TempDir()
	pop := populate(t, data)
	s := startServer(t, data)
	callers := pop.principals(t, s)
	refused, let := 0, 0
	for _, rt := range routes {
		for _, pr := range callers {
			// Pages take only sessions: a bearer token is nobody there.
			allowed := rt.allows(pr.role) && (rt.roles == "*" || !rt.page || pr.session != "")
			if rt.method() != "GET" && allowed {
				continue // no side effects from the allowed callers
			}
			if rt.pattern == "GET /api/v1/alerts/stream" && allowed {
				continue // an endless stream; the load test reads it
			}
			r := pr.call(t, s, rt.method(), rt.path(), []byte("{}"), "Content-Type", "application/json", "X-Case-Ref", "MATRIX-1")
			switch {
			case !allowed && !denied(r):
				t.Errorf("%s as %s: %s, want it refused", rt.pattern, pr.name, r)
			case allowed && denied(r):
				t.Errorf("%s as %s: refused (%s), want it allowed", rt.pattern, pr.name, r)
			case !allowed:
				refused++
			default:
				let++
			}
		}
	}
	t.Logf("%d routes × %d callers: %d refusals and %d allowed GETs checked", len(routes), len(callers), refused, let)
}

var registration = regexp.MustCompile(`\.Handle(?:Func)?\("((?:GET|POST|PUT|DELETE|PATCH) [^"]+|/[^"]*)"`)

// TestRouteTableCoversEveryRegisteredRoute reads the Go sources for every
// route registration, so that a new route cannot escape the matrix.
func TestRouteTableCoversEveryRegisteredRoute(t *testing.T) {
	known := map[string]bool{}
	for _, r := range append(slices.Clone(routes), clusterRoutes...) {
		known[r.pattern] = true
	}
	root := moduleRoot()
	documented := openAPIOperations(t, filepath.Join(root, "docs", "openapi.yaml"))
	registered := map[string]bool{}
	var missing []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			// The demo feed site and the scatter peers listen on their own
			// ports (the latter behind a cluster secret), not on serve's mux.
			switch rel {
			case ".git", "collectors/feeds/demo", "search/scatter", "deploy/faults", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range registration.FindAllSubmatch(b, -1) {
			p := string(m[1])
			if op, ok := apiOperation(p); ok {
				registered[op] = true
				if !documented[op] {
					t.Errorf("%s: route %s is not in docs/openapi.yaml", rel, p)
				}
			}
			switch {
			case known[p]:
			// The feeds API and the reports pages are mounted as subtrees
			// under one guard; their inner patterns are listed above.
			case p == "/api/v1/sources" || p == "/api/v1/sources/" || p == "GET /reports/{$}" || p == "GET /reports/assets/{name}":
			// The Go profiler is mounted only on the scrape address
			// (--metrics-listen), never on serve's mux: TestTrustSmallOnes
			// checks that the main address does not answer it.
			case strings.HasPrefix(p, "GET /debug/pprof/") && rel == "cmd/netpulse/serve.go":
			default:
				missing = append(missing, rel+": "+p)
			}
		}
		return nil
	})
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("route %s is not in the access matrix (deploy/faults/access_test.go)", m)
	}
	var stale []string
	for op := range documented {
		if !registered[op] {
			stale = append(stale, op)
		}
	}
	sort.Strings(stale)
	for _, op := range stale {
		t.Errorf("docs/openapi.yaml documents %s, which no code registers", op)
	}
	if len(registered) < 10 {
		t.Errorf("found only %d API routes in the sources; the registration pattern has stopped matching", len(registered))
	}
}

// apiOperation turns a registered pattern of the JSON API (or of /healthz
// and /metrics) into "METHOD /path/{}" with its path parameters unnamed, as
// openAPIOperations does; pages and subtree mounts are not operations.
func apiOperation(pattern string) (string, bool) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || !(strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/metrics") {
		return "", false
	}
	return method + " " + pathParam.ReplaceAllString(path, "{}"), true
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// openAPIOperations lists the operations of the OpenAPI file as
// "METHOD /path/{}".
func openAPIOperations(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
				out[strings.ToUpper(method)+" "+pathParam.ReplaceAllString(path, "{}")] = true
			}
		}
	}
	return out
}
