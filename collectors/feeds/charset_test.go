package feeds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// TestCharsets fetches one Chinese page encoded and declared in the ways
// sites do it, and checks that the text comes out as UTF-8.
func TestCharsets(t *testing.T) {
	const text = "警惕电信诈骗，守护群众钱袋子"
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(text)
	gb18030, _ := simplifiedchinese.GB18030.NewEncoder().String(text)
	page := func(meta, body string) string {
		return "<html><head>" + meta + "<title>t</title></head><body><p>" + body + "</p></body></html>"
	}
	tests := []struct {
		name, contentType, body, override string
	}{
		{"utf-8 declared in header", "text/html; charset=utf-8", page("", text), ""},
		{"utf-8 undeclared", "text/html", page("", text), ""},
		{"gbk in header", "text/html; charset=GBK", page("", gbk), ""},
		{"gb2312 in meta", "text/html", page(`<meta http-equiv="Content-Type" content="text/html; charset=gb2312">`, gbk), ""},
		{"gbk in html5 meta", "text/html", page(`<meta charset="gbk">`, gbk), ""},
		{"gb18030 undeclared", "text/html", page("", gb18030), ""},
		{"server lies, source overrides", "text/html; charset=iso-8859-1", page("", gbk), "gbk"},
		{"gb18030 override", "text/html", page(`<meta charset="utf-8">`, gb18030), "gb18030"},
		// The word "charset" outside a <meta> tag is no declaration, and
		// an ASCII first KiB is no sign of windows-1252.
		{"utf-8 undeclared, @charset in a long style sheet", "text/html", page(longCSS(`@charset "utf-8";`), text), ""},
		{"utf-8 undeclared, charset in a script", "text/html", page(`<script>var x = "charset=gbk";</script>`+longCSS(""), text), ""},
		{"gbk undeclared, charset in a comment", "text/html", page(`<!-- charset=gb2312 -->`+longCSS(""), gbk), ""},
		{"meta claims gb2312, body is utf-8", "text/html", page(`<meta http-equiv="Content-Type" content="text/html; charset=gb2312">`, text), ""},
		{"gbk meta beyond the first KiB", "text/html", page(longCSS("")+`<meta charset="gbk">`, gbk), ""},
		{"meta names utf-16 on a gbk page", "text/html", page(`<meta charset="utf-16">`, gbk), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/robots.txt" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", tt.contentType)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			e := newEnv(t, t.TempDir(), Config{})
			src := noDelay(Source{Name: "cs", Kind: KindHTML, URL: srv.URL, Charset: tt.override})
			ctx := context.Background()
			p, err := e.crawler.fetch(ctx, e.crawler.newCollector(ctx), src, srv.URL+"/page.html", Validators{})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(htmlUTF8(p)); !strings.Contains(got, text) {
				t.Errorf("decoded page %q does not contain %q", got, text)
			}
		})
	}
}

// longCSS returns a style sheet of more than a KiB of ASCII that begins
// with first, the way sites inline their CSS before any text.
func longCSS(first string) string {
	return "<style>" + first + strings.Repeat(".nav li a { color: #333; padding: 0 4px; }\n", 30) + "</style>"
}

// TestBodyBound checks that a huge response is cut at MaxBodyBytes rather
// than read whole.
func TestBodyBound(t *testing.T) {
	big := "<html><body><p>" + strings.Repeat("洪水预警。", 20000) + "</p></body></html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(big))
	}))
	defer srv.Close()
	tests := []struct {
		limit, want int
	}{
		{4096, 4096},
		{len(big) + 1, len(big)},
	}
	for _, tt := range tests {
		e := newEnv(t, t.TempDir(), Config{MaxBodyBytes: tt.limit})
		ctx := context.Background()
		src := noDelay(Source{Name: "big", Kind: KindHTML, URL: srv.URL})
		p, err := e.crawler.fetch(ctx, e.crawler.newCollector(ctx), src, srv.URL+"/", Validators{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.body) != tt.want {
			t.Errorf("limit %d: body %d bytes, want %d", tt.limit, len(p.body), tt.want)
		}
	}
}

// FuzzHTMLUTF8 feeds arbitrary bodies, as any site may send, through the
// charset decision: it must not panic and must always hand the extractor
// valid UTF-8.
func FuzzHTMLUTF8(f *testing.F) {
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String("警惕电信诈骗")
	for _, seed := range []string{
		`<meta charset="gbk"><p>` + gbk,
		`<meta http-equiv="Content-Type" content="text/html; charset=gb2312">` + gbk,
		`<style>@charset "utf-8";</style><p>警惕`,
		`<meta charset="utf-16"><p>` + gbk,
		"\xef\xbb\xbf<p>警惕",
		`<meta content="text/html; charset=" http-equiv=content-type>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if out := htmlUTF8(&page{body: body}); !utf8.Valid(out) {
			t.Errorf("htmlUTF8(%q) = %q, not valid UTF-8", body, out)
		}
	})
}
