package maintext

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
)

// titleCandidates are where pages print the headline. Chinese CMSs often
// use a classed <div> or <td> rather than <h1>.
const titleCandidates = `h1, h2, h3, [class*=title], [id*=title], [class*=Title], [id*=Title], [class*=biaoti], [class*=headline]`

// shownTitle returns the headline as printed on the page and its element.
// The <title> element usually carries the headline followed by column and
// site names ("标题_国内新闻_某某网"); the printed headline is the longest
// candidate element whose text is part of it. Without one, the first
// part of <title> is used.
func shownTitle(doc *goquery.Document) (string, *html.Node) {
	head := inline(doc.Find("title").First())
	var best *html.Node
	bestLen := 0
	doc.Find(titleCandidates).EachWithBreak(func(i int, s *goquery.Selection) bool {
		if s.Is("title, head *") {
			return true
		}
		t := inline(s)
		n := utf8.RuneCountInString(t)
		if n >= 4 && n <= 120 && n > bestLen && head != "" && strings.Contains(compact(head), compact(t)) {
			best, bestLen = s.Nodes[0], n
		}
		return i < 400
	})
	if best != nil {
		return inline(goquery.NewDocumentFromNode(best).Selection), best
	}
	if h1 := doc.Find("body h1").First(); h1.Length() > 0 {
		if t := inline(h1); t != "" {
			return t, h1.Nodes[0]
		}
	}
	return siteless(head), nil
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
// page's metadata, else a <time> element.
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
	return inline(doc.Find("time").First())
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
func nextPage(doc *goquery.Document) string {
	href := ""
	doc.Find("a[href]").EachWithBreak(func(_ int, s *goquery.Selection) bool {
		t := strings.Trim(compact(s.Text()), "[]【】<>《》»›>→ ")
		if !nextLabels[t] {
			return true
		}
		h, _ := s.Attr("href")
		h = strings.TrimSpace(h)
		if h == "" || strings.HasPrefix(h, "#") || strings.HasPrefix(strings.ToLower(h), "javascript:") {
			return true
		}
		href = h
		return false
	})
	return href
}
