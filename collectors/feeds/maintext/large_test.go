package maintext

import (
	"fmt"
	"strings"
	"testing"
)

// listPage is a forum-like page of n reply blocks, about 4n elements: the
// shape that costs readability the most per element.
func listPage(n int) string {
	var b strings.Builder
	b.WriteString("<html><head><title>回复列表</title></head><body>")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "<div class='item'><div><span>作者%d</span><div>内容，内容，内容，这是第%d条回复。</div></div></div>", i, i)
	}
	b.WriteString("</body></html>")
	return b.String()
}

// TestLargePageTakesFastPath: a page over MaxElements is not given to
// readability, and still yields its text.
func TestLargePageTakesFastPath(t *testing.T) {
	for _, tt := range []struct {
		blocks int
		want   Method
	}{
		{100, ByReadability},
		{MaxElements/4 + 10, ByFastPath},
	} {
		doc, err := Parse(strings.NewReader(listPage(tt.blocks)))
		if err != nil {
			t.Fatal(err)
		}
		a := Extract(doc, Rules{})
		if a.Method != tt.want {
			t.Errorf("%d blocks: method %s, want %s", tt.blocks, a.Method, tt.want)
		}
		if !strings.Contains(a.Body, "这是第7条回复") {
			t.Errorf("%d blocks: body lost the replies: %.200q", tt.blocks, a.Body)
		}
	}
}

// BenchmarkLargePage is the cost of the largest page readability is given
// and of the smallest one that goes to the fast path.
func BenchmarkLargePage(b *testing.B) {
	for _, blocks := range []int{MaxElements/4 - 10, MaxElements/4 + 10} {
		page := listPage(blocks)
		b.Run(fmt.Sprint(blocks*4, "-elements"), func(b *testing.B) {
			for b.Loop() {
				doc, err := Parse(strings.NewReader(page))
				if err != nil {
					b.Fatal(err)
				}
				Extract(doc, Rules{})
			}
		})
	}
}
