// Package simhash fingerprints texts so that near-duplicates (reposts,
// syndicated copies with a changed headline or a "来源：" line added) can be
// found by Hamming distance, and groups them into clusters.
//
// Threshold: two 64-bit fingerprints belong to the same story when they
// differ in at most DefaultThreshold (3) bits, the value Manku et al.
// (WWW 2007) found for 64-bit SimHash of web pages. Posts are short, so on
// its own 3 is too strict: one added sentence ("大家转给家里老人看看！") is a
// tenth of a 200-character post and moves the fingerprint by 4-10 bits. The
// feed collector therefore fingerprints the story, not the wrapper: it
// drops repost markers, attribution lines and short remark lines at either
// end, and leaves out the (often rewritten) headline when the body is long
// enough (see feeds.dedupText). Measured with jieba tokens on the fixtures
// and the demo burst: reposts then sit at 0-2 bits from their original,
// while distinct stories on the same topics (two fraud warnings, a flood
// post and a flood alert) are 20 or more bits apart.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package simhash

import (
	"hash/fnv"
	"math/bits"
	"unicode"
)

// DefaultThreshold is the largest Hamming distance at which two
// fingerprints count as the same story.
const DefaultThreshold = 3

// Tokenizer splits text into terms. The feed collector passes the jieba
// tokenizer; Bigrams serves where no dictionary is loaded.
type Tokenizer interface {
	Cut(text string) []string
}

// Fingerprint returns the 64-bit SimHash of tokens, each weighted by its
// frequency. Tokens that are only spaces or punctuation are ignored so that
// tokenizers that return separators do not pull fingerprints together.
func Fingerprint(tokens []string) uint64 {
	var v [64]int
	counts := make(map[string]int, len(tokens))
	for _, t := range tokens {
		if meaningful(t) {
			counts[t]++
		}
	}
	for t, w := range counts {
		h := hash64(t)
		for i := 0; i < 64; i++ {
			if h&(1<<uint(i)) != 0 {
				v[i] += w
			} else {
				v[i] -= w
			}
		}
	}
	var fp uint64
	for i := 0; i < 64; i++ {
		if v[i] > 0 {
			fp |= 1 << uint(i)
		}
	}
	return fp
}

// Distance is the Hamming distance between two fingerprints.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

func meaningful(t string) bool {
	for _, r := range t {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// hash64 is FNV-1a followed by the SplitMix64 finaliser: FNV alone leaves the
// high bits of short strings (a two-rune bigram) poorly mixed, which would
// bias fingerprint bits.
func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	z := h.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Bigrams tokenizes without a dictionary: overlapping pairs of Han (and
// other non-space-separated) runes, and whole words of Latin letters and
// digits. It is the stand-in for jieba in tests and when no dictionary is
// configured.
type Bigrams struct{}

// Cut implements Tokenizer.
func (Bigrams) Cut(text string) []string {
	var out []string
	var word []rune
	var han []rune
	flushWord := func() {
		if len(word) > 0 {
			out = append(out, string(word))
			word = word[:0]
		}
	}
	flushHan := func() {
		switch {
		case len(han) == 1:
			out = append(out, string(han))
		case len(han) > 1:
			for i := 0; i+1 < len(han); i++ {
				out = append(out, string(han[i:i+2]))
			}
		}
		han = han[:0]
	}
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			flushHan()
			word = append(word, unicode.ToLower(r))
		default:
			flushWord()
			flushHan()
		}
	}
	flushWord()
	flushHan()
	return out
}

// TokenizerFunc adapts a function (for example a closure over the jieba
// segmenter) to Tokenizer.
type TokenizerFunc func(text string) []string

// Cut implements Tokenizer.
func (f TokenizerFunc) Cut(text string) []string { return f(text) }
