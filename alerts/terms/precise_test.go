package terms_test

import (
	"slices"
	"testing"

	"github.com/netpulse/netpulse/alerts/terms"
	"github.com/netpulse/netpulse/chinese/jieba"
)

// TestJiebaTermsCountWholeWords checks the tokenizer serve hands the
// counter (the jieba segmenter): a post about 江岸区 counts 江岸区, not
// also the search-mode pieces 江岸 and 岸区, while a post that says 江岸
// on its own still counts 江岸.
func TestJiebaTermsCountWholeWords(t *testing.T) {
	seg, err := jieba.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var tok terms.Tokenizer = seg
	tests := []struct {
		text      string
		want, not []string
	}{
		{"江岸区公安分局提醒市民警惕冒充客服", []string{"江岸区", "公安分局"}, []string{"江岸", "岸区", "公安", "分局"}},
		{"江岸区消防救援大队开展演练", []string{"江岸区"}, []string{"江岸", "岸区"}},
		{"江岸交警大队发布提示", []string{"江岸"}, []string{"交警", "大队"}},
	}
	for _, tt := range tests {
		got := terms.Normalize(tok.Terms(tt.text))
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: terms %v lack %s", tt.text, got, w)
			}
		}
		for _, w := range tt.not {
			if slices.Contains(got, w) {
				t.Errorf("%s: terms %v count the sub-word %s", tt.text, got, w)
			}
		}
	}
}
