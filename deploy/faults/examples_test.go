package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// example is one documented request and the answer documented for it.
type example struct {
	where       string // "docs/openapi.yaml POST /api/v1/…" or "README.md line 12"
	method      string
	path        string // with the query, escaped
	header      http.Header
	body        []byte
	status      int // the documented status
	answer      any // the documented JSON answer, or nil
	credentials string
}

// TestEveryDocumentedExampleWorks sends every request example of
// docs/openapi.yaml and every HTTP example of README.md to a real serve
// and checks that the answer is the documented one: the same status, and a
// JSON body with every field of the documented answer. Writes must match
// the documented numbers, booleans and list lengths too; strings (ids,
// times) are compared only by type, and reads only by shape, because the
// data behind them moves. Reads are retried for a while, since written
// posts and records become searchable a moment after they are accepted.
//
// Examples carry fixed dates; the test moves every date of a request body
// to yesterday (China time), keeping the time of day and offset, so that a
// record example stays inside the retention window and out of the future.
func TestEveryDocumentedExampleWorks(t *testing.T) {
	root := moduleRoot()
	var all []example
	all = append(all, openAPIExamples(t, filepath.Join(root, "docs", "openapi.yaml"))...)
	all = append(all, readmeExamples(t, filepath.Join(root, "README.md"))...)
	if len(all) < 8 {
		t.Fatalf("found only %d examples; the example readers have stopped matching the documents", len(all))
	}
	data := t.TempDir()
	pop := populate(t, data)
	s := startServer(t, data)
	creds := map[string]string{"venue": pop.venue.key}
	for r, tok := range pop.tokens {
		creds[r] = tok
	}
	yesterday := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, -1).Format(time.DateOnly)
	for _, ex := range all {
		token := ""
		if ex.credentials != "" {
			var ok bool
			if token, ok = creds[ex.credentials]; !ok {
				t.Errorf("%s: no credential for %q", ex.where, ex.credentials)
				continue
			}
		}
		body := exampleDate.ReplaceAll(ex.body, []byte(yesterday+"T"))
		var hdr []string
		for k, vs := range ex.header {
			hdr = append(hdr, k, vs[0])
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := s.call(context.Background(), ex.method, ex.path, token, body, hdr...)
			if err != nil {
				t.Fatalf("%s: %v", ex.where, err)
			}
			problem := ""
			if r.code != ex.status {
				problem = fmt.Sprintf("status %d, documented %d", r.code, ex.status)
			} else if ex.answer != nil {
				var got any
				if err := json.Unmarshal(r.body, &got); err != nil {
					problem = fmt.Sprintf("answer is not JSON: %v", err)
				} else {
					problem = sameAnswer("", ex.answer, got, ex.method != http.MethodGet)
				}
			}
			if problem == "" {
				break
			}
			if ex.method != http.MethodGet || time.Now().After(deadline) {
				t.Errorf("%s: %s %s: %s\nanswer: %s", ex.where, ex.method, ex.path, problem, tail(string(r.body), 600))
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("%d documented examples sent", len(all))
}

var exampleDate = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T`)

// sameAnswer says how got differs from the documented want, or "".
func sameAnswer(at string, want, got any, exact bool) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %T", at, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
			if p := sameAnswer(at+"."+k, w[k], gv, exact); p != "" {
				return p
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok && !(got == nil && len(w) == 0) {
			return fmt.Sprintf("%s: want a list, got %T", at, got)
		}
		if exact && len(g) != len(w) {
			return fmt.Sprintf("%s: %d items, documented %d", at, len(g), len(w))
		}
		if len(w) > 0 {
			if len(g) == 0 {
				return fmt.Sprintf("%s: empty, documented with items", at)
			}
			for i := range min(len(w), len(g)) {
				if p := sameAnswer(fmt.Sprintf("%s[%d]", at, i), w[i], g[i], exact); p != "" {
					return p
				}
			}
		}
	case string:
		if _, ok := got.(string); !ok {
			return fmt.Sprintf("%s: want a string, got %T", at, got)
		}
	case float64, int:
		if _, ok := got.(float64); !ok {
			return fmt.Sprintf("%s: want a number, got %T", at, got)
		}
		if exact && fmt.Sprint(toFloat(w)) != fmt.Sprint(got) {
			return fmt.Sprintf("%s: %v, documented %v", at, got, w)
		}
	case bool:
		if _, ok := got.(bool); !ok {
			return fmt.Sprintf("%s: want a boolean, got %T", at, got)
		}
		if exact && got != w {
			return fmt.Sprintf("%s: %v, documented %v", at, got, w)
		}
	}
	return ""
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// openAPIExamples builds one request per request-body example of each
// operation (or one without a body when only parameters carry examples),
// with the example values of its parameters. The documented answer is the
// operation's first 2xx response and its example, if any. The credential
// is that of the first role the access matrix lets use the route.
func openAPIExamples(t *testing.T, file string) []example {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cur = cur.(map[string]any)[part]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}
	paths, _ := doc["paths"].(map[string]any)
	var out []example
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		shared, _ := ops["parameters"].([]any)
		for method, opv := range ops {
			if method == "parameters" {
				continue
			}
			op, _ := opv.(map[string]any)
			where := "docs/openapi.yaml " + strings.ToUpper(method) + " " + path
			// Parameters: the path filled in, the query and headers built.
			target, query, header, hasParamExample, missing := path, url.Values{}, http.Header{}, false, ""
			params, _ := op["parameters"].([]any)
			for _, pv := range append(slices.Clone(shared), params...) {
				p := resolve(pv)
				name, _ := p["name"].(string)
				ex, ok := p["example"]
				if !ok {
					if p["in"] == "path" {
						missing = name
					}
					continue
				}
				val := fmt.Sprint(ex)
				switch p["in"] {
				case "path":
					target = strings.ReplaceAll(target, "{"+name+"}", url.PathEscape(val))
					hasParamExample = true
				case "query":
					query.Set(name, val)
					hasParamExample = true
				case "header":
					header.Set(name, val)
				}
			}
			if len(query) > 0 {
				target += "?" + query.Encode()
			}
			// Bodies: one request per example.
			type bodyEx struct {
				name, contentType string
				body              []byte
			}
			var bodies []bodyEx
			content, _ := resolve(op["requestBody"])["content"].(map[string]any)
			for ct, mv := range content {
				m, _ := mv.(map[string]any)
				vals := map[string]any{}
				if ex, ok := m["example"]; ok {
					vals[""] = ex
				}
				exs, _ := m["examples"].(map[string]any)
				for n, e := range exs {
					vals[n] = resolve(e)["value"]
				}
				for n, v := range vals {
					body, ok := v.(string)
					if !ok {
						j, err := json.Marshal(v)
						if err != nil {
							t.Fatalf("%s: example %s: %v", where, n, err)
						}
						body = string(j)
					}
					bodies = append(bodies, bodyEx{n, ct, []byte(body)})
				}
			}
			if len(bodies) == 0 && !hasParamExample {
				continue
			}
			if missing != "" {
				t.Errorf("%s has examples but none for its path parameter %s", where, missing)
				continue
			}
			if len(bodies) == 0 {
				bodies = append(bodies, bodyEx{})
			}
			status, answers := documentedAnswer(op, resolve)
			if status == 0 {
				t.Errorf("%s documents no 2xx answer", where)
				continue
			}
			for _, be := range bodies {
				h := header.Clone()
				if be.contentType != "" {
					h.Set("Content-Type", be.contentType)
				}
				answer := answers[be.name]
				if answer == nil {
					answer = answers[""]
				}
				w := where
				if be.contentType != "" {
					w += " (" + be.contentType + " example" + strings.TrimSuffix(" "+be.name, " ") + ")"
				}
				out = append(out, example{where: w, method: strings.ToUpper(method), path: target, header: h, body: be.body,
					status: status, answer: answer, credentials: routeCredential(strings.ToUpper(method), path)})
			}
		}
	}
	// Writes first (sorted for a stable order), so that the reads find what
	// they wrote.
	sort.Slice(out, func(i, j int) bool {
		gi, gj := out[i].method == http.MethodGet, out[j].method == http.MethodGet
		if gi != gj {
			return gj
		}
		return out[i].where < out[j].where
	})
	return out
}

// documentedAnswer is an operation's first 2xx status and its JSON
// examples by name ("" for a lone example).
func documentedAnswer(op map[string]any, resolve func(any) map[string]any) (int, map[string]any) {
	responses, _ := op["responses"].(map[string]any)
	var codes []string
	for c := range responses {
		if strings.HasPrefix(c, "2") {
			codes = append(codes, c)
		}
	}
	sort.Strings(codes)
	if len(codes) == 0 {
		return 0, nil
	}
	var status int
	fmt.Sscan(codes[0], &status)
	answers := map[string]any{}
	content, _ := resolve(responses[codes[0]])["content"].(map[string]any)
	if m, ok := content["application/json"].(map[string]any); ok {
		if ex, ok := m["example"]; ok {
			answers[""] = ex
		}
		exs, _ := m["examples"].(map[string]any)
		for n, e := range exs {
			answers[n] = resolve(e)["value"]
		}
	}
	return status, normalise(answers).(map[string]any)
}

// normalise turns YAML's decoded values into what encoding/json decodes
// (float64 numbers, map[string]any objects).
func normalise(v any) any {
	j, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	json.Unmarshal(j, &out)
	return out
}

// routeCredential picks who calls an operation: the first role the access
// matrix allows on it ("venue" for venue keys, "" for public routes).
func routeCredential(method, path string) string {
	op, _ := apiOperation(method + " " + path)
	for _, r := range append(slices.Clone(routes), clusterRoutes...) {
		if o, ok := apiOperation(r.pattern); ok && o == op {
			if r.roles == "*" {
				return ""
			}
			return strings.Fields(r.roles)[0]
		}
	}
	return "none"
}

// readmeExamples reads the README's HTTP examples: a ```http block that
// starts with a request line ("POST /api/…"), its headers and body, answered
// by the next ```http block, which starts with "HTTP/1.1 <status>" and may
// carry a JSON body. Credentials are written $VENUE_KEY or $<ROLE>_TOKEN.
func readmeExamples(t *testing.T, file string) []example {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	type block struct {
		line int
		text string
	}
	var blocks []block
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```http" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		blocks = append(blocks, block{start + 1, strings.Join(lines[start:min(i, len(lines))], "\n")})
	}
	credential := regexp.MustCompile(`^Bearer \$(VENUE_KEY|([A-Z]+)_TOKEN)$`)
	var out []example
	for i := 0; i < len(blocks); i++ {
		where := fmt.Sprintf("README.md line %d", blocks[i].line)
		head, body, _ := strings.Cut(blocks[i].text, "\n\n")
		hl := strings.Split(head, "\n")
		method, target, ok := strings.Cut(hl[0], " ")
		if !ok || strings.HasPrefix(method, "HTTP/") {
			t.Errorf("%s: an http block that is no request: %q", where, hl[0])
			continue
		}
		ex := example{where: where, method: method, header: http.Header{}, body: []byte(strings.TrimSpace(body))}
		u, err := url.Parse(strings.TrimSpace(target))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		u.RawQuery = u.Query().Encode()
		ex.path = u.RequestURI()
		for _, h := range hl[1:] {
			k, v, _ := strings.Cut(h, ":")
			v = strings.TrimSpace(v)
			if strings.EqualFold(k, "Authorization") {
				m := credential.FindStringSubmatch(v)
				if m == nil {
					t.Errorf("%s: write credentials as $VENUE_KEY or $ROLE_TOKEN, not %q", where, v)
					continue
				}
				ex.credentials = "venue"
				if m[2] != "" {
					ex.credentials = strings.ToLower(m[2])
				}
				continue
			}
			ex.header.Set(k, v)
		}
		if i+1 >= len(blocks) || !strings.HasPrefix(blocks[i+1].text, "HTTP/1.1 ") {
			t.Errorf("%s: the request is not followed by its answer (an http block starting HTTP/1.1)", where)
			continue
		}
		i++
		ahead, abody, _ := strings.Cut(blocks[i].text, "\n\n")
		fmt.Sscan(strings.TrimPrefix(strings.Split(ahead, "\n")[0], "HTTP/1.1 "), &ex.status)
		if abody = strings.TrimSpace(abody); abody != "" {
			if err := json.Unmarshal([]byte(abody), &ex.answer); err != nil {
				t.Errorf("README.md line %d: the documented answer is not JSON: %v", blocks[i].line, err)
			}
		}
		out = append(out, ex)
	}
	if bytes.Contains(b, []byte("/api/v1/")) && len(out) == 0 {
		t.Error("README.md mentions the API but has no http examples")
	}
	return out
}
