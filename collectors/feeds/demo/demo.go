// Package demo serves a small, realistic set of Chinese public-safety sites
// on loopback for `netpulse serve --demo`: a police news list with
// pagination, a GBK community forum, an RSS feed of prevention tips and an
// Atom feed of emergency alerts. Items appear over time from the moment the
// site starts, and a few minutes in a telecom-fraud warning goes viral on
// the forum (reposts plus people's own stories) so that trends have a
// burst to show. The timeline repeats every Cycle with new ids, so a demo
// left running keeps producing posts and a burst every half hour.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/netpulse/netpulse/collectors/feeds"
)

//go:embed fixtures/stories.json
var storiesJSON []byte

//go:embed fixtures/news_list.html
var newsListTmpl string

//go:embed fixtures/news_article.html
var newsArticleTmpl string

//go:embed fixtures/forum_list.html
var forumListTmpl string

//go:embed fixtures/forum_thread.html
var forumThreadTmpl string

//go:embed fixtures/rss.xml
var rssTmpl string

//go:embed fixtures/atom.xml
var atomTmpl string

// Cycle is the length of the demo timeline: its items (the backlog dated
// before the start excepted) and its burst come again every Cycle, as new
// posts with new ids.
const Cycle = 30 * time.Minute

// keptCycles bounds what the site lists: a day of cycles, newest first,
// which is more than any source's list depth reaches.
const keptCycles = 48

// Options configure the demo site.
type Options struct {
	// Now is the clock deciding which items are visible; default time.Now.
	Now func() time.Time
	// Speed compresses the timeline: 2 makes items appear twice as fast.
	// Default 1.
	Speed  float64
	Logger *slog.Logger
}

// Site is a running demo site.
type Site struct {
	// BaseURL is http://127.0.0.1:PORT.
	BaseURL string

	srv     *http.Server
	done    chan struct{}
	start   time.Time
	now     func() time.Time
	speed   float64
	items   []item // sorted by at
	tmpl    templates
	closeMu sync.Once
}

// item is one post on one of the demo sites.
type item struct {
	ID     string
	Site   string // news, forum, rss, atom
	Topic  string
	At     time.Duration // offset from start
	Title  string
	Author string
	Body   []string
}

type templates struct {
	newsList, newsArticle, forumList, forumThread *htmltemplate.Template
	rss, atom                                     *template.Template
}

// Start listens on a loopback port and serves until ctx ends or Close.
func Start(ctx context.Context, opts Options) (*Site, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	items, err := loadItems()
	if err != nil {
		return nil, err
	}
	t := templates{
		newsList:    htmltemplate.Must(htmltemplate.New("nl").Parse(newsListTmpl)),
		newsArticle: htmltemplate.Must(htmltemplate.New("na").Parse(newsArticleTmpl)),
		forumList:   htmltemplate.Must(htmltemplate.New("fl").Parse(forumListTmpl)),
		forumThread: htmltemplate.Must(htmltemplate.New("ft").Parse(forumThreadTmpl)),
		rss:         template.Must(template.New("rss").Parse(rssTmpl)),
		atom:        template.Must(template.New("atom").Parse(atomTmpl)),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo site listen: %w", err)
	}
	s := &Site{BaseURL: "http://" + ln.Addr().String(), done: make(chan struct{}), start: opts.Now(),
		now: opts.Now, speed: opts.Speed, items: items, tmpl: t}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("demo site stopped", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	opts.Logger.Info("demo feed sites serving", "url", s.BaseURL, "items", len(items))
	return s, nil
}

// Close stops the server.
func (s *Site) Close() error {
	var err error
	s.closeMu.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		<-s.done
	})
	return err
}

