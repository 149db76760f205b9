// Package feeds collects public posts from configured sources (news sites
// and forums crawled as HTML with colly, RSS and Atom feeds parsed with
// gofeed) and publishes them to the raw.posts topic, politely (robots.txt,
// per-host rate limits, conditional requests) and incrementally (seen URLs
// survive restarts), with near-duplicate copies sharing a SimHash cluster.
// Each run of a source is logged to netpulse.crawl_runs (RunLog), which
// every crawl node and the reports read for source health.
//
// Why gofeed for feeds: it is maintained, parses RSS 0.9x/1.0/2.0 and Atom
// 0.3/1.0 behind one universal parser (so a source mislabelled rss that
// serves Atom still works), decodes non-UTF-8 feeds through the XML
// declaration, and normalises dates, authors (including dc:creator) and
// content:encoded into one Item type.
package feeds

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/andybalholm/cascadia"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/html/charset"
)

// Kind is how a source is read.
type Kind string

// Source kinds.
const (
	KindRSS  Kind = "rss"
	KindAtom Kind = "atom"
	KindHTML Kind = "html"
)

// Source is one configured site or feed.
type Source struct {
	Name string `json:"name" yaml:"name"`
	// Title is the name pages show (人民网, 江城论坛); empty shows Name,
	// which stays the identifier in posts, facets and the API.
	Title string `json:"title,omitempty" yaml:"title,omitempty"`
	Kind  Kind   `json:"kind" yaml:"kind"`
	// URL is the feed, or for html the first list page.
	URL string `json:"url" yaml:"url"`
	// Interval between runs; each run starts up to Jitter later so that
	// sources on one host do not fire together.
	Interval Duration `json:"interval" yaml:"interval"`
	Jitter   Duration `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	// Selectors locate things on html pages.
	Selectors Selectors `json:"selectors,omitzero" yaml:"selectors,omitempty"`
	// TimeLayout is a Go layout for the printed time, tried before the
	// built-in Chinese forms; Timezone (IANA) is where zone-less times are
	// read, default Asia/Shanghai.
	TimeLayout string `json:"time_layout,omitempty" yaml:"time_layout,omitempty"`
	Timezone   string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	// Charset overrides what the server and the page declare (some GBK
	// forums declare nothing or lie).
	Charset string `json:"charset,omitempty" yaml:"charset,omitempty"`
	// HostDelay is the minimum gap between two requests to the source's
	// host, shared by all sources on that host.
	HostDelay Duration `json:"host_delay" yaml:"host_delay"`
	// MaxDepth is how many list pages are followed through the next-page
	// link (1: the start page only).
	MaxDepth int `json:"max_depth" yaml:"max_depth"`
	// MaxPages bounds the HTTP fetches of one run, list and article pages together.
	MaxPages int  `json:"max_pages" yaml:"max_pages"`
	Enabled  bool `json:"enabled" yaml:"enabled"`
}

// Selectors are CSS selectors for html sources.
type Selectors struct {
	// List matches the links (a elements, or elements containing one) to
	// article pages on a list page.
	List   string `json:"list,omitempty" yaml:"list,omitempty"`
	Next   string `json:"next,omitempty" yaml:"next,omitempty"`
	Title  string `json:"title,omitempty" yaml:"title,omitempty"`
	Body   string `json:"body,omitempty" yaml:"body,omitempty"`
	Author string `json:"author,omitempty" yaml:"author,omitempty"`
	Time   string `json:"time,omitempty" yaml:"time,omitempty"`
}

// Duration is a time.Duration written as "15m" in JSON and YAML.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Defaults for fields left empty.
const (
	DefaultInterval  = Duration(15 * time.Minute)
	DefaultHostDelay = Duration(2 * time.Second)
	DefaultMaxDepth  = 3
	DefaultMaxPages  = 100
	DefaultTimezone  = "Asia/Shanghai"
)

// WithDefaults fills empty optional fields.
func (s Source) WithDefaults() Source {
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.HostDelay == 0 {
		s.HostDelay = DefaultHostDelay
	}
	if s.MaxDepth == 0 {
		s.MaxDepth = DefaultMaxDepth
	}
	if s.MaxPages == 0 {
		s.MaxPages = DefaultMaxPages
	}
	if s.Timezone == "" {
		s.Timezone = DefaultTimezone
	}
	s.Kind = Kind(strings.ToLower(string(s.Kind)))
	return s
}

// FieldError names a field of a source definition and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every problem of one source definition.
type ValidationError struct {
	Source   string       `json:"source"`
	Problems []FieldError `json:"problems"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	return fmt.Sprintf("source %q: %s", e.Source, strings.Join(parts, "; "))
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Limits that keep one source from hammering a site or starving the others.
const (
	MinInterval  = Duration(time.Second)
	MaxMaxDepth  = 1000
	MaxMaxPages  = 100000
	MaxHostDelay = Duration(10 * time.Minute)
)

// Validate checks s (after WithDefaults) and returns a *ValidationError
// naming every bad field, or nil.
func (s Source) Validate() error {
	var p []FieldError
	bad := func(field, format string, args ...any) {
		p = append(p, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(s.Name) {
		bad("name", "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	switch s.Kind {
	case KindRSS, KindAtom, KindHTML:
	case "":
		bad("kind", "missing; one of rss, atom, html")
	default:
		bad("kind", "%q is not one of rss, atom, html", s.Kind)
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "must be an absolute http or https URL")
	}
	if s.Interval < MinInterval {
		bad("interval", "must be at least %s", MinInterval.Std())
	}
	if s.Jitter < 0 || s.Jitter > s.Interval {
		bad("jitter", "must be between 0 and the interval")
	}
	if s.HostDelay < 0 || s.HostDelay > MaxHostDelay {
		bad("host_delay", "must be between 0 and %s", MaxHostDelay.Std())
	}
	if s.MaxDepth < 1 || s.MaxDepth > MaxMaxDepth {
		bad("max_depth", "must be between 1 and %d", MaxMaxDepth)
	}
	if s.MaxPages < 1 || s.MaxPages > MaxMaxPages {
		bad("max_pages", "must be between 1 and %d", MaxMaxPages)
	}
	if s.Charset != "" {
		if e, _ := charset.Lookup(s.Charset); e == nil {
			bad("charset", "unknown charset %q", s.Charset)
		}
	}
	if s.Timezone != "" {
		if _, err := loadZone(s.Timezone); err != nil {
			bad("timezone", "unknown time zone %q", s.Timezone)
		}
	}
	if s.TimeLayout != "" {
		ref := time.Date(2026, 11, 28, 14, 5, 9, 0, time.UTC)
		if _, err := time.Parse(s.TimeLayout, ref.Format(s.TimeLayout)); err != nil || ref.Format(s.TimeLayout) == s.TimeLayout {
			bad("time_layout", "not a Go time layout (write the reference time Mon Jan 2 15:04:05 2006)")
		}
	}
	sel := []struct{ field, v string }{
		{"selectors.list", s.Selectors.List}, {"selectors.next", s.Selectors.Next},
		{"selectors.title", s.Selectors.Title}, {"selectors.body", s.Selectors.Body},
		{"selectors.author", s.Selectors.Author}, {"selectors.time", s.Selectors.Time},
	}
	for _, x := range sel {
		if x.v == "" {
			continue
		}
		if _, err := cascadia.ParseGroup(x.v); err != nil {
			bad(x.field, "invalid CSS selector: %v", err)
		}
	}
	if s.Kind == KindHTML && s.Selectors.List == "" {
		bad("selectors.list", "required for html sources: it finds the article links on list pages")
	}
	if (s.Kind == KindRSS || s.Kind == KindAtom) && s.Selectors != (Selectors{}) {
		bad("selectors", "only html sources use selectors")
	}
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Source: s.Name, Problems: p}
}

// loadZone falls back to a fixed UTC+8 for Asia/Shanghai so that hosts
// without tzdata still run.
func loadZone(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil && (name == "Asia/Shanghai" || name == "PRC") {
		return time.FixedZone("CST", 8*3600), nil
	}
	return loc, err
}

// sourcesFile is the YAML export format: one document with a list, so that
// it diffs and reviews well.
type sourcesFile struct {
	Sources []Source `yaml:"sources"`
}

// MarshalYAML writes sources as one YAML document.
func MarshalYAML(sources []Source) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(sourcesFile{Sources: sources}); err != nil {
		return nil, fmt.Errorf("encode sources yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode sources yaml: %w", err)
	}
	return b.Bytes(), nil
}

// UnmarshalYAML reads a YAML export, applies defaults and validates every
// source; it refuses the whole file if any source is bad or a name repeats,
// so that an import never half-applies. The *ValidationError lists every
// problem with fields named like "sources[2].url".
func UnmarshalYAML(data []byte) ([]Source, error) {
	var f sourcesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode sources yaml: %w", err)
	}
	var problems []FieldError
	seen := map[string]bool{}
	out := make([]Source, 0, len(f.Sources))
	for i, s := range f.Sources {
		s = s.WithDefaults()
		prefix := fmt.Sprintf("sources[%d].", i)
		if err := s.Validate(); err != nil {
			var ve *ValidationError
			errors.As(err, &ve)
			for _, p := range ve.Problems {
				problems = append(problems, FieldError{Field: prefix + p.Field, Reason: p.Reason})
			}
			continue
		}
		if seen[s.Name] {
			problems = append(problems, FieldError{Field: prefix + "name", Reason: fmt.Sprintf("%q appears twice in the file", s.Name)})
			continue
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Source: "import", Problems: problems}
	}
	return out, nil
}
