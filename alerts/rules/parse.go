// Package rules evaluates the watch rules duty officers write: keyword,
// frequency, spike, flatline, new_term and threshold rules, defined in YAML
// files or through the API, validated with line-numbered errors, and
// raised as alerts through the lifecycle.
//
// A rule file:
//
//	rules:
//	  - name: fraud-words            # unique, [a-z0-9-_.]
//	    type: keyword                # keyword | frequency | spike | flatline | new_term | threshold
//	    query: "诈骗|刷单 -广告"       # words all required; a|b either; -w excluded
//	    severity: warning            # info | warning | critical
//	    unit: cyber-1                # owner unit
//	    realert: 30m                 # repeats within this fold into one alert
//	    dedup_key: source            # keyword: rule | source | cluster (default rule)
//	    every: 1m                    # evaluation interval (default 1m)
//	  - {name: fire-often, type: frequency, query: 火灾, window: 10m, threshold: 20, severity: critical, unit: u}
//	  - {name: fire-spike, type: spike, query: 火灾, window: 30m, ratio: 3, min_count: 5, severity: warning, unit: u}
//	  - {name: venue-silent, type: flatline, of: venue, factor: 3, min_silence: 15m, severity: warning, unit: u}
//	  - {name: fresh-words, type: new_term, min_count: 5, window: 1h, learn: 24h, severity: info, unit: u}
//	  - {name: few-records, type: threshold, severity: warning, unit: u, op: "<", value: 10,
//	     sql: "SELECT sum(records) AS value FROM netpulse.record_deliveries WHERE minute > now() - INTERVAL 1 HOUR"}
//
// Threshold SQL is judged by ClickHouse's own parser when the engine loads
// or stores a rule (sqlguard.go): one SELECT over non-personal tables with
// allowed functions only, run read-only with resource limits. A rule on
// disk or in the store that fails that check stays listed, disabled, with
// the reason.
//
// frequency, spike, flatline and threshold alerts resolve themselves when
// their condition clears; keyword and new_term alerts wait for an officer.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/netpulse/netpulse/alerts/lifecycle"
)

// Types of rule.
const (
	TypeKeyword   = "keyword"
	TypeFrequency = "frequency"
	TypeSpike     = "spike"
	TypeFlatline  = "flatline"
	TypeNewTerm   = "new_term"
	TypeThreshold = "threshold"
)

// Rule is one validated rule.
type Rule struct {
	Name string `json:"name"`
	// Title is what officers read on the card in place of Name; Name is
	// the identifier files and the API use.
	Title    string        `json:"title,omitempty"`
	Type     string        `json:"type"`
	Severity string        `json:"severity"`
	Unit     string        `json:"unit"`
	Realert  time.Duration `json:"realert"`
	DedupKey string        `json:"dedup_key"`
	Every    time.Duration `json:"every"`

	Query      string        `json:"query,omitempty"`
	Window     time.Duration `json:"window,omitempty"`
	Threshold  float64       `json:"threshold,omitempty"`
	Ratio      float64       `json:"ratio,omitempty"`
	MinCount   int           `json:"min_count,omitempty"`
	Of         string        `json:"of,omitempty"`
	Factor     float64       `json:"factor,omitempty"`
	MinSilence time.Duration `json:"min_silence,omitempty"`
	Learn      time.Duration `json:"learn,omitempty"`
	SQL        string        `json:"sql,omitempty"`
	Op         string        `json:"op,omitempty"`
	Value      float64       `json:"value,omitempty"`

	// Source is "file:<path>" or "api"; Line is where the rule starts.
	Source string `json:"source"`
	Line   int    `json:"line"`
	YAML   string `json:"yaml,omitempty"`

	// Disabled says why the engine does not evaluate this rule (its SQL
	// failed the check at load); empty when it runs.
	Disabled string `json:"disabled,omitempty"`

	q   query
	run string // threshold: the checked, canonical SQL that runs
}

