package feeds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func validSource() Source {
	return Source{Name: "gov-news", Kind: KindHTML, URL: "https://news.example.cn/list.html", Enabled: true,
		Interval: Duration(10 * time.Minute), Jitter: Duration(time.Minute), Charset: "gbk",
		Selectors:  Selectors{List: ".list a", Next: "a.next", Title: "h1", Body: ".content", Time: ".date"},
		TimeLayout: "2006-01-02 15:04"}.WithDefaults()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Source)
		fields []string
	}{
		{"valid", func(*Source) {}, nil},
		{"bad name", func(s *Source) { s.Name = "Gov News!" }, []string{"name"}},
		{"missing kind", func(s *Source) { s.Kind = "" }, []string{"kind"}},
		{"unknown kind", func(s *Source) { s.Kind = "json" }, []string{"kind"}},
		{"relative url", func(s *Source) { s.URL = "/list.html" }, []string{"url"}},
		{"ftp url", func(s *Source) { s.URL = "ftp://x.cn/" }, []string{"url"}},
		{"interval too short", func(s *Source) { s.Interval = Duration(time.Millisecond) }, []string{"interval", "jitter"}},
		{"jitter above interval", func(s *Source) { s.Jitter = Duration(time.Hour) }, []string{"jitter"}},
		{"negative delay", func(s *Source) { s.HostDelay = -1 }, []string{"host_delay"}},
		{"depth", func(s *Source) { s.MaxDepth = -2 }, []string{"max_depth"}},
		{"pages", func(s *Source) { s.MaxPages = MaxMaxPages + 1 }, []string{"max_pages"}},
		{"charset", func(s *Source) { s.Charset = "klingon" }, []string{"charset"}},
		{"timezone", func(s *Source) { s.Timezone = "Mars/Olympus" }, []string{"timezone"}},
		{"layout", func(s *Source) { s.TimeLayout = "yyyy-MM-dd" }, []string{"time_layout"}},
		{"selector", func(s *Source) { s.Selectors.Body = "div[" }, []string{"selectors.body"}},
		{"html without list", func(s *Source) { s.Selectors.List = "" }, []string{"selectors.list"}},
		{"rss with selectors", func(s *Source) { s.Kind = KindRSS }, []string{"selectors"}},
		{"several", func(s *Source) { s.Name = ""; s.URL = "" }, []string{"name", "url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSource()
			tt.edit(&s)
			err := s.Validate()
			var got []string
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					if p.Reason == "" {
						t.Errorf("field %s without a reason", p.Field)
					}
					got = append(got, p.Field)
				}
			} else if err != nil {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("problem fields = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	a := validSource()
	b := feedSource("rss", KindRSS, "https://x.cn/rss.xml").WithDefaults()
	data, err := MarshalYAML([]Source{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "interval: 10m0s") {
		t.Errorf("durations should be written as text:\n%s", data)
	}
	got, err := UnmarshalYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []Source{a, b}) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, []Source{a, b})
	}
}