// Sources are the feed sources that crawl the demo site; register them
// (for example with Store.PutSources) and the scheduler picks them up.
func (s *Site) Sources() []feeds.Source {
	d := func(v time.Duration) feeds.Duration { return feeds.Duration(v) }
	return []feeds.Source{
		{Name: "demo-news", Title: "江城新闻网（演示）", Kind: feeds.KindHTML, URL: s.BaseURL + "/news/list_1.html", Enabled: true,
			Interval: d(20 * time.Second), Jitter: d(5 * time.Second), HostDelay: d(50 * time.Millisecond),
			MaxDepth: 3, MaxPages: 60,
			Selectors: feeds.Selectors{List: "ul.news-list a.title", Next: ".pager a.next", Title: "h1.article-title",
				Body: ".article-content", Author: ".author", Time: ".pubtime"}},
		{Name: "demo-forum", Title: "江岸论坛（演示）", Kind: feeds.KindHTML, URL: s.BaseURL + "/bbs/forum-1.html", Enabled: true,
			Interval: d(15 * time.Second), Jitter: d(5 * time.Second), HostDelay: d(50 * time.Millisecond),
			MaxDepth: 5, MaxPages: 120, Charset: "gbk",
			Selectors: feeds.Selectors{List: "#threadlist td.subject", Next: "a.nxt", Title: "#thread_subject",
				Body: "#postmessage", Author: ".pi a.xi2", Time: "#authorposton"}},
		{Name: "demo-rss", Title: "反诈提示 RSS（演示）", Kind: feeds.KindRSS, URL: s.BaseURL + "/feeds/tips.xml", Enabled: true,
			Interval: d(20 * time.Second), Jitter: d(5 * time.Second), HostDelay: d(50 * time.Millisecond)},
		{Name: "demo-atom", Title: "预警通报 Atom（演示）", Kind: feeds.KindAtom, URL: s.BaseURL + "/feeds/alerts.xml", Enabled: true,
			Interval: d(30 * time.Second), Jitter: d(5 * time.Second), HostDelay: d(50 * time.Millisecond)},
	}
}

type storiesFile struct {
	Stories []struct {
		ID, Site, Topic, Title, Author string
		At                             float64
		Body                           []string
	}
	Burst struct {
		Original string
		Start    float64
		Minutes  float64
		Reposts  [][3]string
		Personal [][2]string
		Shops    []string
		Items    []string
		Apps     []string
		Money    []string
		Cities   []string
	}
}

var handles = []string{"江岸小王", "后湖居民", "二七老张", "黄浦路阿姨", "汉口小李", "谌家矶", "百步亭业主", "球场街路人", "大智路", "解放公园晨跑", "三阳路", "永清街坊"}

