package jieba

import (
	"fmt"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	unicodetok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
)

// Names under which Register puts the tokenizers and analysers in Bleve's
// registry. Index mappings refer to the analysers by these names.
const (
	TokenizerSearch  = "jieba_search"
	TokenizerPrecise = "jieba_precise"
	AnalyzerIndex    = "jieba_index" // search-mode segmentation, for documents
	AnalyzerQuery    = "jieba_query" // precise segmentation, for queries
)

// Register makes the jieba tokenizers and analysers, bound to seg, known to
// Bleve under the names above.
//
// Compromise: Bleve resolves analysers by name through its package-level
// registry (its only extension point, and not safe for concurrent writes),
// and index mappings are stored as JSON, so the segmenter cannot travel in
// the mapping's config. The constructors registered here are closures over
// seg instead; netpulse adds no global state of its own. Call Register once
// per process, before any index is opened; a second call fails because the
// names are taken.
func Register(seg *Segmenter) error {
	tok := func(mode Mode) registry.TokenizerConstructor {
		return func(map[string]interface{}, *registry.Cache) (analysis.Tokenizer, error) {
			return NewTokenizer(seg, mode), nil
		}
	}
	an := func(mode Mode) registry.AnalyzerConstructor {
		return func(_ map[string]interface{}, cache *registry.Cache) (analysis.Analyzer, error) {
			return NewAnalyzer(seg, mode, cache)
		}
	}
	for _, err := range []error{
		registry.RegisterTokenizer(TokenizerSearch, tok(Search)),
		registry.RegisterTokenizer(TokenizerPrecise, tok(Precise)),
		registry.RegisterAnalyzer(AnalyzerIndex, an(Search)),
		registry.RegisterAnalyzer(AnalyzerQuery, an(Precise)),
	} {
		if err != nil {
			return fmt.Errorf("register jieba analysers: %w", err)
		}
	}
	return nil
}

// NewAnalyzer builds the analyser: the jieba tokenizer, then the standard
// analyser's filters (lowercase, English stop words) so that ASCII text is
// analysed exactly as Bleve's "standard" analyser does.
func NewAnalyzer(seg *Segmenter, mode Mode, cache *registry.Cache) (analysis.Analyzer, error) {
	lower, err := cache.TokenFilterNamed(lowercase.Name)
	if err != nil {
		return nil, fmt.Errorf("jieba analyser: %w", err)
	}
	stop, err := cache.TokenFilterNamed(en.StopName)
	if err != nil {
		return nil, fmt.Errorf("jieba analyser: %w", err)
	}
	return &analysis.DefaultAnalyzer{
		Tokenizer:    NewTokenizer(seg, mode),
		TokenFilters: []analysis.TokenFilter{lower, stop},
	}, nil
}

// Tokenizer is a Bleve tokenizer: Han text goes through jieba, everything
// else through Bleve's Unicode (UAX #29) tokenizer, as in the standard
// analyser. Chinese stop words are dropped here, keeping their position so
// that phrase queries line up.
//
// Positions: in search mode jieba emits the dictionary words inside a long
// word before the word itself (中华, 华人, 人民, 共和, 共和国, 中华人民共和国).
// Those sub-words share the position of the word that contains them, so a
// phrase query cut in precise mode matches, whether it uses the long word or
// its tail (共和国成立).
type Tokenizer struct {
	seg  *Segmenter
	mode Mode
	uni  *unicodetok.UnicodeTokenizer
}

// NewTokenizer returns a tokenizer for mode.
func NewTokenizer(seg *Segmenter, mode Mode) *Tokenizer {
	return &Tokenizer{seg: seg, mode: mode, uni: unicodetok.NewUnicodeTokenizer()}
}

