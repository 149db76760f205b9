package feeds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gocolly/colly/v2"
	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// errRobots marks a page that robots.txt forbids us to fetch.
var errRobots = errors.New("disallowed by robots.txt")

// permanentError is an HTTP answer that retrying will not change (4xx).
type permanentError struct {
	url    string
	status int
}

func (e *permanentError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d", e.url, e.status)
}

// page is one fetched response.
type page struct {
	url     *url.URL // after redirects
	status  int
	header  http.Header
	body    []byte
	decoded bool // colly already converted the body to UTF-8
	// declared is the charset named by the Content-Type header; it wins
	// over <meta>, as in browsers.
	declared string
}

func (p *page) validators() Validators {
	return Validators{ETag: p.header.Get("ETag"), LastModified: p.header.Get("Last-Modified")}
}

// newCollector builds the colly collector for one run. colly is the HTTP
// side: robots.txt (fetched and cached per host for the run), User-Agent,
// request timeout, body bound and context cancellation. The crawl order,
// retries, conditional requests and the seen set are ours, because they
// must be decided per page and persisted.
func (c *Crawler) newCollector(ctx context.Context) *colly.Collector {
	col := colly.NewCollector(
		colly.UserAgent(c.cfg.UserAgent),
		colly.StdlibContext(ctx),
		colly.MaxBodySize(c.cfg.MaxBodyBytes),
		// Revisits are decided by the seen store; a retry is a revisit.
		colly.AllowURLRevisit(),
		// 304, 4xx and 5xx come back as responses so that we can tell a
		// Not Modified from a failure and retry only what may recover.
		colly.ParseHTTPErrorResponse(),
	)
	col.IgnoreRobotsTxt = false
	col.SetRequestTimeout(c.cfg.Timeout)
	if c.cfg.Transport != nil {
		col.WithTransport(c.cfg.Transport)
	} else {
		col.WithTransport(c.transport)
	}
	col.OnRequest(func(r *colly.Request) {
		if cs := r.Ctx.Get("charset"); cs != "" {
			r.ResponseCharacterEncoding = cs
		}
	})
	col.OnResponse(func(r *colly.Response) {
		p, _ := r.Ctx.GetAny("page").(*page)
		if p == nil {
			return
		}
		p.url = r.Request.URL
		p.status = r.StatusCode
		p.header = r.Headers.Clone()
		p.body = r.Body
		_, params, _ := mime.ParseMediaType(p.header.Get("Content-Type"))
		cs := strings.ToLower(params["charset"])
		p.declared = cs
		p.decoded = r.Request.ResponseCharacterEncoding != "" || (cs != "" && cs != "utf-8" && cs != "utf8")
	})
	return col
}

// fetch GETs u with retries: network errors, timeouts, 429 and 5xx are
// retried with exponential backoff (honouring a short Retry-After); 4xx is
// permanent; robots.txt refusals return errRobots. Every attempt waits for
// the host's rate-limit slot first.
func (c *Crawler) fetch(ctx context.Context, col *colly.Collector, src Source, u string, cond Validators) (*page, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", u, err)
	}
	backoff := c.cfg.RetryBackoff
	var lastErr error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff); err != nil {
				return nil, err
			}
			backoff = min(backoff*2, maxBackoff)
		}
		if err := c.gate.wait(ctx, pu.Host, src.HostDelay.Std()); err != nil {
			return nil, err
		}
		p := &page{}
		cctx := colly.NewContext()
		cctx.Put("page", p)
		if src.Charset != "" {
			cctx.Put("charset", src.Charset)
		}
		hdr := http.Header{}
		hdr.Set("Accept", "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,application/xml;q=0.9,*/*;q=0.8")
		hdr.Set("Accept-Language", "zh-CN,zh;q=0.9")
		if cond.ETag != "" {
			hdr.Set("If-None-Match", cond.ETag)
		}
		if cond.LastModified != "" {
			hdr.Set("If-Modified-Since", cond.LastModified)
		}
		err := col.Request(http.MethodGet, u, nil, cctx, hdr)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch {
		case errors.Is(err, colly.ErrRobotsTxtBlocked):
			return nil, errRobots
		case errors.Is(err, ErrAddressRefused):
			// Policy, not weather: asking again gives the same answer.
			return nil, fmt.Errorf("GET %s: %w", u, err)
		case err != nil:
			lastErr = fmt.Errorf("GET %s: %w", u, err)
			continue
		case p.status == http.StatusTooManyRequests || p.status >= 500:
			lastErr = fmt.Errorf("GET %s: HTTP %d", u, p.status)
			if ra, err := strconv.Atoi(p.header.Get("Retry-After")); err == nil && ra > 0 {
				backoff = min(max(backoff, time.Duration(ra)*time.Second), maxBackoff)
			}
			continue
		case p.status >= 400:
			return nil, &permanentError{url: u, status: p.status}
		}
		c.metrics.bytes.Add(float64(len(p.body)))
		return p, nil
	}
	return nil, fmt.Errorf("after %d attempts: %w", c.cfg.Retries+1, lastErr)
}

