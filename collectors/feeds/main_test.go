package feeds

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/netpulse/netpulse/collectors/feeds/simhash"
	jiebadict "github.com/netpulse/netpulse/deploy/jieba"
	"github.com/netpulse/netpulse/search/jieba"
)

// testTok is the production tokenizer, jieba, loaded once: gojieba takes
// about a second to load and netpulse keeps one per process.
var testTok simhash.Tokenizer

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "feeds-jieba-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	paths, err := jiebadict.Install(filepath.Join(dir, "dict"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seg, err := jieba.New(paths)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer seg.Close()
	testTok = JiebaTokenizer(seg)
	return m.Run()
}
