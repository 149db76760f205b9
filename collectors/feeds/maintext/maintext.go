// Package maintext pulls the readable article out of a crawled HTML page:
// title, body text, author and the printed publication time, without
// navigation, scripts, ads or comment forms. Site-specific CSS selectors are
// used when the source defines them; otherwise a text-density heuristic
// picks the block with the most paragraph text and the fewest links.
package maintext

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
)

// Rules are a source's selectors. Empty fields fall back to heuristics.
type Rules struct {
	Title  string
	Body   string
	Author string
	Time   string
}

// Article is what Extract found. Time is the text as printed; the caller
// parses it with the source's layout and clock.
type Article struct {
	Title    string `json:"title"`
	Body     string `json:"body"`
	Author   string `json:"author"`
	TimeText string `json:"time_text"`
}

// boilerplate never holds article text.
const boilerplate = "script, style, noscript, template, iframe, object, embed, svg, canvas, form, button, select, textarea, input, nav, header, footer, aside, menu, " +
	"[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true], " +
	".nav, .navbar, .menu, .breadcrumb, .crumb, .sidebar, .footer, .header, .ad, .ads, .advert, .share, .comment, .comments, .related, .pagination, .pager, #nav, #footer, #header, #sidebar, #comments"

// Parse reads an HTML document (already UTF-8).
func Parse(r io.Reader) (*goquery.Document, error) {
	return goquery.NewDocumentFromReader(r)
}

// Extract applies rules to doc. It removes boilerplate from doc in place.
func Extract(doc *goquery.Document, rules Rules) Article {
	var a Article
	// Author and time often sit in a header block that is boilerplate for
	// the body, so read them before stripping.
	if rules.Author != "" {
		a.Author = inline(doc.Find(rules.Author).First())
	}
	if rules.Time != "" {
		a.TimeText = inline(doc.Find(rules.Time).First())
	}
	if rules.Title != "" {
		a.Title = inline(doc.Find(rules.Title).First())
	}
	if a.Title == "" {
		a.Title = inline(doc.Find("h1").First())
	}
	if a.Title == "" {
		a.Title = inline(doc.Find("title").First())
	}
	if a.Author == "" {
		if v, ok := doc.Find(`meta[name=author]`).Attr("content"); ok {
			a.Author = clean(v)
		}
	}
	if a.TimeText == "" {
		for _, sel := range []string{`meta[property="article:published_time"]`, `meta[name=pubdate]`, `meta[name=publishdate]`} {
			if v, ok := doc.Find(sel).Attr("content"); ok && strings.TrimSpace(v) != "" {
				a.TimeText = clean(v)
				break
			}
		}
	}
	if a.TimeText == "" {
		a.TimeText = inline(doc.Find("time").First())
	}

	var body *goquery.Selection
	if rules.Body != "" {
		body = doc.Find(rules.Body)
	}
	if body == nil || body.Length() == 0 {
		doc.Find(boilerplate).Remove()
		body = densest(doc.Selection)
	} else {
		body.Find(boilerplate).Remove()
	}
	var b strings.Builder
	body.Each(func(_ int, s *goquery.Selection) {
		for _, n := range s.Nodes {
			blockText(&b, n)
		}
		b.WriteByte('\n')
	})
	a.Body = paragraphs(b.String())
	return a
}

// Text returns the readable text of an HTML fragment (a feed item's
// description or content), paragraphs separated by newlines.
func Text(fragment string) string {
	if !strings.ContainsAny(fragment, "<&") {
		return paragraphs(fragment)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(fragment))
	if err != nil {
		return paragraphs(fragment)
	}
	doc.Find(boilerplate).Remove()
	var b strings.Builder
	for _, n := range doc.Nodes {
		blockText(&b, n)
	}
	return paragraphs(b.String())
}

// densest scores every container by the text of its paragraphs, discounted
// by the share of that text inside links (navigation lists are all links),
// and returns the best one.
func densest(root *goquery.Selection) *goquery.Selection {
	best, bestScore := root.Find("body"), -1.0
	if best.Length() == 0 {
		best = root
	}
	root.Find("article, main, div, section, td").Each(func(_ int, s *goquery.Selection) {
		text := 0
		s.ChildrenFiltered("p, br, span, font, h2, h3, blockquote, pre, li").Each(func(_ int, p *goquery.Selection) {
			text += utf8.RuneCountInString(strings.TrimSpace(p.Text()))
		})
		// Text directly inside the container (forums often omit <p>).
		for _, n := range s.Nodes {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.TextNode {
					text += utf8.RuneCountInString(strings.TrimSpace(c.Data))
				}
			}
		}
		all := utf8.RuneCountInString(s.Text())
		if all == 0 || text == 0 {
			return
		}
		linked := utf8.RuneCountInString(s.Find("a").Text())
		score := float64(text) * (1 - float64(linked)/float64(all))
		if score > bestScore {
			best, bestScore = s, score
		}
	})
	return best
}

var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "tr": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "section": true,
	"article": true, "table": true, "ul": true, "ol": true, "dd": true, "dt": true, "hr": true,
}

func blockText(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(n.Data)
		return
	case html.ElementNode:
		if n.Data == "script" || n.Data == "style" {
			return
		}
	case html.CommentNode:
		return
	}
	block := n.Type == html.ElementNode && blockTags[n.Data]
	if block {
		b.WriteByte('\n')
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		blockText(b, c)
	}
	if block {
		b.WriteByte('\n')
	}
}

// paragraphs collapses runs of white space inside lines and drops empty
// lines, so that the same article always yields the same text.
func paragraphs(s string) string {
	s = strings.ToValidUTF8(s, "")
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if l := clean(line); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func clean(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.ReplaceAll(s, "\u00a0", " ")
	s = strings.ReplaceAll(s, "\u3000", " ")
	return strings.Join(strings.Fields(s), " ")
}

func inline(s *goquery.Selection) string {
	if s.Length() == 0 {
		return ""
	}
	return clean(strings.ToValidUTF8(s.Text(), ""))
}