// loadItems reads the fixture stories and generates the burst: copies of
// the original warning with repost titles, attribution lines and remarks,
// mixed with first-hand stories built from templates, spread evenly over
// the burst window. A fixed seed keeps the demo the same on every start.
func loadItems() ([]item, error) {
	var f storiesFile
	if err := json.Unmarshal(storiesJSON, &f); err != nil {
		return nil, fmt.Errorf("demo stories: %w", err)
	}
	var out []item
	var original *item
	for _, s := range f.Stories {
		it := item{ID: s.ID, Site: s.Site, Topic: s.Topic, At: minutes(s.At), Title: s.Title, Author: s.Author, Body: s.Body}
		out = append(out, it)
		if s.ID == f.Burst.Original {
			original = &out[len(out)-1]
		}
	}
	if original == nil {
		return nil, fmt.Errorf("demo stories: burst original %q not found", f.Burst.Original)
	}
	orig := *original
	b := f.Burst
	rng := rand.New(rand.NewPCG(20261128, 1))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	var burst []item
	for round := 0; round < 4; round++ {
		for _, r := range b.Reposts {
			body := []string{}
			if r[1] != "" {
				body = append(body, r[1])
			}
			body = append(body, orig.Body...)
			if r[2] != "" {
				body = append(body, r[2])
			}
			burst = append(burst, item{Site: "forum", Topic: orig.Topic, Title: r[0], Author: pick(handles) + strconv.Itoa(rng.IntN(900)+100), Body: body})
		}
	}
	for i := 0; i < 14; i++ {
		p := b.Personal[i%len(b.Personal)]
		fill := strings.NewReplacer("{shop}", pick(b.Shops), "{item}", pick(b.Items), "{app}", pick(b.Apps), "{money}", pick(b.Money), "{city}", pick(b.Cities))
		burst = append(burst, item{Site: "forum", Topic: orig.Topic, Title: fill.Replace(p[0]), Author: pick(handles) + strconv.Itoa(rng.IntN(900)+100), Body: []string{fill.Replace(p[1])}})
	}
	rng.Shuffle(len(burst), func(i, j int) { burst[i], burst[j] = burst[j], burst[i] })
	step := b.Minutes / float64(len(burst))
	for i := range burst {
		burst[i].ID = fmt.Sprintf("b%02d", i+1)
		burst[i].At = minutes(b.Start + float64(i)*step)
	}
	out = append(out, burst...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

func minutes(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }

// visible returns the items of one site published by now, newest first:
// the first run of the timeline, then its repeats, item ids suffixed with
// the cycle number (n06, n06c1, n06c2, ...).
func (s *Site) visible(site string) ([]item, time.Time) {
	now := s.now()
	elapsed := time.Duration(float64(now.Sub(s.start)) * s.speed)
	last := 0
	if elapsed > 0 {
		last = int(elapsed / Cycle)
	}
	var out []item
	for c := max(0, last-keptCycles+1); c <= last; c++ {
		for _, it := range s.items {
			if it.Site != site || (c > 0 && it.At < 0) {
				continue
			}
			if c > 0 {
				it.At += time.Duration(c) * Cycle
				it.ID = it.ID + "c" + strconv.Itoa(c)
			}
			if it.At <= elapsed {
				out = append(out, it)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At > out[j].At })
	return out, now
}

// published maps an item's timeline offset to wall time.
func (s *Site) published(it item) time.Time {
	return s.start.Add(time.Duration(float64(it.At) / s.speed)).Truncate(time.Minute)
}

var cst = time.FixedZone("CST", 8*3600)

// forumDate prints times the way Discuz boards do: relative when recent.
func forumDate(t, now time.Time) string {
	d := now.Sub(t)
	t, now = t.In(cst), now.In(cst)
	switch {
	case d < time.Minute:
		return "刚刚"
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟前", int(d.Minutes()))
	case d < 6*time.Hour:
		return fmt.Sprintf("%d 小时前", int(d.Hours()))
	case t.YearDay() == now.YearDay():
		return "今天 " + t.Format("15:04")
	case t.YearDay() == now.AddDate(0, 0, -1).YearDay():
		return "昨天 " + t.Format("15:04")
	}
	return t.Format("2006-1-2 15:04")
}

func (s *Site) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /robots.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "User-agent: *\nDisallow: /admin/\nDisallow: /bbs/space.html\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.write(w, r, "text/html; charset=utf-8", []byte(`<html><head><meta charset="utf-8"><title>江岸演示站点</title></head><body><ul>`+
			`<li><a href="/news/list_1.html">警情通报</a></li><li><a href="/bbs/forum-1.html">江岸社区论坛</a></li>`+
			`<li><a href="/feeds/tips.xml">防范提示 RSS</a></li><li><a href="/feeds/alerts.xml">预警信息 Atom</a></li></ul></body></html>`))
	})
	mux.HandleFunc("GET /news/{page}", s.news)
	mux.HandleFunc("GET /bbs/{page}", s.forum)
	mux.HandleFunc("GET /feeds/tips.xml", s.rss)
	mux.HandleFunc("GET /feeds/alerts.xml", s.atom)
	return mux
}

// write answers with an ETag so that the crawler's conditional requests
// get 304 while nothing new has appeared.
func (s *Site) write(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(body)
}

type listView struct {
	Page, Next int
	Items      []listItem
}

type listItem struct{ ID, Title, Author, Date string }

func paginate(items []item, page, per int) ([]item, int) {
	from := (page - 1) * per
	if from >= len(items) || page < 1 {
		return nil, 0
	}
	to := min(from+per, len(items))
	next := 0
	if to < len(items) {
		next = page + 1
	}
	return items[from:to], next
}