// Tokenize implements analysis.Tokenizer.
//
// jieba sees the whole input in one cgo call, with every non-Han run
// blanked to spaces of the same length: offsets stay byte-exact, jieba's
// pre-filter splits at the blanks exactly as if each Han run were cut on its
// own, and the per-call overhead is paid once per field instead of once per
// run (a 500-byte post has several).
func (t *Tokenizer) Tokenize(input []byte) analysis.TokenStream {
	type run struct {
		start, end int
		han        bool
	}
	var runs []run
	anyHan := false
	for start := 0; start < len(input); {
		end, han := span(input, start)
		runs = append(runs, run{start, end, han})
		anyHan = anyHan || han
		start = end
	}
	var words []Word
	if anyHan {
		masked := make([]byte, len(input))
		for _, r := range runs {
			if r.han {
				copy(masked[r.start:r.end], input[r.start:r.end])
			} else {
				for i := r.start; i < r.end; i++ {
					masked[i] = ' '
				}
			}
		}
		// masked is never written again, so it can back the string that
		// jieba's words slice into.
		words = t.seg.Cut(unsafe.String(&masked[0], len(masked)), t.mode)
	}
	out := make(analysis.TokenStream, 0, len(words)+4)
	pos, w := 0, 0
	for _, r := range runs {
		if r.han {
			first := w
			for w < len(words) && words[w].Start < r.end {
				w++
			}
			out, pos = t.han(out, input, words[first:w], pos)
			continue
		}
		for _, tk := range t.uni.Tokenize(input[r.start:r.end]) {
			pos++
			tk.Start += r.start
			tk.End += r.start
			tk.Position = pos
			out = append(out, tk)
		}
		// Skip the blanks jieba returned for this run.
		for w < len(words) && words[w].Start < r.end {
			w++
		}
	}
	return out
}

// han appends the tokens of one Han run, cut into words (absolute offsets).
func (t *Tokenizer) han(out analysis.TokenStream, input []byte, words []Word, pos int) (analysis.TokenStream, int) {
	// Walk backwards to find, for each word, the position group it belongs to:
	// a word inside the range of the next "outer" word is one of its parts.
	outer := make([]bool, len(words))
	oStart, oEnd := -1, -1
	for i := len(words) - 1; i >= 0; i-- {
		w := words[i]
		if w.Start >= oStart && w.End <= oEnd && !(w.Start == oStart && w.End == oEnd) {
			continue
		}
		outer[i] = true
		oStart, oEnd = w.Start, w.End
	}
	// Positions of outer words, forwards; parts take the position of the
	// next outer word (the one that contains them).
	positions := make([]int, len(words))
	next := pos
	for i := range words {
		if outer[i] && hasWordRune(words[i].Text) {
			next++
			positions[i] = next
		}
	}
	group := next
	for i := len(words) - 1; i >= 0; i-- {
		if outer[i] {
			group = positions[i]
			continue
		}
		positions[i] = group
	}
	tokens := make([]analysis.Token, 0, len(words))
	for i, w := range words {
		if !hasWordRune(w.Text) || t.seg.IsStopWord(w.Text) {
			continue
		}
		tokens = append(tokens, analysis.Token{
			Term:     input[w.Start:w.End],
			Start:    w.Start,
			End:      w.End,
			Position: positions[i],
			Type:     analysis.Ideographic,
		})
	}
	for i := range tokens {
		out = append(out, &tokens[i])
	}
	return out, next
}

// span returns the end of the run starting at start and whether it is a Han
// run. Han runs also take non-ASCII punctuation and spaces (，。、 and the
// like), so that a Chinese sentence goes to jieba in one call.
func span(input []byte, start int) (end int, han bool) {
	r, n := utf8.DecodeRune(input[start:])
	han = isHanRun(r)
	end = start + n
	for end < len(input) {
		r, n = utf8.DecodeRune(input[end:])
		if isHanRun(r) != han {
			break
		}
		end += n
	}
	return end, han
}

func isHanRun(r rune) bool {
	if r < utf8.RuneSelf {
		return false
	}
	if unicode.Is(unicode.Han, r) {
		return true
	}
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) && r != utf8.RuneError
}

func hasWordRune(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
