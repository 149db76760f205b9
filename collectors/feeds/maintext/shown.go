package maintext

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// shownTitle returns the headline as printed on the page and its element.
// The <title> element usually carries the headline followed by column and
// site names ("标题_国内新闻_某某网"); the printed headline is the longest
// headline-like element (h1–h3, or classed or named "title": Chinese CMSs
// often print it in a <div> or <td>) whose text is part of <title>.
// Without one, the first <h1> is used, then <title> without site names.
func shownTitle(doc *goquery.Document) (string, *html.Node) {
	var head string
	var cands []*html.Node
	var h1 *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Title:
				if head == "" {
					head = nodeText(n)
				}
				return
			case atom.Script, atom.Style, atom.Noscript, atom.Template:
				return
			case atom.H1:
				if h1 == nil {
					h1 = n
				}
				cands = append(cands, n)
			case atom.H2, atom.H3:
				cands = append(cands, n)
			default:
				for _, a := range n.Attr {
					if (a.Key == "class" || a.Key == "id") && titleAttr.MatchString(a.Val) {
						cands = append(cands, n)
						break
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc.Nodes[0])
	var best *html.Node
	bestLen, bestText := 0, ""
	if h := compact(head); h != "" {
		for _, c := range cands {
			t := nodeText(c)
			n := utf8.RuneCountInString(t)
			if n >= 4 && n <= 120 && n > bestLen && strings.Contains(h, compact(t)) {
				best, bestLen, bestText = c, n, t
			}
		}
	}
	if best != nil {
		return bestText, best
	}
	// A headline in plain bold or a styled <font>: the longest text
	// outside links that is part of <title>.
	if t, n := titleText(doc.Nodes[0], compact(head)); n != nil {
		return t, n
	}
	if h1 != nil {
		if t := nodeText(h1); t != "" {
			return t, h1
		}
	}
	return siteless(head), nil
}

func titleText(root *html.Node, head string) (string, *html.Node) {
	if head == "" {
		return "", nil
	}
	var best *html.Node
	bestLen, bestText := 0, ""
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Head, atom.A, atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Option:
				return
			}
		case html.TextNode:
			t := clean(n.Data)
			if c := utf8.RuneCountInString(t); c >= 6 && c > bestLen && c*2 >= utf8.RuneCountInString(head) && strings.Contains(head, compact(t)) {
				best, bestLen, bestText = n.Parent, c, t
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return bestText, best
}

var titleAttr = regexp.MustCompile(`(?i)title|biaoti|headline`)

// nodeText is the white-space-normalised text of n.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
		case html.ElementNode:
			if n.DataAtom == atom.Script || n.DataAtom == atom.Style {
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return clean(b.String())
}

// siteless drops the column and site names from a <title>.
func siteless(t string) string {
	parts := titleSep.Split(t, -1)
	if len(parts) < 2 {
		return t
	}
	best := ""
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if utf8.RuneCountInString(p) > utf8.RuneCountInString(best) {
			best = p
		}
	}
	return best
}

var titleSep = regexp.MustCompile(`\s*(?:_|\||－|—|--|\s-\s|｜)\s*`)

func compact(s string) string { return strings.Join(strings.Fields(s), "") }

// dateRE matches the absolute dates Chinese pages print, with an optional
// time of day: 2026-11-28 14:05, 2026/11/28, 2026年11月28日 14时05分,
// 2026.11.28.
var dateRE = regexp.MustCompile(`(?:19|20)\d\d\s*(?:[-/.]|年)\s*[01]?\d\s*(?:[-/.]|月)\s*[0-3]?\d(?:\s*日)?(?:\s*(?:[0-2]?\d)\s*[:：时]\s*[0-5]\d(?:\s*[:：分]\s*[0-5]\d)?)?`)