const maxBackoff = 30 * time.Second

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// htmlUTF8 returns the page body as UTF-8. colly has converted it already
// when the source overrides the charset or the server named one (a server
// that names utf-8 is believed; a source whose server lies needs the
// charset override); otherwise a byte-order mark decides, then a body that
// is valid UTF-8 is read as such, then a <meta> declaration in the first
// KiB, and a page that declares nothing is read as GB18030 (a superset of
// GBK and GB2312), which is what undeclared Chinese pages almost always are.
//
// charset.DetermineEncoding alone is not enough: when nothing is declared
// and the first KiB happens to be ASCII (a long <head> of CSS), it answers
// windows-1252 without saying whether a declaration was found, and the
// word "charset" in that CSS or script is no sign of one.
func htmlUTF8(p *page) []byte {
	if p.decoded || p.declared != "" {
		return validUTF8(p.body)
	}
	enc, name, certain := charset.DetermineEncoding(p.body, "text/html")
	if !certain { // no byte-order mark
		// Chinese text in GBK is practically never valid UTF-8, so a body
		// that is valid UTF-8 is UTF-8, whatever a copied template's
		// <meta> claims.
		if utf8.Valid(p.body) {
			return p.body
		}
		enc = nil
		if declared := metaCharset(p.body); declared != "" {
			enc, name = charset.Lookup(declared)
		}
		if enc == nil || strings.HasPrefix(name, "utf-16") { // undeclared, unknown, or impossible in an ASCII-compatible page
			enc, name = simplifiedchinese.GB18030, "gb18030"
		}
	}
	if name == "utf-8" {
		return validUTF8(p.body)
	}
	out, _, err := transform.Bytes(enc.NewDecoder(), p.body)
	if err != nil {
		return validUTF8(p.body)
	}
	return validUTF8(out)
}

// validUTF8 replaces what is not UTF-8 in a body that claims to be, so the
// extractor and the index never see broken text.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// metaCharset returns the charset that a <meta charset> or <meta
// http-equiv="Content-Type" content="...; charset=..."> tag names in the
// first KiB, as the HTML prescan reads it: tags only, so the word in a
// comment, a style sheet or a script does not count.
func metaCharset(body []byte) string {
	if len(body) > 1024 {
		body = body[:1024]
	}
	z := xhtml.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return ""
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "meta" || !hasAttr {
				continue
			}
			var cs, content string
			var httpEquiv bool
			for more := true; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				switch strings.ToLower(string(k)) {
				case "charset":
					cs = string(v)
				case "content":
					content = string(v)
				case "http-equiv":
					httpEquiv = strings.EqualFold(string(v), "content-type")
				}
			}
			if cs != "" {
				return strings.TrimSpace(cs)
			}
			if httpEquiv {
				if _, params, err := mime.ParseMediaType(content); err == nil && params["charset"] != "" {
					return params["charset"]
				}
			}
		}
	}
}

var xmlEncodingRE = regexp.MustCompile(`(?i)(<\?xml[^>]*encoding=["'])[^"']*(["'])`)

// feedUTF8 returns the feed body for gofeed: untouched unless colly already
// converted it, in which case the XML declaration must stop claiming the
// old encoding or gofeed would decode twice.
func feedUTF8(p *page) []byte {
	if !p.decoded {
		return p.body
	}
	head := p.body
	if len(head) > 256 {
		head = head[:256]
	}
	fixed := xmlEncodingRE.ReplaceAll(head, []byte("${1}UTF-8${2}"))
	return append(fixed, bytes.Clone(p.body[len(head):])...)
}

// hostGate spaces requests to one host by at least the source's delay,
// across all sources and runs of this crawler. Real time, not the injected
// clock: politeness is about the remote server's wall clock.
type hostGate struct {
	mu   sync.Mutex
	next map[string]time.Time
}

func (g *hostGate) wait(ctx context.Context, host string, delay time.Duration) error {
	g.mu.Lock()
	now := time.Now()
	slot := g.next[host]
	if slot.Before(now) {
		slot = now
	}
	g.next[host] = slot.Add(delay)
	g.mu.Unlock()
	if d := time.Until(slot); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

// isHTML reports whether the page can be an article: HTML, XHTML, or no
// Content-Type at all (some old forums send none).
func (p *page) isHTML() bool {
	ct := p.header.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/html" || mt == "application/xhtml+xml" || mt == "text/plain"
}
