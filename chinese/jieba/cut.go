package jieba

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
)

// Span is one word of a cut: byte offsets into the field's text.
type Span struct{ Start, End int }

// Cut is a post's title and body cut once, in search mode, by the stage
// that first holds the post (the feed crawler, the push intake, or else the
// posts consumer). Every later user derives what it needs from it instead
// of cutting again: the index its tokens (IndexTokens), the term counter
// and the stored row the precise words (PostTerms), SimHash the precise
// words of the parts it fingerprints (TermsIn). Search mode's words are the
// precise cut's words plus the dictionary words inside them, so the precise
// words are the outermost spans (Outer).
//
// A cut is only as good as the dictionary it was made with: users compare
// Fingerprint with their segmenter's and cut again when it differs. It
// travels on the bus inside the post, compactly encoded (MarshalJSON), and
// is outside input there: Check it against the text before use.
type Cut struct {
	Fingerprint string
	Title, Body []Span
}

// CutPost cuts title and body in search mode. The fingerprint is read
// under the same lock as the cut, so a dictionary reload cannot slip in
// between.
func (s *Segmenter) CutPost(title, body string) *Cut {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &Cut{Fingerprint: s.digest, Title: s.cutFieldLocked(title), Body: s.cutFieldLocked(body)}
}

func (s *Segmenter) cutFieldLocked(text string) []Span {
	out := []Span{}
	if !hasHan(text) {
		return out
	}
	for _, w := range s.cutLocked(maskNonHan([]byte(text)), Search) {
		if w.Start < w.End && w.Text[0] != ' ' {
			out = append(out, Span{w.Start, w.End})
		}
	}
	return out
}

// Usable reports whether c can stand for a fresh cut of title and body by
// s: made with the same dictionary, and every span inside its text on
// character boundaries.
func (s *Segmenter) Usable(c *Cut, title, body string) bool {
	return c != nil && c.Fingerprint == s.Fingerprint() && c.Check(title, body) == nil
}

// Check reports the first span that does not fit its text.
func (c *Cut) Check(title, body string) error {
	for _, f := range []struct {
		name  string
		text  string
		spans []Span
	}{{"title", title, c.Title}, {"body", body, c.Body}} {
		for i, sp := range f.spans {
			if sp.Start < 0 || sp.End > len(f.text) || sp.Start >= sp.End ||
				!utf8.RuneStart(f.text[sp.Start]) || (sp.End < len(f.text) && !utf8.RuneStart(f.text[sp.End])) {
				return fmt.Errorf("cut: %s word %d [%d,%d) does not fit a text of %d bytes", f.name, i, sp.Start, sp.End, len(f.text))
			}
		}
		if len(f.spans) == 0 && hasHan(f.text) {
			return fmt.Errorf("cut: %s has Chinese text but no words", f.name)
		}
	}
	return nil
}

