// Package posts is the posts stage of the pipeline: it reads public posts
// from the raw.posts topic, tokenises them, stores them in ClickHouse and
// indexes them for search, and commits the bus offsets only once both hold
// the batch.
package posts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/netpulse/netpulse/chinese/jieba"
)

// Post is the message on raw.posts, JSON-encoded, keyed by ID. The feed
// crawler and the intake API publish it; this package consumes it.
//
// ID must be stable across re-fetches of the same post (the crawler derives
// it from the canonical URL or the feed's guid), because it is the ClickHouse
// dedup key and the search document id: a replay overwrites, never duplicates.
type Post struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"` // feed or site name, e.g. "weibo", "gov-news"
	URL         string    `json:"url"`
	Title       string    `json:"title"`
	Body        string    `json:"body"` // plain text, HTML already stripped
	Author      string    `json:"author"`
	PublishedAt time.Time `json:"published_at"`
	FetchedAt   time.Time `json:"fetched_at"`
	// ClusterID is the SimHash near-duplicate cluster; 0 means "not clustered".
	ClusterID uint64 `json:"cluster_id"`
	Lang      string `json:"lang"` // BCP 47, "zh" for Chinese; empty means unknown
	// Cut is the post's one jieba cut, made by the stage that first held
	// it (the crawler or the push intake). The posts consumer, the term
	// counter and the index derive their words from it, and cut again only
	// when it is missing, made with another dictionary, or does not fit
	// the text. Never taken from a partner: Intake drops it.
	Cut *jieba.Cut `json:"cut,omitempty"`
}

// Limits that Validate enforces. They keep one runaway post from stalling a
// batch in the tokenizer or the index.
const (
	MaxIDLen    = 256
	MaxTitleLen = 4 << 10
	MaxBodyLen  = 256 << 10
)

// Validate reports the first problem that makes p unusable, naming the field.
func (p *Post) Validate() error {
	switch {
	case strings.TrimSpace(p.ID) == "":
		return &FieldError{Field: "id", Reason: "empty"}
	case len(p.ID) > MaxIDLen:
		return &FieldError{Field: "id", Reason: fmt.Sprintf("longer than %d bytes", MaxIDLen)}
	case strings.TrimSpace(p.Source) == "":
		return &FieldError{Field: "source", Reason: "empty"}
	case p.Title == "" && p.Body == "":
		return &FieldError{Field: "body", Reason: "title and body are both empty"}
	case len(p.Title) > MaxTitleLen:
		return &FieldError{Field: "title", Reason: fmt.Sprintf("longer than %d bytes", MaxTitleLen)}
	case len(p.Body) > MaxBodyLen:
		return &FieldError{Field: "body", Reason: fmt.Sprintf("longer than %d bytes", MaxBodyLen)}
	case !utf8.ValidString(p.Title) || !utf8.ValidString(p.Body) || !utf8.ValidString(p.Author):
		return &FieldError{Field: "body", Reason: "not valid UTF-8"}
	case p.PublishedAt.IsZero():
		return &FieldError{Field: "published_at", Reason: "missing"}
	case p.URL != "" && !webURL(p.URL):
		// Dashboards link to the URL: a javascript: or data: one would be
		// a stored script in every analyst's browser.
		return &FieldError{Field: "url", Reason: "not an absolute http or https URL"}
	}
	return nil
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// FieldError names the field of a post that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Decode parses one raw.posts message value and validates it.
func Decode(value []byte) (Post, error) {
	var p Post
	if err := json.Unmarshal(value, &p); err != nil {
		return Post{}, fmt.Errorf("decode post: %w", err)
	}
	if err := p.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return p, fmt.Errorf("post %q: %w", p.ID, err)
		}
		return p, err
	}
	return p, nil
}
