package feeds

import (
	"regexp"
	"strings"
	"unicode/utf8"
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

// dedupText is the text SimHash sees for a post.
func dedupText(title, body string) string {
	for {
		t := repostTitle.ReplaceAllString(title, "")
		if t == title {
			break
		}
		title = t
	}
	lines := strings.Split(body, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if attribution.MatchString(l) && utf8.RuneCountInString(l) <= maxAttributionRunes {
			continue
		}
		kept = append(kept, l)
	}
	return title + "\n" + strings.Join(kept, "\n")
}
