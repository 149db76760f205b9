// Package maintext pulls the readable article out of a crawled HTML page:
// title and publication time as the page shows them, body text, author,
// without navigation, scripts, ads or comment forms.
//
// The body comes, in order of preference, from the source's own CSS
// selectors, from readeck's go-readability (a maintained port of Mozilla's
// Readability) run on a tree prepared for the markup of Chinese sites, and,
// when a page is too large or readability finds nothing, from a fast
// text-density scan. Article.Method says which one produced the body so
// the crawler can count fast-path pages in source health.
package maintext

import (
	"io"
	"net/url"
	"regexp"
	"strings"

	readability "codeberg.org/readeck/go-readability/v2"
	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Rules are a source's selectors. Empty fields fall back to heuristics.
type Rules struct {
	Title  string
	Body   string
	Author string
	Time   string
}

// Method names the way the body was found.
type Method string

const (
	BySelectors   Method = "selectors"   // the source's Body selector matched
	ByReadability Method = "readability" // the general extractor
	ByFastPath    Method = "fast"        // page over the size limit, or readability found nothing
)

// Article is what Extract found. Time is the text as printed; the caller
// parses it with the source's layout and clock.
type Article struct {
	Title    string `json:"title"`
	Body     string `json:"body"`
	Author   string `json:"author"`
	TimeText string `json:"time_text"`
	// NextPage is the absolute or page-relative link to the next part of
	// an article split over several pages ("下一页"), empty when none.
	NextPage string `json:"next_page,omitempty"`
	Method   Method `json:"method"`
}

// MaxElements bounds the time spent on one page. Readability's cost grows
// faster than the page (it rescans ancestors and retries up to four
// times); past this many elements a page goes to the fast path, which is
// linear. Measured: the largest page of the evaluation sets (see
// docs/performance.md) has 7,777 elements.
const MaxElements = 15000

// boilerplate never holds article text. It is removed only on the
// selector and fast paths; readability has its own, finer rules. <form> is
// not in the list: ASP.NET pages wrap the whole page in one.
const boilerplate = "script, style, noscript, template, iframe, object, embed, svg, canvas, button, select, textarea, input, nav, header, footer, aside, menu, " +
	"[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true], " +
	".nav, .navbar, .menu, .breadcrumb, .crumb, .sidebar, .footer, .header, .ad, .ads, .advert, .share, .comment, .comments, .related, .pagination, .pager, #nav, #footer, #header, #sidebar, #comments"

// Parse reads an HTML document (already UTF-8).
func Parse(r io.Reader) (*goquery.Document, error) {
	return goquery.NewDocumentFromReader(r)
}

// Extract applies rules to doc. It changes doc in place.
func Extract(doc *goquery.Document, rules Rules) Article {
	var a Article
	// Title, author and time often sit in a header block that is
	// boilerplate for the body, so read them before anything is removed.
	if rules.Author != "" {
		a.Author = inline(doc.Find(rules.Author).First())
	}
	if rules.Time != "" {
		a.TimeText = inline(doc.Find(rules.Time).First())
	}
	if rules.Title != "" {
		a.Title = inline(doc.Find(rules.Title).First())
	}
	var titleNode *html.Node
	if a.Title == "" {
		a.Title, titleNode = shownTitle(doc)
	}
	if a.Author == "" {
		if v, ok := doc.Find(`meta[name=author]`).Attr("content"); ok {
			a.Author = clean(v)
		}
	}
	if a.TimeText == "" {
		a.TimeText = shownTime(doc, titleNode)
	}
	a.NextPage = nextPage(doc.Nodes[0])

	if rules.Body != "" {
		if body := doc.Find(rules.Body); body.Length() > 0 {
			body.Find(boilerplate).Remove()
			var b strings.Builder
			body.Each(func(_ int, s *goquery.Selection) {
				for _, n := range s.Nodes {
					blockText(&b, n)
				}
				b.WriteByte('\n')
			})
			a.Body, a.Method = paragraphs(b.String()), BySelectors
			return a
		}
	}
	root := doc.Nodes[0]
	if prepare(root) <= MaxElements {
		if body := readable(root, a.Title); body != "" {
			a.Body, a.Method = body, ByReadability
			return a
		}
	}
	a.Body, a.Method = fastBody(root, a.Title), ByFastPath
	return a
}

// readable runs go-readability on the prepared tree and returns the body
// text, or "" when it found no article.
func readable(root *html.Node, title string) string {
	p := readability.NewParser()
	// JSON-LD articleBody would bypass the page as shown; the title and
	// dates are read by this package.
	p.DisableJSONLD = true
	u, _ := url.Parse("https://example.invalid/")
	art, err := p.ParseAndMutate(root, u)
	if err != nil || art.Node == nil {
		return ""
	}
	return trimEdges(lines(art.Node), title)
}

// prepare rewrites the markup of Chinese CMSs into what a general
// extractor scores, and returns the number of elements.
//
// Unknown elements (<founder-content>, <sohu_cms_include:…>, editor
// wrappers) become <div>s: readability only scores known tags, so
// paragraphs inside an unknown wrapper otherwise lose to page clutter.
func prepare(root *html.Node) int {
	n := 0
	var walk func(*html.Node)
	walk = func(node *html.Node) {
		if node.Type == html.ElementNode {
			n++
			switch {
			case formControl[node.DataAtom]:
				// Option lists and buttons are never article text, and a
				// login or cookie form can outscore a short article.
				node.Parent.RemoveChild(node)
				return
			case node.DataAtom == atom.Figcaption || isCaption(node):
				// Captions and photo credits describe pictures the text
				// does not carry; readers skip them.
				node.Parent.RemoveChild(node)
				return
			case node.DataAtom == 0 && node.Namespace == "":
				node.Data, node.DataAtom = "div", atom.Div
			}
		}
		for c := node.FirstChild; c != nil; {
			next := c.NextSibling
			walk(c)
			c = next
		}
	}
	walk(root)
	return n
}

var captionAttr = regexp.MustCompile(`(?i)(?:^|[-_\s])(?:caption|credit|img-?desc|pictext|photo-?text)(?:$|[-_\s])`)

func isCaption(n *html.Node) bool {
	for _, a := range n.Attr {
		if (a.Key == "class" || a.Key == "id") && captionAttr.MatchString(a.Val) {
			return true
		}
	}
	return false
}

var formControl = map[atom.Atom]bool{atom.Select: true, atom.Option: true, atom.Optgroup: true, atom.Button: true, atom.Textarea: true, atom.Input: true}

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

var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "tr": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "section": true,
	"article": true, "table": true, "ul": true, "ol": true, "dd": true, "dt": true, "hr": true,
	"td": true, "th": true, "form": true, "main": true, "figure": true, "figcaption": true,
}

func blockText(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(n.Data)
		return
	case html.ElementNode:
		switch n.Data {
		case "script", "style", "noscript", "template":
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
