package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("listen: 0.0.0.0:9000\nkafka: [a:1, b:2]\nbatch-rows: 10\nlog-level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c *Config) {
			if c.Listen != "127.0.0.1:8080" || c.JournalFsync != "always" || c.BatchDelay != 200*time.Millisecond {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c *Config) {
			if c.Listen != "0.0.0.0:9000" || c.BatchRows != 10 || !reflect.DeepEqual(c.Kafka, []string{"a:1", "b:2"}) {
				t.Errorf("file not applied: %+v", c)
			}
		}},
		{"env over file", []string{"--config", file}, map[string]string{"NETPULSE_LISTEN": "1.2.3.4:5"}, func(t *testing.T, c *Config) {
			if c.Listen != "1.2.3.4:5" || c.BatchRows != 10 {
				t.Errorf("env not applied over file: %+v", c)
			}
		}},
		{"flag over env", []string{"--config", file, "--listen", "9.9.9.9:9"}, map[string]string{"NETPULSE_LISTEN": "1.2.3.4:5"}, func(t *testing.T, c *Config) {
			if c.Listen != "9.9.9.9:9" {
				t.Errorf("flag not applied over env: %q", c.Listen)
			}
		}},
		{"config file from env", nil, map[string]string{"NETPULSE_CONFIG": file}, func(t *testing.T, c *Config) {
			if c.BatchRows != 10 {
				t.Errorf("NETPULSE_CONFIG not read: %+v", c)
			}
		}},
		{"bool flag", []string{"--demo"}, nil, func(t *testing.T, c *Config) {
			if !c.Demo {
				t.Error("--demo not set")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"unknown key names its line", []string{"--config", write("u.yaml", "listen: x\nnope: 1\n")}, nil, "line 2: unknown setting"},
		{"bad duration in file", []string{"--config", write("d.yaml", "batch-delay: soon\n")}, nil, "batch-delay"},
		{"bad env", nil, map[string]string{"NETPULSE_BATCH_ROWS": "many"}, "NETPULSE_BATCH_ROWS"},
		{"retention under 60 days", []string{"--retention-access", "24h"}, nil, "legal minimum"},
		{"tls half configured", []string{"--tls-cert", "x.pem"}, nil, "go together"},
		{"bad fsync", []string{"--journal-fsync", "never"}, nil, "journal-fsync"},
		{"collector below off", []string{"--gc-percent", "-2"}, nil, "gc-percent must be"},
		{"collector off without a limit", nil, map[string]string{"NETPULSE_GC_PERCENT": "-1"}, "needs memory-limit-mib"},
		{"missing file", []string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "read config"},
		{"stray argument", []string{"extra"}, nil, "unexpected arguments"},
		{"gap share over one", []string{"--compliance-gap-refused-share", "20"}, nil, "compliance-gap shares"},
		{"gap share not a number", nil, map[string]string{"NETPULSE_COMPLIANCE_GAP_MISSING_SHARE": "5%"}, "NETPULSE_COMPLIANCE_GAP_MISSING_SHARE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSampleConfigLoads(t *testing.T) {
	c, err := loadConfig("serve", []string{"--config", "../../deploy/netpulse.sample.yaml"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Kafka) != 3 || c.Data != "/var/lib/netpulse" || c.ComplianceGapRefused != 0.2 || c.ComplianceGapMissing != 0.05 {
		t.Errorf("sample config read as %+v", c)
	}
}

func FuzzConfigFile(f *testing.F) {
	f.Add("listen: a\n")
	f.Add("kafka: [a, b]\nbatch-rows: 3\n")
	f.Add("demo: {x: 1}\n")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		// Any input may be refused, none may panic.
		loadConfig("serve", []string{"--config", p}, func(string) string { return "" }, io.Discard)
	})
}

// TestHelpPrintsRealDefaults checks that `serve --help` shows, for every
// setting, the value serve will use when nothing overrides it: a flag
// printing "(default 0s)" for a 200ms default misleads whoever tunes it.
func TestHelpPrintsRealDefaults(t *testing.T) {
	var help strings.Builder
	if _, err := loadConfig("serve", []string{"--help"}, func(string) string { return "" }, &help); err == nil {
		t.Fatal("--help did not stop the start-up")
	}
	used, err := loadConfig("serve", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The flag package prints one block per flag: "  -name type\n    \thelp (default X)".
	blocks := map[string]string{}
	for _, b := range strings.Split(help.String(), "\n  -")[1:] {
		name, _, _ := strings.Cut(b, " ")
		name, _, _ = strings.Cut(name, "\n")
		blocks[name] = b
	}
	for _, f := range used.fields() {
		b, ok := blocks[f.name]
		if !ok {
			t.Errorf("--help does not list -%s", f.name)
			continue
		}
		want := (&flagValue{f: f}).String()
		switch {
		case f.def == "" && strings.Contains(b, "(default "):
			t.Errorf("-%s has no default but --help shows one: %q", f.name, b)
		case f.def != "" && !strings.Contains(b, "(default "+want+")"):
			t.Errorf("-%s: --help says %q, serve uses %q", f.name, strings.TrimSpace(b), want)
		}
	}
}
