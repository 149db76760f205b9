package feeds

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDocumentsSources keeps docs/openapi.yaml in step with the
// routes Handler serves and the fields of Source and SourceHealth.
func TestOpenAPIDocumentsSources(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Properties map[string]schema `yaml:"properties"`
	}
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]schema `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	for _, r := range []struct{ method, path string }{
		{"get", "/api/v1/sources"},
		{"post", "/api/v1/sources"},
		{"get", "/api/v1/sources/{name}"},
		{"put", "/api/v1/sources/{name}"},
		{"delete", "/api/v1/sources/{name}"},
		{"get", "/api/v1/sources/health"},
		{"get", "/api/v1/sources/export"},
		{"post", "/api/v1/sources/import"},
	} {
		if _, ok := doc.Paths[r.path][r.method]; !ok {
			t.Errorf("%s %s is not documented", r.method, r.path)
		}
	}
	tests := []struct {
		schema string
		typ    reflect.Type
	}{
		{"Source", reflect.TypeFor[Source]()},
		{"SourceHealth", reflect.TypeFor[SourceHealth]()},
	}
	for _, tt := range tests {
		props := doc.Components.Schemas[tt.schema].Properties
		want := jsonFields(tt.typ)
		var got []string
		for k := range props {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("schema %s documents %v, the JSON has %v", tt.schema, got, want)
		}
	}
	run := doc.Components.Schemas["SourceHealth"].Properties["last_run"].Properties
	var got []string
	for k := range run {
		got = append(got, k)
	}
	sort.Strings(got)
	if want := jsonFields(reflect.TypeFor[Run]()); !reflect.DeepEqual(got, want) {
		t.Errorf("SourceHealth.last_run documents %v, Run has %v", got, want)
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
