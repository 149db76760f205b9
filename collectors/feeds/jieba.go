package feeds

import (
	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/chinese/simhash"
)

// JiebaTokenizer cuts with the process's jieba segmenter in precise mode:
// SimHash wants each word once, not the extra sub-words of search mode,
// which would weight long compounds twice.
func JiebaTokenizer(seg *jieba.Segmenter) simhash.Tokenizer {
	return simhash.TokenizerFunc(func(text string) []string {
		ws := seg.Cut(text, jieba.Precise)
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = w.Text
		}
		return out
	})
}
