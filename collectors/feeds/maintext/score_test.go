package maintext

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"unicode"
)

// evalPage is one page of an evaluation set: the HTML (already UTF-8,
// decoded the way the crawler decodes) and the text a reader sees.
type evalPage struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	HTML string `json:"html"`
	Text string `json:"text"`
	Date string `json:"date"`
}

// heldOut puts about a third of every set aside: those pages are never
// looked at one by one while the extractor is tuned, and their score is
// reported on its own line.
func (p evalPage) heldOut() bool { return crc32.ChecksumIEEE([]byte(p.ID))%3 == 0 }

// loadSet reads a JSONL file of evalPages, gzipped when the name ends in .gz.
func loadSet(path string) ([]evalPage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	var pages []evalPage
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var p evalPage
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		pages = append(pages, p)
	}
	return pages, sc.Err()
}

// tokenizer splits text into the units shingles are made of.
type tokenizer func(string) []string

// wordTokens is the benchmark's own tokenizer (evaluate.py: `\w+`). It is
// right for space-separated languages and useless for Chinese, where a
// whole sentence is one \w+ run.
func wordTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !isWord(r) })
}

// charTokens makes each Han, kana or Hangul character a token and keeps
// runs of other word characters (Latin words, numbers) whole, so Chinese
// text is compared by character shingles and mixed text still works.
func charTokens(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		switch {
		case isIdeograph(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			out = append(out, string(r))
		case isWord(r):
			if start < 0 {
				start = i
			}
		default:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.N, r)
}

func isIdeograph(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// tpFpFn compares 4-token shingles the way evaluate.py does
// (string_shingle_matching), normalised so long pages weigh no more than
// short ones.
func tpFpFn(tok tokenizer, want, got string) (tp, fp, fn float64) {
	w, g := shingles(tok(want)), shingles(tok(got))
	for k, n := range w {
		m := g[k]
		tp += float64(min(n, m))
		fn += float64(max(0, n-m))
	}
	for k, m := range g {
		fp += float64(max(0, m-w[k]))
	}
	if s := tp + fp + fn; s > 0 {
		tp, fp, fn = tp/s, fp/s, fn/s
	}
	return
}

func shingles(toks []string) map[string]int {
	const n = 4
	m := map[string]int{}
	if len(toks) == 0 {
		return m
	}
	for i := 0; i < max(1, len(toks)-n+1); i++ {
		m[strings.Join(toks[i:min(len(toks), i+n)], "\x00")]++
	}
	return m
}

// score is the benchmark's aggregate: precision and recall are averaged
// over pages, F1 is taken from the two averages.
type score struct{ P, R, F1 float64 }

func aggregate(rows [][3]float64) score {
	var ps, rs []float64
	for _, r := range rows {
		tp, fp, fn := r[0], r[1], r[2]
		if tp+fp > 0 {
			ps = append(ps, prec(tp, fp, fn))
		}
		if tp+fn > 0 {
			rs = append(rs, rec(tp, fp, fn))
		}
	}
	p, r := mean(ps), mean(rs)
	f := 0.0
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return score{p, r, f}
}

func prec(tp, fp, fn float64) float64 {
	switch {
	case fp == 0 && fn == 0:
		return 1
	case tp == 0 && fp == 0:
		return 0
	}
	return tp / (tp + fp)
}

func rec(tp, fp, fn float64) float64 {
	switch {
	case fp == 0 && fn == 0:
		return 1
	case tp == 0 && fn == 0:
		return 0
	}
	return tp / (tp + fn)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
