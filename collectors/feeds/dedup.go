package feeds

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/netpulse/netpulse/chinese/jieba"
)

// Repost boilerplate that says nothing about the story: a marker in front
// of a reposted title, and short attribution lines ("转自…", "来源：…",
// "原标题：…", "责任编辑：…"). Removing them before fingerprinting keeps
// the distance between a repost and its original down to the reposter's own
// remarks.
var (
	repostTitle = regexp.MustCompile(`^\s*(?:【\s*转(?:载|发)?\s*】|\[\s*转(?:载|发)?\s*\]|转(?:载|发)?\s*[:：]|Re\s*[:：]|回复\s*[:：])\s*`)
	attribution = regexp.MustCompile(`^\s*(?:转自|转载自|转载于|来源|来自|原标题|原文|责任编辑|编辑|记者|通讯员)\s*[:：]?`)
)

const maxAttributionRunes = 40

// minBodyRunes is the body length from which the title is left out of the
// fingerprint: reposters rewrite headlines ("转发：…千万小心") far more
// than they rewrite the text, so for a real article the title adds noise,
// while for a short post it is much of the story.
const minBodyRunes = 80

// maxRemarkRunes is the length up to which a first or last line of a long
// body counts as a reposter's remark ("大家转给家里老人看看！", "转发扩散！")
// and is left out. The rule applies to every post alike, so an original
// that ends in a short line loses it too and still matches its copies.
const maxRemarkRunes = 20

// dedupText is the text SimHash sees for a post.
func dedupText(title, body string) string {
	titleFrom, lines := dedupParts(title, body)
	parts := make([]string, 0, len(lines)+1)
	if titleFrom >= 0 {
		parts = append(parts, title[titleFrom:])
	}
	for _, l := range lines {
		parts = append(parts, body[l.Start:l.End])
	}
	return strings.Join(parts, "\n")
}

// dedupParts says which parts of a post SimHash sees: the title from byte
// titleFrom on (-1: not the title), and the body's lines in lines.
func dedupParts(title, body string) (titleFrom int, lines []jieba.Span) {
	titleFrom = 0
	for {
		loc := repostTitle.FindStringIndex(title[titleFrom:])
		if loc == nil || loc[1] == 0 {
			break
		}
		titleFrom += loc[1]
	}
	var kept []jieba.Span
	start := 0
	for start <= len(body) {
		end := strings.IndexByte(body[start:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		l := body[start:end]
		if !(attribution.MatchString(l) && utf8.RuneCountInString(l) <= maxAttributionRunes) {
			kept = append(kept, jieba.Span{Start: start, End: end})
		}
		start = end + 1
	}
	runes := func(sp jieba.Span) int { return utf8.RuneCountInString(body[sp.Start:sp.End]) }
	total := 0
	for _, l := range kept {
		total += runes(l)
	}
	for len(kept) > 1 {
		n := runes(kept[0])
		if n >= maxRemarkRunes || total-n < minBodyRunes {
			break
		}
		kept, total = kept[1:], total-n
	}
	for len(kept) > 1 {
		n := runes(kept[len(kept)-1])
		if n >= maxRemarkRunes || total-n < minBodyRunes {
			break
		}
		kept, total = kept[:len(kept)-1], total-n
	}
	if total >= minBodyRunes {
		return -1, kept
	}
	return titleFrom, kept
}
