package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screens are the window sizes the duty room has: a 1366×768 laptop and
// a 1920×1080 wall screen.
var screens = []struct {
	name string
	w, h int64
}{{"1366x768", 1366, 768}, {"1920x1080", 1920, 1080}}

// deepLinks are pages reached by a link rather than the nav, with what
// they must show; every nav page of every role is checked anyway.
var deepLinks = map[string][]struct{ path, wait string }{
	"analyst": {{"/search?q=" + url.QueryEscape("诈骗"), "#post-results .hit, #post-results .notice"}},
}

// pageStates are states of a page reached by acting on it (its name, what
// to do, what to wait for), checked like pages.
var pageStates = map[string][]struct {
	name, path string
	act        []chromedp.Action[chromedp.Void]
	wait       string
}{
	"analyst": {{"search-records", "/search", []chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.CSS(`.tab[data-tab=records]`)),
		chromedp.SendKeys(chromedp.CSS(`#tab-records input[name=case_ref]`), "PAGES-1"),
		chromedp.SendKeys(chromedp.CSS(`#tab-records input[name=venue]`), "JA-C01"),
		chromedp.Click(chromedp.CSS(`#tab-records button[type=submit]`)),
	}, "#record-results td.mono, #record-results .notice"}},
}

// allowedLatin are the Latin words a Chinese page may show: product and
// format names, and the link to the English catalogue. Identifiers (codes,
// handles, field names) are not words: they sit in code, kbd, samp or an
// element marked translate="no", or contain digits, dots or dashes.
var allowedLatin = []string{"netpulse", "English", "CSV", "NDJSON", "JSON", "PDF", "API", "ID", "IP", "MAC", "SLA",
	"RSS", "Atom", "HTML", "URL", "UTC", "CST", "ECharts", "htmx"}

// pageProblems runs in the page and lists what a reader would trip over:
// a sideways scrollbar, a control cut off at the right, a Latin word on a
// Chinese page, and an empty chart without a "no data" label.
const pageProblems = `((allowed) => {
  const out = [];
  const de = document.documentElement;
  const vw = de.clientWidth;
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.classList.length ? "." + [...el.classList].join(".") : "") +
    (el.textContent.trim() ? " «" + el.textContent.trim().slice(0, 24) + "»" : "");
  const shown = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) &&
    getComputedStyle(el).visibility !== "hidden" && !el.closest("[hidden], .hidden, details:not([open]) > :not(summary)");

  if (de.scrollWidth > vw + 1) out.push("the page scrolls sideways: " + de.scrollWidth + " px of content in a " + vw + " px window");
  for (const el of document.body.querySelectorAll("*")) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === "auto" || ox === "scroll") && el.clientHeight > 0 && el.scrollWidth > el.clientWidth + 1 && shown(el))
      out.push(describe(el) + " scrolls sideways: " + el.scrollWidth + " px in " + el.clientWidth + " px");
  }
  // A control beyond the window or clipped by a box it overflows.
  for (const el of document.querySelectorAll("main button, main a, main input, main select, header a, header button")) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > vw + 1) { out.push(describe(el) + " ends at " + Math.round(r.right) + " px, beyond the " + vw + " px window"); continue; }
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX === "visible") continue;
      const pr = p.getBoundingClientRect();
      if (r.right > pr.right + 1) { out.push(describe(el) + " is cut off by " + describe(p).slice(0, 40)); break; }
    }
  }

  if (de.lang.startsWith("zh")) {
    const skip = "script, style, code, kbd, samp, pre, [translate=no], .mono";
    const word = /(?<![\w.@:/\\-])[A-Za-z]{2,}(?![\w.@:/\\-])/g;
    const seen = new Set();
    const check = (text, where) => {
      for (const m of text.matchAll(word)) {
        if (allowed.includes(m[0]) || seen.has(m[0])) continue;
        seen.add(m[0]);
        out.push("English word «" + m[0] + "» in " + where + ": «" + text.trim().slice(0, 60) + "»");
      }
    };
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest(skip) || !shown(el.tagName === "OPTION" ? el.parentElement : el)) continue;
      check(n.textContent, describe(el).split(" ")[0]);
    }
    for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
      if (shown(el) && !el.closest(skip)) check(el.placeholder, describe(el) + " placeholder");
    }
    for (const el of document.querySelectorAll("[title], [aria-label]")) {
      if (shown(el) && !el.closest(skip)) check((el.title || "") + " " + (el.getAttribute("aria-label") || ""), describe(el).split(" ")[0] + " title");
    }
  }

  // Charts: an ECharts chart whose series hold no non-zero value must say so.
  if (window.echarts) {
    for (const el of document.querySelectorAll("[_echarts_instance_]")) {
      if (!shown(el)) continue;
      const chart = echarts.getInstanceByDom(el);
      if (!chart) { out.push("the chart " + describe(el) + " belongs to another copy of ECharts and cannot be checked"); continue; }
      const opt = chart.getOption();
      const value = d => {
        if (d === null || d === undefined) return 0;
        if (Array.isArray(d)) return Number(d[d.length - 1]) || 0;
        if (typeof d === "object") return value(d.value);
        return Number(d) || 0;
      };
      const filled = (opt.series || []).some(s => (s.data || []).some(d => value(d) !== 0));
      if (filled) continue;
      const labels = JSON.stringify(opt.title || []) + JSON.stringify(opt.graphic || []) + " " + el.innerText + " " +
        (el.parentElement ? el.parentElement.innerText : "");
      if (!/暂无数据|No data/.test(labels)) out.push("the empty chart " + describe(el) + " has no 'no data' label");
    }
  }
  return out;
})`

