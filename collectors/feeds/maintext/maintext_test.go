package maintext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const page = `<!DOCTYPE html><html><head><title>站点标题 - 平安资讯</title>
<meta name="author" content="市局宣传处">
<script>var tracker = "不应出现";</script><style>.x{color:red}</style></head>
<body>
<div id="header"><a href="/">首页</a> <a href="/news">新闻</a> <a href="/notice">通知公告</a></div>
<nav><ul><li><a href="/a">警情通报</a></li><li><a href="/b">反诈宣传</a></li></ul></nav>
<div class="main">
  <h1>城南仓库火灾无人员伤亡</h1>
  <div class="info"><span class="time">2026年11月28日 14:05</span></div>
  <div class="content">
    <p>11月28日凌晨，城南工业园区一处仓库发生火灾。</p>
    <p>消防救援支队调派8辆消防车赶赴现场，两小时后明火被扑灭。</p>
    <script>document.write("广告")</script>
    <div class="share"><a href="#">分享到微博</a></div>
  </div>
</div>
<div class="sidebar"><ul><li><a href="/c">热门文章一</a></li><li><a href="/d">热门文章二</a></li></ul></div>
<div id="footer">版权所有 © 平安资讯</div>
</body></html>`

func TestExtract(t *testing.T) {
	wantBody := "11月28日凌晨，城南工业园区一处仓库发生火灾。\n消防救援支队调派8辆消防车赶赴现场，两小时后明火被扑灭。"
	tests := []struct {
		name  string
		rules Rules
		want  Article
	}{
		{"selectors", Rules{Title: "h1", Body: ".content", Time: ".time", Author: ".author"},
			Article{Title: "城南仓库火灾无人员伤亡", Body: wantBody, Author: "市局宣传处", TimeText: "2026年11月28日 14:05", Method: BySelectors}},
		// Without selectors the time is the date printed under the headline.
		{"heuristic", Rules{},
			Article{Title: "城南仓库火灾无人员伤亡", Body: wantBody, Author: "市局宣传处", TimeText: "2026年11月28日 14:05", Method: ByReadability}},
		{"selector matching nothing falls back", Rules{Body: ".missing", Time: ".time"},
			Article{Title: "城南仓库火灾无人员伤亡", Body: wantBody, Author: "市局宣传处", TimeText: "2026年11月28日 14:05", Method: ByReadability}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(strings.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			got := Extract(doc, tt.rules)
			if got != tt.want {
				t.Errorf("Extract:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"纯文本  描述", "纯文本 描述"},
		{"<p>第一段</p><p>第二段<script>x()</script></p>", "第一段\n第二段"},
		{"警方提醒&amp;注意", "警方提醒&注意"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzExtract runs the extractor's three paths over arbitrary markup: no
// panic, valid UTF-8 out, and nothing from a script element in the body.
func FuzzExtract(f *testing.F) {
	f.Add(page)
	f.Add("<div><p>短</p><script>x</script></div>")
	f.Add("<table><tr><td>论坛<br>回复</td></tr></table>")
	f.Add("\xff\xfe<p>bad utf8 \xc3</p>")
	f.Add("<form><founder-content><div>第一段。</div><div>第二段。</div></founder-content><select><option>选项</option></select></form><a href='2.html'>下一页</a>")
	f.Fuzz(func(t *testing.T, in string) {
		doc, err := Parse(strings.NewReader("<script>SCRIPTMARK</script>" + in))
		if err != nil {
			return
		}
		// The selector path, then readability and the fast path on a
		// fresh tree (Extract changes the one it is given).
		for _, rules := range []Rules{{Body: "div"}, {}} {
			doc, err := Parse(strings.NewReader("<script>SCRIPTMARK</script>" + in))
			if err != nil {
				return
			}
			a := Extract(doc, rules)
			for _, s := range []string{a.Title, a.Body, a.Author, a.TimeText, a.NextPage} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 in %q", s)
				}
			}
			if strings.Contains(a.Body, "SCRIPTMARK") && !strings.Contains(in, "SCRIPTMARK") {
				t.Fatalf("script text leaked into body: %q", a.Body)
			}
		}
		if fast := fastBody(doc.Nodes[0], ""); !utf8.ValidString(fast) || (strings.Contains(fast, "SCRIPTMARK") && !strings.Contains(in, "SCRIPTMARK")) {
			t.Fatalf("fast path: %q", fast)
		}
	})
}

func BenchmarkExtract(b *testing.B) {
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		doc, err := Parse(strings.NewReader(page))
		if err != nil {
			b.Fatal(err)
		}
		Extract(doc, Rules{})
	}
}
