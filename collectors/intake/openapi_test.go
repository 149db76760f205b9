package intake_test

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDocumentsRoutes keeps docs/openapi.yaml in step with the
// routes intake and record search register.
func TestOpenAPIDocumentsRoutes(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	routes := []struct{ method, path string }{
		{"post", "/api/v1/intake/access-records"},
		{"get", "/api/v1/intake/receipts/{batch_id}"},
		{"post", "/api/v1/intake/receipts/verify"},
		{"get", "/api/v1/intake/quarantine"},
		{"post", "/api/v1/intake/quarantine/resubmit"},
		{"get", "/api/v1/intake/deliveries"},
		{"put", "/api/v1/venues/{code}/legal-hold"},
		{"get", "/api/v1/records"},
		{"put", "/api/v1/records/holds"},
		{"get", "/api/v1/records/{record_id}/reveal"},
		{"get", "/api/v1/audit"},
		{"get", "/api/v1/audit/verify"},
	}
	for _, r := range routes {
		if _, ok := doc.Paths[r.path][r.method]; !ok {
			t.Errorf("%s %s is not documented", r.method, r.path)
		}
	}
	if doc.OpenAPI == "" {
		t.Error("not an OpenAPI document")
	}
}
