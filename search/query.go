package search

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Occur says how a clause takes part in the query.
type Occur int

const (
	// Must: the default for a bare word or phrase, and what "+" says.
	Must Occur = iota
	// MustNot: "-" excludes posts that match.
	MustNot
)

// Clause is one element of a parsed query.
type Clause struct {
	Occur  Occur
	Field  string // "" for title and body; or source, author, title, body
	Text   string
	Phrase bool // quoted: the words must appear together, in order
}

// QueryError is a malformed query. Its message names the problem and where
// it is, for the 400 answer.
type QueryError struct {
	Pos int // byte offset in the query
	Msg string
}

func (e *QueryError) Error() string { return fmt.Sprintf("query: at byte %d: %s", e.Pos, e.Msg) }

// Limits on one query, so that a pasted article cannot become a slow search.
const (
	MaxQueryBytes   = 1024
	MaxQueryClauses = 32
)

var fields = map[string]bool{"source": true, "author": true, "title": true, "body": true}

// ParseQuery parses the search box syntax:
//
//	电信诈骗 临江区           both words (bare words are required, as in web search)
//	"杀猪盘 投资"            a phrase
//	+刷单 -招聘              "+" requires (the default), "-" excludes
//	source:weibo author:"临江 警方"   exact source or author; title: and body: restrict a word to one field
//
// Chinese quotes “…” work like "…". An empty query is valid and matches
// every post (in the time range).
func ParseQuery(q string) ([]Clause, error) {
	if len(q) > MaxQueryBytes {
		return nil, &QueryError{Pos: MaxQueryBytes, Msg: fmt.Sprintf("query longer than %d bytes", MaxQueryBytes)}
	}
	if !utf8.ValidString(q) {
		return nil, &QueryError{Pos: invalidAt(q), Msg: "query is not valid UTF-8"}
	}
	var out []Clause
	i := 0
	for {
		i = skipSpace(q, i)
		if i >= len(q) {
			break
		}
		if len(out) == MaxQueryClauses {
			return nil, &QueryError{Pos: i, Msg: fmt.Sprintf("more than %d terms", MaxQueryClauses)}
		}
		c := Clause{Occur: Must}
		start := i
		switch q[i] {
		case '+':
			i++
		case '-':
			c.Occur = MustNot
			i++
		}
		if i > start && (i >= len(q) || isSpace(q, i)) {
			return nil, &QueryError{Pos: start, Msg: fmt.Sprintf("%q must be followed by a word or phrase", q[start:i])}
		}
		if name, n := fieldPrefix(q[i:]); n > 0 {
			if !fields[name] {
				return nil, &QueryError{Pos: i, Msg: fmt.Sprintf("unknown field %q (use source:, author:, title: or body:)", name)}
			}
			c.Field = name
			i += n
			if i >= len(q) || isSpace(q, i) {
				return nil, &QueryError{Pos: i, Msg: fmt.Sprintf("%s: needs a value", name)}
			}
		}
		if open, n := openQuote(q, i); n > 0 {
			closeRune := '"'
			if open == '“' {
				closeRune = '”'
			}
			body := i + n
			end := strings.IndexRune(q[body:], closeRune)
			if end < 0 {
				return nil, &QueryError{Pos: i, Msg: "unterminated quote"}
			}
			c.Text = strings.TrimSpace(q[body : body+end])
			c.Phrase = true
			if c.Text == "" {
				return nil, &QueryError{Pos: i, Msg: "empty phrase"}
			}
			i = body + end + utf8.RuneLen(closeRune)
			if i < len(q) && !isSpace(q, i) {
				return nil, &QueryError{Pos: i, Msg: "a phrase must be followed by a space"}
			}
		} else {
			end := i
			for end < len(q) && !isSpace(q, end) {
				if _, n := openQuote(q, end); n > 0 {
					return nil, &QueryError{Pos: end, Msg: "quote inside a word; put a space before the phrase"}
				}
				_, n := utf8.DecodeRuneInString(q[end:])
				end += n
			}
			c.Text = q[i:end]
			i = end
		}
		out = append(out, c)
	}
	return out, nil
}

// fieldPrefix recognises "name:" made of ASCII letters. Anything else with a
// colon (10:30, http://…) is text.
func fieldPrefix(s string) (string, int) {
	n := 0
	for n < len(s) && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] == '_') {
		n++
	}
	if n == 0 || n >= len(s) || s[n] != ':' {
		return "", 0
	}
	// "http://" and the like are not fields.
	if strings.HasPrefix(s[n:], "://") {
		return "", 0
	}
	return strings.ToLower(s[:n]), n + 1
}

func openQuote(q string, i int) (rune, int) {
	r, n := utf8.DecodeRuneInString(q[i:])
	if r == '"' || r == '“' {
		return r, n
	}
	return 0, 0
}

func isSpace(q string, i int) bool {
	r, _ := utf8.DecodeRuneInString(q[i:])
	return unicode.IsSpace(r)
}

func skipSpace(q string, i int) int {
	for i < len(q) {
		r, n := utf8.DecodeRuneInString(q[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += n
	}
	return i
}

func invalidAt(q string) int {
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return 0
}