// Outer returns the spans that no other span contains: the precise cut.
// Search mode emits a long word's parts just before the word.
func Outer(spans []Span) []Span {
	out := make([]Span, 0, len(spans))
	for i := len(spans) - 1; i >= 0; i-- {
		sp := spans[i]
		if n := len(out); n > 0 && sp.Start >= out[n-1].Start && sp.End <= out[n-1].End {
			continue
		}
		out = append(out, sp)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func words(text []byte, spans []Span) []Word {
	ws := make([]Word, len(spans))
	for i, sp := range spans {
		ws[i] = Word{Text: string(text[sp.Start:sp.End]), Start: sp.Start, End: sp.End}
	}
	return ws
}

// IndexTokens returns what the AnalyzerIndex analyser makes of text, from
// text's spans in c instead of a new cut: Bleve indexes a post with them
// (search/shards), so the index does not cut again.
func (s *Segmenter) IndexTokens(text string, spans []Span) analysis.TokenStream {
	// A copy: the lowercase filter rewrites terms in place.
	b := []byte(text)
	toks := NewTokenizer(s, Search).tokens(b, words(b, spans), true)
	return englishStopFilter.Filter(lowerFilter.Filter(toks))
}

// PostTerms is Terms(title + "\n" + body) from the cut.
func (s *Segmenter) PostTerms(c *Cut, title, body string) []string {
	return s.TermsIn(body, c.Body, s.TermsIn(title, c.Title, nil))
}

// TermsIn appends to out the precise words of text (Terms of text) from its
// search-mode spans.
func (s *Segmenter) TermsIn(text string, spans []Span, out []string) []string {
	b := []byte(text)
	return terms(NewTokenizer(s, Precise).tokens(b, words(b, Outer(spans)), true), out)
}

// TermsWithin is TermsIn keeping only the words that lie inside one of the
// byte ranges within (in order): SimHash fingerprints a post without its
// repost boilerplate, from the same cut.
func (s *Segmenter) TermsWithin(text string, spans, within []Span, out []string) []string {
	b := []byte(text)
	toks := NewTokenizer(s, Precise).tokens(b, words(b, Outer(spans)), true)
	kept := toks[:0]
	r := 0
	for _, t := range toks {
		for r < len(within) && within[r].End <= t.Start {
			r++
		}
		if r < len(within) && t.Start >= within[r].Start && t.End <= within[r].End {
			kept = append(kept, t)
		}
	}
	return terms(kept, out)
}

var (
	lowerFilter       = lowercase.NewLowerCaseFilter()
	englishStopFilter = stop.NewStopTokensFilter(func() analysis.TokenMap {
		m := analysis.NewTokenMap()
		for w := range englishStop {
			m.AddToken(w)
		}
		return m
	}())
)

// cutJSON is the wire form: each field's spans as base64 of unsigned
// varints, per word the zig-zag distance from the previous word's start and
// the length (about two bytes a word, where JSON numbers took ten).
type cutJSON struct {
	Fingerprint string `json:"fp"`
	Title       string `json:"title"`
	Body        string `json:"body"`
}

// MarshalJSON implements json.Marshaler.
func (c *Cut) MarshalJSON() ([]byte, error) {
	return json.Marshal(cutJSON{Fingerprint: c.Fingerprint, Title: encodeSpans(c.Title), Body: encodeSpans(c.Body)})
}

// UnmarshalJSON implements json.Unmarshaler. It checks the encoding only;
// Check fits the spans to the text.
func (c *Cut) UnmarshalJSON(b []byte) error {
	var w cutJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t, err := decodeSpans(w.Title)
	if err != nil {
		return fmt.Errorf("cut title: %w", err)
	}
	bd, err := decodeSpans(w.Body)
	if err != nil {
		return fmt.Errorf("cut body: %w", err)
	}
	*c = Cut{Fingerprint: w.Fingerprint, Title: t, Body: bd}
	return nil
}

func encodeSpans(spans []Span) string {
	buf := make([]byte, 0, 3*len(spans))
	prev := 0
	for _, sp := range spans {
		buf = binary.AppendVarint(buf, int64(sp.Start-prev))
		buf = binary.AppendUvarint(buf, uint64(sp.End-sp.Start))
		prev = sp.Start
	}
	return base64.RawStdEncoding.EncodeToString(buf)
}

// maxSpanBytes bounds a decoded offset: no post field is longer.
const maxSpanBytes = 1 << 24

func decodeSpans(s string) ([]Span, error) {
	buf, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	out := []Span{}
	prev := 0
	for len(buf) > 0 {
		d, n := binary.Varint(buf)
		if n <= 0 || d > maxSpanBytes || d < -maxSpanBytes {
			return nil, fmt.Errorf("bad word start at word %d", len(out))
		}
		buf = buf[n:]
		l, n := binary.Uvarint(buf)
		if n <= 0 || l > maxSpanBytes {
			return nil, fmt.Errorf("bad word length at word %d", len(out))
		}
		buf = buf[n:]
		start := prev + int(d)
		if start < 0 || start > maxSpanBytes {
			return nil, fmt.Errorf("word %d starts outside the text", len(out))
		}
		out = append(out, Span{start, start + int(l)})
		prev = start
	}
	return out, nil
}

func hasHan(text string) bool {
	for _, r := range text {
		if isHanRun(r) {
			return true
		}
	}
	return false
}
