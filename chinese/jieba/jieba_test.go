package jieba

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"

	jiebadict "github.com/netpulse/netpulse/chinese/jiebadict"
)

// seg is the one segmenter of this test process, as in production.
var seg *Segmenter

func TestMain(m *testing.M) {
	var err error
	seg, err = New(ShippedPaths())
	if err != nil {
		panic(err)
	}
	if err := Register(seg); err != nil {
		panic(err)
	}
	code := m.Run()
	seg.Close()
	os.Exit(code)
}

// ShippedPaths locates chinese/jiebadict/dict from this source file, for tests.
func ShippedPaths() jiebadict.Paths {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "jiebadict")
	p := jiebadict.InDir(filepath.Join(root, "dict"))
	p.Domain = filepath.Join(root, "userdict.utf8")
	return p
}

type tok struct {
	term       string
	start, end int
	pos        int
}

func analyze(t testing.TB, name, text string) []tok {
	t.Helper()
	cache := registry.NewCache()
	a, err := cache.AnalyzerNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []tok
	for _, tk := range a.Analyze([]byte(text)) {
		out = append(out, tok{string(tk.Term), tk.Start, tk.End, tk.Position})
	}
	return out
}

func TestTokensWithOffsets(t *testing.T) {
	tests := []struct {
		name     string
		analyzer string
		text     string
		want     []tok
	}{
		{
			name: "precise, fraud slang from the domain dictionary", analyzer: AnalyzerQuery,
			text: "警方破获刷单诈骗案",
			want: []tok{{"警方", 0, 6, 1}, {"破获", 6, 12, 3}, {"刷单", 12, 18, 5}, {"诈骗案", 18, 27, 7}},
		},
		{
			name: "stop words dropped, their characters counted", analyzer: AnalyzerQuery,
			text: "临江区的杀猪盘",
			want: []tok{{"临江区", 0, 9, 1}, {"杀猪盘", 12, 21, 5}},
		},
		{
			name: "search mode emits parts, each at its own character position", analyzer: AnalyzerIndex,
			text: "中华人民共和国成立",
			want: []tok{{"中华", 0, 6, 1}, {"华人", 3, 9, 2}, {"人民", 6, 12, 3}, {"共和", 12, 18, 5},
				{"共和国", 12, 21, 5}, {"中华人民共和国", 0, 21, 1}, {"成立", 21, 27, 8}},
		},
		{
			name: "ASCII words lowercased, English stop words dropped, numbers kept, spaces not counted", analyzer: AnalyzerQuery,
			text: "The iPhone 15 在滨江路 被盗",
			want: []tok{{"iphone", 4, 10, 4}, {"15", 11, 13, 10}, {"滨江路", 17, 26, 13}, {"被盗", 27, 33, 16}},
		},
		{
			name: "Chinese punctuation is not a token but counts as a character", analyzer: AnalyzerQuery,
			text: "火灾，无人伤亡。",
			want: []tok{{"火灾", 0, 6, 1}, {"无人", 9, 15, 4}, {"伤亡", 15, 21, 6}},
		},
		{
			name: "decimal numbers as the standard analyser keeps them", analyzer: AnalyzerQuery,
			text: "损失3.5万元",
			want: []tok{{"损失", 0, 6, 1}, {"3.5", 6, 9, 3}, {"万元", 9, 15, 6}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := analyze(t, tc.analyzer, tc.text)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("token %d: got %v want %v (all: %v)", i, got[i], tc.want[i], got)
				}
			}
		})
	}
}

func TestOffsetsCoverTerm(t *testing.T) {
	text := "昨日，临江区东湖街道发生一起电信诈骗案，受害人被冒充公检法的骗子以“安全账户”名义骗走12.6万元。"
	for _, name := range []string{AnalyzerIndex, AnalyzerQuery} {
		for _, tk := range analyze(t, name, text) {
			if text[tk.start:tk.end] != tk.term {
				t.Errorf("%s: token %q has offsets [%d,%d) covering %q", name, tk.term, tk.start, tk.end, text[tk.start:tk.end])
			}
		}
	}
}

func TestUserDictReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "userdict.utf8")
	const text = "他在网上做蓝鲸跑腿被骗"
	has := func(term string) bool {
		for _, tk := range analyze(t, AnalyzerQuery, text) {
			if tk.term == term {
				return true
			}
		}
		return false
	}
	if has("蓝鲸跑腿") {
		t.Fatal("蓝鲸跑腿 is a word before it is in the dictionary")
	}
	before := seg.Fingerprint()
	if err := os.WriteFile(path, []byte("蓝鲸跑腿 3000 n\n刷单 2000 n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := seg.LoadUserDict(path)
	if err != nil || !changed {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if !has("蓝鲸跑腿") {
		t.Errorf("after reload, tokens are %v", analyze(t, AnalyzerQuery, text))
	}
	if seg.Fingerprint() == before {
		t.Error("fingerprint did not change")
	}
	// Going back to the shipped dictionary removes the word again.
	if _, err := seg.LoadUserDict(ShippedPaths().Domain); err != nil {
		t.Fatal(err)
	}
	if has("蓝鲸跑腿") {
		t.Error("蓝鲸跑腿 survived the reload that removed it")
	}
	if seg.Fingerprint() != before {
		t.Error("fingerprint differs after returning to the shipped dictionary")
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	if err := Register(seg); err == nil {
		t.Error("second Register succeeded; names must be unique per process")
	}
}

var _ analysis.Tokenizer = (*Tokenizer)(nil)

// TestCutWhileReloading cuts from several goroutines while the dictionary
// is reloaded; run with -race. The cuts must stay byte-exact throughout.
func TestCutWhileReloading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "userdict.utf8")
	if err := os.WriteFile(path, []byte("蓝鲸跑腿 3000 n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.LoadUserDict(ShippedPaths().Domain) })
	const text = "他在网上做蓝鲸跑腿被骗，临江区警方提醒谨防刷单。"
	done := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				for _, w := range seg.Cut(text, Search) {
					if text[w.Start:w.End] != w.Text {
						errs <- w.Text
						return
					}
				}
			}
		}()
	}
	for i := range 20 {
		p := path
		if i%2 == 1 {
			p = ShippedPaths().Domain
		}
		if _, err := seg.LoadUserDict(p); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if bad := <-errs; bad != "" {
			t.Errorf("word %q has wrong offsets", bad)
		}
	}
}
