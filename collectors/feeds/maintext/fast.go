package maintext

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// skipTags hold no article text on the fast path.
var skipTags = map[string]bool{
	"script": true, "style": true, "noscript": true, "template": true, "iframe": true, "object": true,
	"embed": true, "svg": true, "canvas": true, "button": true, "select": true, "textarea": true,
	"input": true, "nav": true, "header": true, "footer": true, "aside": true, "menu": true, "head": true,
}

// fastBody is the linear fallback: every run of text votes for its
// nearest block ancestor and, at falling weights, the ancestors above it,
// the way readability scores paragraphs; the container with the most votes after
// discounting link text wins. Sibling <div> paragraphs therefore all count
// for their common parent, and nothing is dropped for being in a <form>.
func fastBody(root *html.Node, title string) string {
	type stat struct {
		text, links int
		votes       float64
	}
	st := map[*html.Node]*stat{}
	get := func(n *html.Node) *stat {
		s := st[n]
		if s == nil {
			s = &stat{}
			st[n] = s
		}
		return s
	}
	var walk func(n, block *html.Node, inLink bool) (text, links int)
	walk = func(n, block *html.Node, inLink bool) (int, int) {
		switch n.Type {
		case html.TextNode:
			c := utf8.RuneCountInString(strings.TrimSpace(n.Data))
			if c == 0 {
				return 0, 0
			}
			if inLink {
				return c, c
			}
			// Readability's ancestor weights: the block, its parent
			// at half, then 1/(3·level), five levels up.
			for level, a := 0, block; level < 5 && a != nil; level, a = level+1, a.Parent {
				get(a).votes += float64(c) / ancestorDivider[level]
			}
			return c, 0
		case html.ElementNode:
			if skipTags[n.Data] {
				return 0, 0
			}
			if blockTags[n.Data] && n.Data != "br" && n.Data != "hr" {
				block = n
			}
			inLink = inLink || n.Data == "a"
		case html.CommentNode:
			return 0, 0
		}
		text, links := 0, 0
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			t, l := walk(c, block, inLink)
			text += t
			links += l
		}
		if n.Type == html.ElementNode {
			s := get(n)
			s.text, s.links = text, links
		}
		return text, links
	}
	walk(root, nil, false)
	var best *html.Node
	bestScore := 0.0
	for n, s := range st {
		if s.text == 0 || s.votes == 0 {
			continue
		}
		score := s.votes * (1 - float64(s.links)/float64(s.text))
		if score > bestScore {
			best, bestScore = n, score
		}
	}
	if best == nil {
		return ""
	}
	return trimEdges(lines(best), title)
}

var ancestorDivider = [5]float64{1, 2, 6, 9, 12}
