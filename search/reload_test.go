package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/search/shards"
)

func TestReloaderReindexesWhenTheFileChanges(t *testing.T) {
	s := openSet(t, t.TempDir(), jieba.AnalyzerIndex, jieba.AnalyzerQuery)
	if err := indexAll(s, context.Background(), fixture); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "userdict.utf8")
	shipped, err := os.ReadFile(seg.Paths().Domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, shipped, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.LoadUserDict(seg.Paths().Domain) })
	r := &Reloader{Seg: seg, Index: s, Path: path, Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	before := seg.Fingerprint()
	time.Sleep(30 * time.Millisecond) // the first look at the file
	if err := os.WriteFile(path, append(shipped, "冒充电商客服 2000 n\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; ; n++ {
		if n%50 == 49 && seg.Fingerprint() == before {
			// The reloader may have taken its first look after the write;
			// change the file again.
			data := append(shipped, fmt.Sprintf("冒充电商客服 2000 n\n# touch %d\n", n)...)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		days := s.Days()
		if seg.Fingerprint() != before && len(s.Stale()) == 0 && allGen(days, 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no re-index after the change: fingerprint %s (was %s), days %+v", seg.Fingerprint(), before, days)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := newSearcher(t, s).Search(context.Background(), Request{Query: "电信诈骗"})
	if err != nil || res.Total != 2 {
		t.Fatalf("after the re-index: %v, %v", res, err)
	}
}

func allGen(days []shards.DayInfo, gen int) bool {
	for _, d := range days {
		if d.Gen != gen {
			return false
		}
	}
	return len(days) > 0
}
