package feeds

import (
	"os"
	"strings"
	"testing"
	"time"
)

// clustersByPath maps fixture paths to the cluster of the post there.
func clustersByPath(t *testing.T, e *env) map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range e.published(t) {
		out[p.URL[strings.Index(p.URL[8:], "/")+8:]] = p.ClusterID
	}
	return out
}

// TestNearDuplicatesCollapse crawls the news site, restarts, then crawls
// the forum, where thread 101 reposts news/1 with a "转自" line and a
// comment: both must share one cluster, across the restart, while the
// other stories keep clusters of their own.
func TestNearDuplicatesCollapse(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	first := newEnv(t, dir, Config{})
	crawl(t, first, newsSource(s.URL))
	first.close()

	e := newEnv(t, dir, Config{})
	crawl(t, e, forumSource(s.URL))
	c := clustersByPath(t, e)

	if c["/news/1.html"] != c["/forum/thread-101-1-1.html"] {
		t.Errorf("repost has cluster %x, original %x", c["/forum/thread-101-1-1.html"], c["/news/1.html"])
	}
	distinct := map[uint64]string{}
	for _, p := range []string{"/news/1.html", "/news/2.html", "/news/3.html", "/forum/thread-102-1-1.html", "/forum/thread-103-1-1.html"} {
		if other, dup := distinct[c[p]]; dup {
			t.Errorf("%s and %s are different stories but share cluster %x", p, other, c[p])
		}
		distinct[c[p]] = p
	}
}

// TestDedupTextDropsRepostBoilerplate checks the normalisation before
// fingerprinting.
func TestDedupTextDropsRepostBoilerplate(t *testing.T) {
	tests := []struct{ title, body, want string }{
		{"【转】警方提醒", "转自市公安局反诈中心：\n正文一段。", "警方提醒\n正文一段。"},
		{"转发：[转]火灾通报", "正文。\n来源：平安某市\n责任编辑：王五", "火灾通报\n正文。"},
		{"原创标题", "来源不明的说法很多，这一句是正文，它提到了来源但不是署名行，而且它很长很长很长很长很长。", "原创标题\n来源不明的说法很多，这一句是正文，它提到了来源但不是署名行，而且它很长很长很长很长很长。"},
	}
	long := strings.Repeat("骗子自称电商客服，以快递丢件理赔为名诱导受害人下载会议软件并开启屏幕共享。", 3)
	tests = append(tests,
		// A long body stands alone: the rewritten headline and the short
		// remark lines at either end are left out.
		struct{ title, body, want string }{"转发：千万小心", "太可怕了！\n" + long + "\n转发扩散！", long},
		// A short line inside the text stays.
		struct{ title, body, want string }{"标题", long + "\n转发扩散！\n" + long, long + "\n转发扩散！\n" + long},
	)
	for _, tt := range tests {
		if got := dedupText(tt.title, tt.body); got != tt.want {
			t.Errorf("dedupText(%q, %q) = %q, want %q", tt.title, tt.body, got, tt.want)
		}
	}
}

// TestDedupWindow restarts with a clock inside and past the window: old
// entries are dropped from the index and the store. (An exact copy still
// shares the cluster id, because a new cluster is named by its first
// member's fingerprint; the window matters for near copies.)
func TestDedupWindow(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	first := newEnv(t, dir, Config{})
	crawl(t, first, newsSource(s.URL))
	first.close()

	tests := []struct {
		name  string
		later time.Duration
		kept  int
	}{
		{"within the window", 29 * 24 * time.Hour, 3},
		{"past the window", 31 * 24 * time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			now := testNow.Add(tt.later)
			e := newEnv(t, d, Config{Now: func() time.Time { return now }})
			if n := e.crawler.index.Len(); n != tt.kept {
				t.Errorf("index holds %d entries after restart, want %d", n, tt.kept)
			}
			e.close()
			again := newEnv(t, d, Config{Now: func() time.Time { return testNow }})
			if n := again.crawler.index.Len(); n != tt.kept {
				t.Errorf("store kept %d entries, want %d", n, tt.kept)
			}
		})
	}
}
