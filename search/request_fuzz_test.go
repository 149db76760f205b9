package search

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// FuzzParseRequest parses arbitrary query strings as GET
// /api/v1/search/posts does: no panic, and whatever it accepts is within
// the documented bounds (page from 1, 1 to 100 hits).
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"q=%E7%81%AB%E7%81%BE&from=2026-11-01&to=2026-11-30&sort=time&page=2&size=50",
		"q=%22unterminated&page=0", "q=a&page=99999999999999999999", "q=a&from=2026-13-45", "q=a&size=-5&collapse=0&facets=0",
		"q=source:demo-news+-%E5%B9%BF%E5%91%8A", "q=a&from=2026-11-30&to=2026-11-01"} {
		f.Add(s)
	}
	loc := time.FixedZone("CST", 8*3600)
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := url.ParseQuery(raw); err != nil {
			return
		}
		req, err := ParseRequest(&http.Request{Method: "GET", URL: &url.URL{Path: "/api/v1/search/posts", RawQuery: raw}}, loc)
		if err != nil {
			return
		}
		if req.Page < 1 || req.Size < 1 || req.Size > 100 {
			t.Fatalf("page %d size %d out of bounds", req.Page, req.Size)
		}
		_, _ = ParseQuery(req.Query) // the handler parses it next; it must not panic either
	})
}