// shownTime returns the publication time as printed: the first date in
// the text that follows the headline (where the byline sits), else the
// page's metadata or a <time> element, else the first date the page labels
// as a publication time ("发表于", "发布时间") or prints with a time of day
// (blogs and forums sign posts below the text; the date alone in a page
// header is today's, not the post's).
func shownTime(doc *goquery.Document, title *html.Node) string {
	if title != nil {
		seen := 0
		for n := following(title); n != nil && seen < 40; n = following(n) {
			if n.Type == html.ElementNode && skipTags[n.Data] {
				n = skipSubtree(n)
				if n == nil {
					break
				}
				continue
			}
			if n.Type != html.TextNode || strings.TrimSpace(n.Data) == "" {
				continue
			}
			seen++
			if m := dateRE.FindString(n.Data); m != "" {
				return clean(m)
			}
		}
	}
	for _, sel := range []string{`meta[property="article:published_time"]`, `meta[name=pubdate]`, `meta[name=publishdate]`, `meta[name=PubDate]`, `meta[itemprop=datePublished]`} {
		if v, ok := doc.Find(sel).Attr("content"); ok && strings.TrimSpace(v) != "" {
			return clean(v)
		}
	}
	if t := inline(doc.Find("time").First()); t != "" {
		return t
	}
	return labelledTime(doc.Nodes[0])
}

var (
	timeLabel   = regexp.MustCompile(`(?i)发表于|发布于|发表时间|发布时间|发布日期|更新时间|时间[:：]|日期[:：]|posted|published`)
	timeOfDayRE = regexp.MustCompile(`\d[日\s]*\d{1,2}\s*[:：时]\s*\d{2}`)
)

func labelledTime(root *html.Node) string {
	prev, withTime := "", ""
	var walk func(*html.Node) string
	walk = func(n *html.Node) string {
		switch n.Type {
		case html.ElementNode:
			if skipTags[n.Data] || n.DataAtom == atom.A {
				return ""
			}
		case html.TextNode:
			t := n.Data
			if loc := dateRE.FindStringIndex(t); loc != nil {
				m := t[loc[0]:loc[1]]
				if timeLabel.MatchString(prev + t[:loc[0]]) {
					return clean(m)
				}
				if withTime == "" && timeOfDayRE.MatchString(m) {
					withTime = clean(m)
				}
			}
			if strings.TrimSpace(t) != "" {
				prev = t
			}
			return ""
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if r := walk(c); r != "" {
				return r
			}
		}
		return ""
	}
	if r := walk(root); r != "" {
		return r
	}
	return withTime
}

// following is the next node in document order after n's subtree start.
func following(n *html.Node) *html.Node {
	if n.FirstChild != nil {
		return n.FirstChild
	}
	return skipSubtree(n)
}

// skipSubtree is the next node in document order outside n's subtree.
func skipSubtree(n *html.Node) *html.Node {
	for ; n != nil; n = n.Parent {
		if n.NextSibling != nil {
			return n.NextSibling
		}
	}
	return nil
}

// nextLabels are the link texts of "next page" in paginated articles.
// "下一篇" (next article) is deliberately absent.
var nextLabels = map[string]bool{"下一页": true, "下页": true, "下一頁": true, "下壹页": true, "后一页": true}

// nextPage finds the link to the next part of a paginated article.
func nextPage(root *html.Node) string {
	var walk func(*html.Node) string
	walk = func(n *html.Node) string {
		if n.Type == html.ElementNode && n.DataAtom == atom.A {
			href := ""
			for _, a := range n.Attr {
				if a.Key == "href" {
					href = strings.TrimSpace(a.Val)
				}
			}
			if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(strings.ToLower(href), "javascript:") {
				return ""
			}
			if t := strings.Trim(compact(nodeText(n)), "[]【】<>《》»›>→ "); nextLabels[t] {
				return href
			}
			return ""
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if h := walk(c); h != "" {
				return h
			}
		}
		return ""
	}
	return walk(root)
}
