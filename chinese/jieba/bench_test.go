package jieba

import (
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/registry"
)

// benchText is ~500 bytes of a typical police notice.
var benchText = strings.Repeat("近日，临江区公安分局破获一起特大电信诈骗案，犯罪团伙以兼职刷单为诱饵，骗取受害人钱款共计48万元。警方提醒：凡是要求先垫付资金的刷单都是诈骗。", 2)

func BenchmarkCut(b *testing.B) {
	for _, m := range []struct {
		name string
		mode Mode
	}{{"precise", Precise}, {"search", Search}} {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(int64(len(benchText)))
			for b.Loop() {
				seg.Cut(benchText, m.mode)
			}
		})
	}
}

// BenchmarkAnalyzeParallel runs the index analyser on every core at once,
// as Bleve's analysis workers do.
func BenchmarkAnalyzeParallel(b *testing.B) {
	a, err := registry.NewCache().AnalyzerNamed(AnalyzerIndex)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchText)))
	b.RunParallel(func(pb *testing.PB) {
		in := []byte(benchText)
		for pb.Next() {
			a.Analyze(in)
		}
	})
}

func BenchmarkAnalyze(b *testing.B) {
	a, err := registry.NewCache().AnalyzerNamed(AnalyzerIndex)
	if err != nil {
		b.Fatal(err)
	}
	in := []byte(benchText)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		a.Analyze(in)
	}
}
