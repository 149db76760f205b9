package maintext

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// line is one block of rendered article text and how much of it sits
// inside links.
type line struct {
	text  string
	runes int
	links int
}

// lines renders n block by block, keeping per line the share of linked
// text, which edge trimming needs and plain text has lost.
func lines(n *html.Node) []line {
	var out []line
	var cur strings.Builder
	links := 0
	flush := func() {
		t := clean(cur.String())
		cur.Reset()
		if t != "" {
			out = append(out, line{text: t, runes: utf8.RuneCountInString(t), links: links})
		}
		links = 0
	}
	var walk func(n *html.Node, inLink bool)
	walk = func(n *html.Node, inLink bool) {
		switch n.Type {
		case html.TextNode:
			cur.WriteString(n.Data)
			if inLink {
				links += utf8.RuneCountInString(strings.TrimSpace(n.Data))
			}
			return
		case html.ElementNode:
			if skipTags[n.Data] {
				return
			}
			inLink = inLink || n.Data == "a"
		case html.CommentNode:
			return
		}
		block := n.Type == html.ElementNode && blockTags[n.Data]
		if block {
			flush()
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLink)
		}
		if block {
			flush()
		}
	}
	walk(n, false)
	flush()
	return out
}

// trimEdges drops what extractors commonly drag in at the two ends of an
// article: the headline repeated, bylines, dates and sources, pagination,
// navigation and "related" link lists, share bars and copyright notices.
// A reader's article starts and ends with sentences; short unpunctuated or
// link-made lines at the edges are page furniture. Nothing is trimmed from
// the middle, and if trimming would take more than half the text the page
// is left whole (a poem or a forum of one-liners).
func trimEdges(ls []line, title string) string {
	total := 0
	for _, l := range ls {
		total += l.runes
	}
	title = compact(title)
	i, j := edges(ls, title, true)
	weakRunes := 0
	for _, part := range [][]line{ls[:i], ls[j:]} {
		for _, l := range part {
			if !furniture(l, title, true, false) {
				weakRunes += l.runes
			}
		}
	}
	if weakRunes*2 > total {
		// Short unpunctuated lines were most of the page: a table of
		// data or verse. Trim only what is furniture for certain.
		i, j = edges(ls, title, false)
		if kept := runesIn(ls[i:j]); kept*5 < total && kept < 200 {
			i, j = 0, len(ls)
		}
	}
	var b strings.Builder
	for k, l := range ls[i:j] {
		if k > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.text)
	}
	return b.String()
}

func runesIn(ls []line) int {
	n := 0
	for _, l := range ls {
		n += l.runes
	}
	return n
}

// edges returns the bounds of the article within ls; weak says whether
// short unpunctuated lines count as furniture.
func edges(ls []line, title string, weak bool) (int, int) {
	i, j := 0, len(ls)
	// A heading that opens comments or link lists ends the article when
	// it comes after the article's longest paragraph.
	longest := 0
	for k, l := range ls {
		if l.runes > ls[longest].runes {
			longest = k
		}
	}
	for k := longest + 1; k < j; k++ {
		if ls[k].runes <= 24 && tailHead.MatchString(ls[k].text) {
			j = k
			break
		}
	}
	for i < j && furniture(ls[i], title, false, weak) {
		i++
	}
	for j > i && furniture(ls[j-1], title, true, weak) {
		j--
	}
	return i, j
}

var (
	metaLabel = regexp.MustCompile(`^[\[【(（]?\s*(?:(?:来源|来自|稿源|编辑|责任编辑|责编|作者|记者|通讯员|发布时间|发表时间|发布日期|更新时间|时间|日期|点击|浏览|阅读|字号|转载|出处|摄影|图片|文)\s*[:：]|(?:Updated|Posted|Published|By)[\s:])`)
	pageLine  = regexp.MustCompile(`第\s*\d+\s*页|共\s*\d+\s*页|上一页|下一页|^(?:\[\d+\]\s*)+$`)
	tailHead  = regexp.MustCompile(`(?i)^[\[【〖(（]?\s*(?:\S{0,8}\s*)?(?:发表评论|网友评论|相关评论|最新评论|评论列表|我要评论|相关文章|相关新闻|相关阅读|相关链接|延伸阅读|推荐阅读|热门文章|最新文章|热点文章|猜你喜欢|更多精彩|you may also like|related (?:articles|stories|posts|content)|more from|read more|recommended|leave a (?:reply|comment)|comments)(?:$|[\s:：(（\[【!！.…>»])`)
	stampRE   = regexp.MustCompile(`(?:\d{1,2}[-/月]\d{1,2}日?|\d{4}[-/年]\d{1,2}[-/月]\d{1,2}日?)\s*\d{1,2}:\d{2}`)
	urlLine   = regexp.MustCompile(`^(?:https?://|www\.)\S+$`)
	legalLine = regexp.MustCompile(`(?i)版权|免责|copyright|©|all rights reserved|未经.{0,8}授权`)
)

// sentenceEnd is how a line of prose ends.
const sentenceEnd = "。！？!?.…”\"』」）)；;：:"

func furniture(l line, title string, tail, weak bool) bool {
	switch {
	case l.links*2 >= l.runes:
		return true
	case title != "" && compact(l.text) == title:
		return true
	case l.runes <= 80 && (metaLabel.MatchString(l.text) || pageLine.MatchString(l.text)):
		return true
	case l.runes <= 40 && dateRE.MatchString(l.text), urlLine.MatchString(l.text):
		return true
	case l.runes <= 80 && stampRE.MatchString(l.text):
		// Reply and comment lists: title, author and a time of day.
		return true
	case tail && l.runes <= 200 && legalLine.MatchString(l.text):
		return true
	case weak && l.runes <= 20 && !strings.ContainsAny(lastRune(l.text), sentenceEnd):
		return true
	}
	return false
}

func lastRune(s string) string {
	r, n := utf8.DecodeLastRuneInString(s)
	if n == 0 {
		return ""
	}
	return string(r)
}
