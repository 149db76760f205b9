package feeds

import (
	"bytes"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"

	"github.com/netpulse/netpulse/collectors/feeds/maintext"
)

// FuzzFeedItems feeds arbitrary bytes through what a crawl does with an RSS
// or Atom body: the encoding fix-up, gofeed, the item identity, the text of
// title, body and author. None of it may panic, and what becomes a post
// must be valid UTF-8 with a key that is a URL of the feed's host or a guid.
func FuzzFeedItems(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="GBK"?><rss version="2.0"><channel><title>t</title><item><title>标题</title><link>/a?b=1#x</link><description><![CDATA[<p>正文</p>]]></description><author>a@b (作者)</author><pubDate>Mon, 02 Jan 2006 15:04:05 +0800</pubDate></item></channel></rss>`), true)
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>urn:x</id><title type="html">&lt;b&gt;x&lt;/b&gt;</title><author><name>n</name></author><updated>2026-11-28T08:00:00+08:00</updated><content type="html">c</content></entry></feed>`), false)
	f.Add([]byte(`<rss><channel><item><guid>g</guid></item><item><link>javascript:alert(1)</link></item></channel></rss>`), false)
	f.Add([]byte{0xff, 0xfe, '<', 0, 'r', 0}, true)
	feedURL, _ := url.Parse("https://example.test/feeds/tips.xml")
	f.Fuzz(func(t *testing.T, body []byte, decoded bool) {
		p := &page{url: feedURL, body: body, decoded: decoded}
		fixed := feedUTF8(p)
		if !decoded && !bytes.Equal(fixed, body) {
			t.Fatalf("feedUTF8 changed a body colly did not decode")
		}
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(fixed))
		if err != nil {
			return
		}
		for _, it := range feed.Items {
			if it == nil {
				continue
			}
			key, link := itemKey(it, feedURL)
			if key != "" && link == "" {
				t.Fatalf("item with key %q has no link", key)
			}
			for _, s := range []string{maintext.Text(it.Title), maintext.Text(it.Content), maintext.Text(it.Description), itemAuthor(it)} {
				if !utf8.ValidString(s) {
					t.Fatalf("post text is not valid UTF-8: %q", s)
				}
			}
		}
	})
}