func (s *Site) news(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("page")
	items, _ := s.visible("news")
	if p, ok := strings.CutPrefix(name, "list_"); ok {
		n, _ := strconv.Atoi(strings.TrimSuffix(p, ".html"))
		page, next := paginate(items, n, 8)
		if page == nil && n != 1 {
			http.NotFound(w, r)
			return
		}
		v := listView{Page: n, Next: next}
		for _, it := range page {
			v.Items = append(v.Items, listItem{ID: it.ID, Title: it.Title, Date: s.published(it).In(cst).Format("01-02")})
		}
		var b bytes.Buffer
		if err := s.tmpl.newsList.Execute(&b, v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.write(w, r, "text/html; charset=utf-8", b.Bytes())
		return
	}
	id := strings.TrimSuffix(name, ".html")
	for _, it := range items {
		if it.ID == id {
			var b bytes.Buffer
			err := s.tmpl.newsArticle.Execute(&b, map[string]any{"Title": it.Title, "Author": it.Author,
				"Date": s.published(it).In(cst).Format("2006年01月02日 15:04"), "Body": it.Body})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			s.write(w, r, "text/html; charset=utf-8", b.Bytes())
			return
		}
	}
	http.NotFound(w, r)
}

// forum serves GBK pages that declare their charset only in <meta>, like
// the old boards they imitate.
func (s *Site) forum(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("page")
	items, now := s.visible("forum")
	var b bytes.Buffer
	switch {
	case strings.HasPrefix(name, "forum-"):
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "forum-"), ".html"))
		page, next := paginate(items, n, 15)
		if page == nil && n != 1 {
			http.NotFound(w, r)
			return
		}
		v := listView{Page: n, Next: next}
		for _, it := range page {
			v.Items = append(v.Items, listItem{ID: it.ID, Title: it.Title, Author: it.Author, Date: forumDate(s.published(it), now)})
		}
		if err := s.tmpl.forumList.Execute(&b, v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	case strings.HasPrefix(name, "thread-"):
		id, _, _ := strings.Cut(strings.TrimPrefix(name, "thread-"), "-")
		found := false
		for _, it := range items {
			if it.ID == id {
				found = true
				err := s.tmpl.forumThread.Execute(&b, map[string]any{"Title": it.Title, "Author": it.Author,
					"Date": forumDate(s.published(it), now), "Body": it.Body})
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
		}
		if !found {
			http.NotFound(w, r)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		http.Error(w, "encode gbk: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.write(w, r, "text/html", gbk)
}

type feedItem struct{ ID, Title, Author, Date, HTML string }

func (s *Site) feedItems(site string, layout string) []feedItem {
	items, _ := s.visible(site)
	if len(items) > 20 {
		items = items[:20]
	}
	out := make([]feedItem, len(items))
	for i, it := range items {
		var p strings.Builder
		for _, para := range it.Body {
			p.WriteString("<p>" + html.EscapeString(para) + "</p>")
		}
		out[i] = feedItem{ID: it.ID, Title: html.EscapeString(it.Title), Author: html.EscapeString(it.Author),
			Date: s.published(it).In(cst).Format(layout), HTML: html.EscapeString(p.String())}
	}
	return out
}

func (s *Site) rss(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := s.tmpl.rss.Execute(&b, map[string]any{"Base": s.BaseURL, "Items": s.feedItems("rss", time.RFC1123Z)}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.write(w, r, "application/rss+xml; charset=utf-8", b.Bytes())
}

func (s *Site) atom(w http.ResponseWriter, r *http.Request) {
	items := s.feedItems("atom", time.RFC3339)
	updated := s.start.In(cst).Format(time.RFC3339)
	if len(items) > 0 {
		updated = items[0].Date
	}
	var b bytes.Buffer
	if err := s.tmpl.atom.Execute(&b, map[string]any{"Base": s.BaseURL, "Updated": updated, "Items": items}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.write(w, r, "application/atom+xml; charset=utf-8", b.Bytes())
}