// FieldError is one problem in a rule file.
type FieldError struct {
	Line    int    `json:"line"`
	Rule    string `json:"rule,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e FieldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d: ", e.Line)
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ValidationError lists every problem found in a file.
type ValidationError struct {
	Source string
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return fmt.Sprintf("rules %s: %s", e.Source, strings.Join(parts, "; "))
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// maxRuleFile bounds what Parse reads; rule files are small.
const maxRuleFile = 1 << 20

// Parse reads a rule file and validates every rule. source names it in
// errors and in Rule.Source.
func Parse(data []byte, source string) ([]Rule, error) {
	if len(data) > maxRuleFile {
		return nil, &ValidationError{source, []FieldError{{Line: 1, Message: fmt.Sprintf("file larger than %d bytes", maxRuleFile)}}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, &ValidationError{source, []FieldError{{Line: yamlErrLine(err), Message: err.Error()}}}
	}
	if len(doc.Content) == 0 {
		return nil, &ValidationError{source, []FieldError{{Line: 1, Message: "empty file, want a rules: list"}}}
	}
	root := doc.Content[0]
	var list *yaml.Node
	var errs []FieldError
	switch root.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			if k.Value != "rules" {
				errs = append(errs, FieldError{Line: k.Line, Field: k.Value, Message: "unknown key, want rules"})
				continue
			}
			list = v
		}
	case yaml.SequenceNode:
		list = root
	default:
		errs = append(errs, FieldError{Line: root.Line, Message: "want a mapping with a rules: list"})
	}
	if list == nil && len(errs) == 0 {
		errs = append(errs, FieldError{Line: root.Line, Message: "no rules: list"})
	}
	var out []Rule
	if list != nil {
		if list.Kind != yaml.SequenceNode {
			errs = append(errs, FieldError{Line: list.Line, Field: "rules", Message: "want a list of rules"})
		} else {
			seen := map[string]int{}
			for _, n := range list.Content {
				r, rerrs := parseRule(n)
				errs = append(errs, rerrs...)
				if len(rerrs) > 0 {
					continue
				}
				if prev, ok := seen[r.Name]; ok {
					errs = append(errs, FieldError{Line: r.Line, Rule: r.Name, Field: "name", Message: fmt.Sprintf("already used by the rule at line %d", prev)})
					continue
				}
				seen[r.Name] = r.Line
				r.Source = source
				if b, err := yaml.Marshal(n); err == nil {
					r.YAML = string(b)
				}
				out = append(out, r)
			}
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{source, errs}
	}
	return out, nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

// fields each type accepts, besides the common ones.
var typeFields = map[string][]string{
	TypeKeyword:   {"query", "window"},
	TypeFrequency: {"query", "window", "threshold"},
	TypeSpike:     {"query", "window", "ratio", "min_count"},
	TypeFlatline:  {"of", "factor", "min_silence"},
	TypeNewTerm:   {"min_count", "window", "learn"},
	TypeThreshold: {"sql", "op", "value"},
}

var commonFields = []string{"name", "title", "type", "severity", "unit", "realert", "dedup_key", "every", "description"}

func parseRule(n *yaml.Node) (Rule, []FieldError) {
	r := Rule{Line: n.Line, Every: time.Minute}
	if n.Kind != yaml.MappingNode {
		return r, []FieldError{{Line: n.Line, Message: "a rule is a mapping of fields"}}
	}
	vals := map[string]*yaml.Node{}
	var errs []FieldError
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := vals[k.Value]; dup {
			errs = append(errs, FieldError{Line: k.Line, Field: k.Value, Message: "given twice"})
			continue
		}
		vals[k.Value] = v
	}
	if v := vals["name"]; v != nil {
		r.Name = v.Value
	}
	fail := func(field string, line int, format string, args ...any) {
		errs = append(errs, FieldError{Line: line, Rule: r.Name, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if r.Name == "" {
		fail("name", n.Line, "missing")
	} else if !nameRE.MatchString(r.Name) {
		fail("name", vals["name"].Line, "%q is not lower-case letters, digits, '.', '-' or '_' (at most 64)", r.Name)
	}
	if v := vals["type"]; v == nil {
		fail("type", n.Line, "missing")
	} else if _, ok := typeFields[v.Value]; !ok {
		fail("type", v.Line, "%q is not keyword, frequency, spike, flatline, new_term or threshold", v.Value)
	} else {
		r.Type = v.Value
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if contains(commonFields, k.Value) {
			continue
		}
		if r.Type != "" && !contains(typeFields[r.Type], k.Value) {
			fail(k.Value, k.Line, "not a field of a %s rule (want %s)", r.Type, strings.Join(append(append([]string{}, commonFields...), typeFields[r.Type]...), ", "))
		}
	}
	str := func(key string) (string, int) {
		v := vals[key]
		if v == nil {
			return "", n.Line
		}
		if v.Kind != yaml.ScalarNode {
			fail(key, v.Line, "want a single value")
			return "", v.Line
		}
		return v.Value, v.Line
	}
	dur := func(key string, def time.Duration, minimum time.Duration) time.Duration {
		s, line := str(key)
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			fail(key, line, "%q is not a duration such as 90s, 10m or 2h", s)
			return def
		}
		if d < minimum {
			fail(key, line, "%v is below the minimum %v", d, minimum)
		}
		return d
	}
	num := func(key string, def float64, required bool, positive bool) float64 {
		s, line := str(key)
		if s == "" {
			if required {
				fail(key, line, "missing")
			}
			return def
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != f {
			fail(key, line, "%q is not a number", s)
			return def
		}
		if positive && f <= 0 {
			fail(key, line, "must be positive")
		}
		return f
	}
	sev, line := str("severity")
	if sev == "" {
		sev = lifecycle.SeverityWarning
	} else if !lifecycle.ValidSeverity(sev) {
		fail("severity", line, "%q is not info, warning or critical", sev)
	}
	r.Severity = sev
	var tline int
	r.Title, tline = str("title")
	if utf8.RuneCountInString(r.Title) > 64 {
		fail("title", tline, "longer than 64 characters")
	}
	r.Unit, _ = str("unit")
	if r.Unit == "" {
		fail("unit", n.Line, "missing: every rule has an owner unit")
	}
	r.Realert = dur("realert", 30*time.Minute, 0)
	r.Every = dur("every", time.Minute, time.Second)
	r.DedupKey, line = str("dedup_key")
	if r.DedupKey == "" {
		r.DedupKey = "rule"
	} else if r.Type == TypeKeyword && !contains([]string{"rule", "source", "cluster"}, r.DedupKey) {
		fail("dedup_key", line, "%q is not rule, source or cluster", r.DedupKey)
	}

	switch r.Type {
	case TypeKeyword, TypeFrequency, TypeSpike:
		var qline int
		r.Query, qline = str("query")
		if strings.TrimSpace(r.Query) == "" {
			fail("query", qline, "missing")
		} else if q, err := parseQuery(r.Query); err != nil {
			fail("query", qline, "%v", err)
		} else {
			r.q = q
		}
		if r.Type == TypeKeyword {
			// A keyword rule's matches within its window grow one card.
			r.Window = dur("window", 30*time.Minute, time.Second)
		}
		if r.Type == TypeFrequency {
			r.Window = dur("window", 10*time.Minute, time.Second)
			r.Threshold = num("threshold", 0, true, true)
		}
		if r.Type == TypeSpike {
			r.Window = dur("window", 30*time.Minute, time.Second)
			r.Ratio = num("ratio", 3, false, true)
			r.MinCount = int(num("min_count", 5, false, true))
			if r.Window > 24*time.Hour {
				fail("window", vals["window"].Line, "at most 24h (the baseline is the same window a day and a week ago)")
			}
		}
	case TypeFlatline:
		var l int
		r.Of, l = str("of")
		if r.Of != "venue" && r.Of != "source" {
			fail("of", l, "%q is not venue or source", r.Of)
		}
		r.Factor = num("factor", 3, false, true)
		r.MinSilence = dur("min_silence", 15*time.Minute, time.Second)
	case TypeNewTerm:
		r.MinCount = int(num("min_count", 3, false, true))
		r.Window = dur("window", time.Hour, time.Second)
		r.Learn = dur("learn", 24*time.Hour, 0)
	case TypeThreshold:
		var l int
		r.SQL, l = str("sql")
		if err := checkSQL(r.SQL); err != nil {
			fail("sql", l, "%v", err)
		}
		r.Op, l = str("op")
		if !contains([]string{">", ">=", "<", "<=", "==", "!="}, r.Op) {
			fail("op", l, "%q is not one of > >= < <= == !=", r.Op)
		}
		r.Value = num("value", 0, true, false)
	}
	return r, errs
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// checkSQL is the cheap part of the SQL check that needs no engine; the
// real one (vetSQL) asks ClickHouse's parser.
func checkSQL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("missing")
	}
	if len(s) > maxRuleSQL {
		return fmt.Errorf("longer than %d bytes", maxRuleSQL)
	}
	return nil
}

// query is a parsed keyword query: every group must match (one of its
// alternatives), no excluded word may.
type query struct {
	all  [][]string
	none []string
}

func parseQuery(s string) (query, error) {
	var q query
	for _, f := range strings.Fields(s) {
		if ex, ok := strings.CutPrefix(f, "-"); ok {
			if ex == "" {
				return q, errors.New("'-' needs a word after it")
			}
			q.none = append(q.none, strings.ToLower(ex))
			continue
		}
		var alts []string
		for _, a := range strings.Split(f, "|") {
			if a == "" {
				return q, fmt.Errorf("empty alternative in %q", f)
			}
			alts = append(alts, strings.ToLower(a))
		}
		q.all = append(q.all, alts)
	}
	if len(q.all) == 0 {
		return q, errors.New("needs at least one word that must match")
	}
	if len(q.all)+len(q.none) > 32 {
		return q, errors.New("more than 32 words")
	}
	return q, nil
}

// sql renders the query as a ClickHouse condition over text (already
// lower-cased by the caller's expression) with bound arguments.
func (q query) sql(text string) (string, []any) {
	var parts []string
	var args []any
	for _, alts := range q.all {
		var ors []string
		for _, a := range alts {
			ors = append(ors, "position("+text+", ?) > 0")
			args = append(args, a)
		}
		parts = append(parts, "("+strings.Join(ors, " OR ")+")")
	}
	for _, w := range q.none {
		parts = append(parts, "position("+text+", ?) = 0")
		args = append(args, w)
	}
	return strings.Join(parts, " AND "), args
}
