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
// analyser. Chinese stop words are dropped here.
//
// Positions are character positions: a token's position is one plus the
// number of characters before it in the field, whitespace not counted.
// Every token keeps its own span, including the dictionary words that
// search mode emits inside a long word (中华, 华人, 人民, 共和, 共和国 inside
// 中华人民共和国). A phrase therefore matches where its words stand at the
// same character distances as in the query: where its characters stand
// together in the text, whatever the long words around them, whitespace
// aside. Punctuation and dropped stop words count, so "兼职刷单" does not
// match 兼职，刷单 and "野生动物市场" does not match 野生动物交易市场. Positions
// are not consecutive token numbers; only the searcher's own phrase query
// (search/phrase.go) reads them, Bleve's phrase searchers would not work.
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
	return t.tokens(input, nil, false)
}

// tokens tokenizes input; if precut, words are jieba's words for input in
// t's mode (the masked cut below, blanks left out), which spares the cut.
func (t *Tokenizer) tokens(input []byte, words []Word, precut bool) analysis.TokenStream {
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
	if anyHan && !precut {
		words = t.seg.Cut(maskNonHan(input), t.mode)
	}
	chars := charPositions(input)
	out := make(analysis.TokenStream, 0, len(words)+4)
	w := 0
	for _, r := range runs {
		if r.han {
			for ; w < len(words) && words[w].Start < r.end; w++ {
				wd := words[w]
				if !hasWordRune(wd.Text) || t.seg.IsStopWord(wd.Text) {
					continue
				}
				out = append(out, &analysis.Token{
					Term:     input[wd.Start:wd.End],
					Start:    wd.Start,
					End:      wd.End,
					Position: chars.at(wd.Start),
					Type:     analysis.Ideographic,
				})
			}
			continue
		}
		for _, tk := range t.uni.Tokenize(input[r.start:r.end]) {
			tk.Start += r.start
			tk.End += r.start
			tk.Position = chars.at(tk.Start)
			out = append(out, tk)
		}
		// Skip the blanks jieba returned for this run.
		for w < len(words) && words[w].Start < r.end {
			w++
		}
	}
	return out
}

// maskNonHan returns input with every non-Han run blanked to spaces of the
// same byte length, as the one string jieba cuts.
func maskNonHan(input []byte) string {
	masked := make([]byte, len(input))
	for start := 0; start < len(input); {
		end, han := span(input, start)
		if han {
			copy(masked[start:end], input[start:end])
		} else {
			for i := start; i < end; i++ {
				masked[i] = ' '
			}
		}
		start = end
	}
	// masked is never written again, so it can back the string that
	// jieba's words slice into.
	return unsafe.String(unsafe.SliceData(masked), len(masked))
}

// charIndex maps a byte offset of the field to its character position.
type charIndex struct {
	// before[i] is the number of non-space characters before byte i, for
	// the byte offsets where a character starts.
	before []int32
}

func charPositions(input []byte) charIndex {
	before := make([]int32, len(input)+1)
	n := int32(0)
	for i := 0; i < len(input); {
		r, size := utf8.DecodeRune(input[i:])
		for k := 0; k < size; k++ {
			before[i+k] = n
		}
		if !unicode.IsSpace(r) {
			n++
		}
		i += size
	}
	before[len(input)] = n
	return charIndex{before: before}
}

// at is the 1-based character position of the character starting at byte
// off.
func (c charIndex) at(off int) int { return int(c.before[off]) + 1 }

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