// TestEveryPageAtBothSizes opens every page each role's nav offers (and
// the deep links), at both screen sizes, in a zh-CN browser, screenshots
// it, and fails on any problem pageProblems finds or any console error.
// New pages are covered as soon as the nav links them.
func TestEveryPageAtBothSizes(t *testing.T) {
	waitForDemoData(t)
	allow := "["
	for i, w := range allowedLatin {
		if i > 0 {
			allow += ","
		}
		allow += fmt.Sprintf("%q", w)
	}
	allow += "]"
	for _, role := range []string{"analyst", "duty", "operator", "admin", "auditor", "leader"} {
		t.Run(role, func(t *testing.T) {
			ctx, con := newTab(t)
			login(t, ctx, role)
			links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("nav.mainnav a")].map(a => a.getAttribute("href"))`))
			if err != nil {
				t.Fatal(err)
			}
			if len(links) == 0 {
				t.Fatalf("%s has no pages in the nav", role)
			}
			type page struct{ path, wait string }
			var pages []page
			for _, l := range links {
				pages = append(pages, page{l, "main"})
			}
			for _, d := range deepLinks[role] {
				pages = append(pages, page(d))
			}
			type state struct {
				name, path string
				act        []chromedp.Action[chromedp.Void]
				wait       string
			}
			var states []state
			for _, st := range pageStates[role] {
				states = append(states, state(st))
			}
			for _, sc := range screens {
				if err := chromedp.Do(ctx, chromedp.EmulateViewport(sc.w, sc.h)); err != nil {
					t.Fatal(err)
				}
				for _, p := range pages {
					// One page gets 30 s; a page that never shows what it
					// should fails alone instead of taking the tab's time.
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err := chromedp.Do(pctx, chromedp.Navigate(baseURL+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
					cancel()
					if err == nil {
						err = settle(ctx)
					}
					if err == nil {
						err = chartsDrawn(ctx)
					}
					if err != nil {
						t.Errorf("%s at %s: %v", p.path, sc.name, err)
						continue
					}
					lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
					if lang != "zh-CN" {
						t.Errorf("%s: <html lang=%q>, want zh-CN", p.path, lang)
					}
					problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](pageProblems+"("+allow+")"))
					if err != nil {
						t.Fatalf("%s: check the page: %v", p.path, err)
					}
					for _, pr := range problems {
						t.Errorf("%s as %s at %s: %s", p.path, role, sc.name, pr)
					}
					for _, e := range con.take() {
						t.Errorf("%s as %s at %s: console: %s", p.path, role, sc.name, e)
					}
					shot(t, ctx, fmt.Sprintf("%s/%s-%s", sc.name, role, pageName(p.path)))
				}
				for _, st := range states {
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err := chromedp.Do(pctx, chromedp.Navigate(baseURL+st.path), chromedp.WaitVisible(chromedp.CSS("main")))
					if err == nil {
						err = chromedp.Do(pctx, st.act...)
					}
					if err == nil {
						err = chromedp.Do(pctx, chromedp.WaitVisible(chromedp.CSS(st.wait)))
					}
					cancel()
					if err == nil {
						err = settle(ctx)
					}
					if err != nil {
						t.Errorf("%s at %s: %v", st.name, sc.name, err)
						continue
					}
					problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](pageProblems+"("+allow+")"))
					if err != nil {
						t.Fatalf("%s: check the page: %v", st.name, err)
					}
					for _, pr := range problems {
						t.Errorf("%s as %s at %s: %s", st.name, role, sc.name, pr)
					}
					for _, e := range con.take() {
						t.Errorf("%s as %s at %s: console: %s", st.name, role, sc.name, e)
					}
					shot(t, ctx, fmt.Sprintf("%s/%s-%s", sc.name, role, st.name))
				}
			}
		})
	}
}

// pageName turns a path into a file name: /search?q=诈骗 → search-q.
func pageName(p string) string {
	path, query, _ := strings.Cut(p, "?")
	name := strings.Trim(strings.ReplaceAll(path, "/", "-"), "-")
	if name == "" {
		name = "home"
	}
	if query != "" {
		k, _, _ := strings.Cut(query, "=")
		name += "-" + k
	}
	return name
}

// chartsDrawn waits until every chart placeholder has its ECharts
// instance, so that the check sees charts as a reader would.
func chartsDrawn(ctx context.Context) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll("[data-chart]")].every(el => el.hasAttribute("_echarts_instance_"))`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		return fmt.Errorf("charts not drawn: %w", err)
	}
	return chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond))
}

// waitForDemoData gives the demo a moment to stream posts, so that the
// pages are seen with data as well as without (the leader's report of a
// fresh week is mostly empty, which is its own check).
func waitForDemoData(t *testing.T) {
	c := httpSession(t, "analyst")
	for _, path := range []string{"/api/v1/search/posts?q=" + url.QueryEscape("诈骗"), "/api/v1/records?venue=JA-C01&page_size=1"} {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			req, _ := http.NewRequest(http.MethodGet, baseURL+path, nil)
			req.Header.Set("X-Case-Ref", "PAGES-1")
			resp, err := c.Do(req)
			if err == nil {
				var b [256]byte
				n, _ := resp.Body.Read(b[:])
				resp.Body.Close()
				if resp.StatusCode == 200 && !strings.Contains(string(b[:n]), `"total":0`) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Logf("%s found nothing within 2 minutes; the pages are checked as they are", path)
				break
			}
			time.Sleep(2 * time.Second)
		}
	}
}