func TestYAMLImportRefusesBadFile(t *testing.T) {
	tests := []struct {
		name, yaml string
		fields     []string
	}{
		{"bad source", "sources:\n- name: ok\n  kind: rss\n  url: https://x.cn/a.xml\n- name: bad\n  kind: html\n  url: nope\n",
			[]string{"sources[1].url", "sources[1].selectors.list"}},
		{"duplicate", "sources:\n- name: a\n  kind: rss\n  url: https://x.cn/a.xml\n- name: a\n  kind: atom\n  url: https://x.cn/b.xml\n",
			[]string{"sources[1].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalYAML([]byte(tt.yaml))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Field)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
	if _, err := UnmarshalYAML([]byte("sources:\n- name: a\n  kind: rss\n  url: https://x.cn/a.xml\n  colour: red\n")); err == nil {
		t.Error("unknown field accepted")
	}
}

func do(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestAPI(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := NewHealth(st, prometheus.NewRegistry(), 3)
	if err != nil {
		t.Fatal(err)
	}
	api := Handler(st, h, slog.New(slog.DiscardHandler))
	src, _ := json.Marshal(validSource())

	steps := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"GET", "/api/v1/sources", "", 200, `"sources":[]`},
		{"POST", "/api/v1/sources", string(src), 201, `"name":"gov-news"`},
		{"POST", "/api/v1/sources", string(src), 409, "exists"},
		{"POST", "/api/v1/sources", `{"name":"x","kind":"html","url":"notaurl"}`, 400, `"field":"url"`},
		{"POST", "/api/v1/sources", `{"name":"x","kind":"rss","url":"https://a.cn/f.xml","bogus":1}`, 400, `"field":"body"`},
		{"GET", "/api/v1/sources/gov-news", "", 200, `"interval":"10m0s"`},
		{"GET", "/api/v1/sources/missing", "", 404, "not found"},
		{"PUT", "/api/v1/sources/rss", `{"kind":"rss","url":"https://a.cn/f.xml","enabled":true}`, 200, `"max_pages":100`},
		{"PUT", "/api/v1/sources/rss", `{"name":"other","kind":"rss","url":"https://a.cn/f.xml"}`, 400, "differs"},
		{"GET", "/api/v1/sources/export", "", 200, "name: gov-news"},
		{"POST", "/api/v1/sources/import", "sources:\n- name: atom1\n  kind: atom\n  url: https://a.cn/a.xml\n", 200, `"imported":1`},
		{"POST", "/api/v1/sources/import", "sources:\n- name: bad\n  kind: atom\n", 400, `"field":"sources[0].url"`},
		{"DELETE", "/api/v1/sources/rss", "", 204, ""},
		{"DELETE", "/api/v1/sources/rss", "", 404, ""},
		{"GET", "/api/v1/sources", "", 200, `"name":"atom1"`},
		{"GET", "/api/v1/sources/health", "", 200, `"sources":[]`},
	}
	for _, s := range steps {
		code, body := do(t, api, s.method, s.path, s.body)
		if code != s.code || !strings.Contains(body, s.contains) {
			t.Errorf("%s %s: %d %s\nwant %d containing %q", s.method, s.path, code, body, s.code, s.contains)
		}
	}
	srcs, err := st.Sources()
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 {
		t.Errorf("stored sources = %d, want gov-news and atom1", len(srcs))
	}
}

// TestHealthSurvivesRestartAndMetrics runs a source, reopens the store and
// checks the API and the metrics.
func TestHealthSurvivesRestartAndMetrics(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	e := newEnv(t, dir, Config{})
	crawl(t, e, newsSource(s.URL))
	if got := metricValue(t, e.reg, "netpulse_feeds_robots_skipped_total", "news"); got != 1 {
		t.Errorf("robots_skipped_total = %v, want 1", got)
	}
	if got := metricValue(t, e.reg, "netpulse_feeds_last_run_posts", "news"); got != 3 {
		t.Errorf("last_run_posts = %v, want 3", got)
	}
	e.close()

	st, err := OpenStore(filepath.Join(dir, "feeds"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	h, err := NewHealth(st, reg, 3)
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, Handler(st, h, slog.New(slog.DiscardHandler)), "GET", "/api/v1/sources/health", "")
	var got struct{ Sources []SourceHealth }
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("health: %d %s %v", code, body, err)
	}
	if len(got.Sources) != 1 || got.Sources[0].PostsTotal != 3 || got.Sources[0].RobotsSkippedTotal != 1 || got.Sources[0].LastSuccessAt.IsZero() {
		t.Errorf("health after restart = %+v", got.Sources)
	}
	if got := metricValue(t, reg, "netpulse_feeds_last_success_timestamp_seconds", "news"); got != float64(testNow.Unix()) {
		t.Errorf("last_success gauge after restart = %v, want %d", got, testNow.Unix())
	}
}

func TestSchedulerRunsEnabledSources(t *testing.T) {
	s := newSite(t)
	e := newEnv(t, t.TempDir(), Config{})
	on := noDelay(feedSource("rss", KindRSS, s.URL+"/feeds/rss.xml"))
	on.Interval = Duration(time.Second)
	off := noDelay(feedSource("atom", KindAtom, s.URL+"/feeds/atom.xml"))
	off.Enabled = false
	other := noDelay(newsSource(s.URL)) // enabled, but another node's
	if err := e.store.PutSources(context.Background(), on, off, other); err != nil {
		t.Fatal(err)
	}
	owns := func(name string) bool { return name != "news" }
	sch := NewScheduler(SchedulerConfig{Tick: 5 * time.Millisecond, Concurrency: 2, Seed: 1, Owns: owns}, e.store, e.crawler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sch.Run(ctx) }()

	// Wait (bounded) for two runs of the enabled source: the first fetch
	// and a conditional re-fetch one interval later.
	deadline := time.After(20 * time.Second)
	for s.count("/feeds/rss.xml") < 2 {
		select {
		case <-deadline:
			t.Fatalf("enabled source ran %d times", s.count("/feeds/rss.xml"))
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
	if n := s.count("/feeds/atom.xml"); n != 0 {
		t.Errorf("disabled source fetched %d times", n)
	}
	if n := s.count("/news/index.html"); n != 0 {
		t.Errorf("source owned by another node fetched %d times", n)
	}
	h, ok := e.health.Get("rss")
	if !ok || h.PostsTotal != 2 {
		t.Errorf("rss health = %+v, want 2 posts over its runs", h)
	}
}

// metricValue reads one series of a gathered metric by its source label.
func metricValue(t *testing.T, g prometheus.Gatherer, name, source string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{source=%q} not found", name, source)
	return 0
}

// FuzzUnmarshalYAML feeds arbitrary import files: no panic, and whatever is
// accepted is valid and survives an export/import round trip.
func FuzzUnmarshalYAML(f *testing.F) {
	seed, _ := MarshalYAML([]Source{validSource(), feedSource("rss", KindRSS, "https://x.cn/rss.xml").WithDefaults()})
	f.Add(string(seed))
	f.Add("sources:\n- name: a\n  kind: rss\n  url: https://x.cn/a.xml\n  interval: 1s\n")
	f.Add("sources: [{name: b, kind: html, url: 'http://x', selectors: {list: 'a['}}]")
	f.Fuzz(func(t *testing.T, in string) {
		srcs, err := UnmarshalYAML([]byte(in))
		if err != nil {
			return
		}
		for _, s := range srcs {
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted an invalid source: %v", err)
			}
		}
		out, err := MarshalYAML(srcs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := UnmarshalYAML(out)
		if err != nil || len(again) != len(srcs) {
			t.Fatalf("round trip: %v (%d vs %d)\n%s", err, len(again), len(srcs), out)
		}
	})
}
