// Command compare measures netpulse serve side by side with the Lucene peer
// (deploy/lucene/peer) on one real corpus, on this machine, in one run
// (issue 18): posts/s until searchable, CPU seconds, index size on disk,
// serve's RSS before the first post, p50/p99 per query class with facets and
// highlighting, and P@10 and recall on the judged query set. It prints a
// table netpulse | Lucene | ratio and writes the figures as JSON.
//
// Run it through deploy/lucene/compare.sh, which builds both engines.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
)

type options struct {
	bin, corpus, queries, judged, peerDir, java, work, out, toJudge, reuse string
	limit, reps, rounds, days, batch, clients                              int
}

// Post is one corpus line.
type Post struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	Source    string `json:"source"`
	Published string `json:"published"`
}

// Query is one entry of the query set. Days, if set, restricts to days
// [Days[0], Days[1]] of the window (0 is its first day).
type Query struct {
	Q      string `json:"q"`
	Class  string `json:"class"`
	Source string `json:"source,omitempty"`
	Days   []int  `json:"days,omitempty"`
	Note   string `json:"note,omitempty"`
	// Filled in by the driver for both engines.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Answer is one engine's answer to one query.
type Answer struct {
	Q       string     `json:"q"`
	Class   string     `json:"class"`
	Total   int        `json:"total"`
	Top     []string   `json:"top"`
	Frags   [][]string `json:"fragments"`
	LatMS   []float64  `json:"lat_ms"`
	Matches []string   `json:"matches,omitempty"`
}

// Engine is one engine's figures of one round.
type Engine struct {
	Name       string   `json:"name"`
	Posts      int      `json:"posts"`
	PostsPerS  float64  `json:"posts_per_s"`
	CPUSeconds float64  `json:"cpu_seconds"`
	IndexBytes int64    `json:"index_bytes"`
	RSSBefore  int64    `json:"rss_before_first_post_bytes,omitempty"`
	Answers    []Answer `json:"answers"`
}

func main() {
	var o options
	flag.StringVar(&o.bin, "netpulse-bin", "", "netpulse binary (compare.sh builds one)")
	flag.StringVar(&o.corpus, "corpus", "/work/corpus/posts.jsonl", "corpus: JSON lines {id,title,body,source,published}")
	flag.StringVar(&o.queries, "queries", "deploy/lucene/judged/queries.json", "query set")
	flag.StringVar(&o.judged, "judged", "deploy/lucene/judged/judgements.json", "judgements: query → post id → relevant")
	flag.StringVar(&o.peerDir, "peer", "deploy/lucene/peer", "built Lucene peer (target/classes, target/lib)")
	flag.StringVar(&o.java, "java", "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java", "java 21 or later")
	flag.StringVar(&o.work, "work", "", "scratch folder (default: a new temporary one, removed after)")
	flag.StringVar(&o.out, "out", "lucene-compare.json", "JSON result file")
	flag.StringVar(&o.toJudge, "to-judge", "", "optional file: top-10 hits not yet judged, with their text, for reading")
	flag.StringVar(&o.reuse, "reuse", "", "a result JSON of an earlier run: print its figures again with the current judgements (no engine runs)")
	flag.IntVar(&o.limit, "limit", 100000, "posts taken from the corpus (its first N lines); 0 takes all")
	flag.IntVar(&o.reps, "reps", 20, "timed repetitions of each query per engine")
	flag.IntVar(&o.rounds, "rounds", 1, "rounds (fresh index each); the best of rounds is reported")
	flag.IntVar(&o.days, "days", 60, "posts' times are mapped, in order, onto this many days ending yesterday (China time), inside serve's retention")
	flag.IntVar(&o.batch, "batch", 1000, "posts per intake request")
	flag.IntVar(&o.clients, "clients", 2, "concurrent intake clients")
	flag.Parse()
	if o.bin == "" && o.reuse == "" {
		log.Fatal("--netpulse-bin is required (deploy/lucene/compare.sh builds one)")
	}
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, o options) error {
	if o.work == "" {
		d, err := os.MkdirTemp("", "lucene-compare-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.work = d
	} else if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	posts, err := loadCorpus(o.corpus, o.limit)
	if err != nil {
		return err
	}
	start, err := remapTimes(posts, o.days)
	if err != nil {
		return err
	}
	corpusFile := filepath.Join(o.work, "corpus.jsonl")
	if err := writeLines(corpusFile, posts); err != nil {
		return err
	}
	var queries []Query
	if err := readJSON(o.queries, &queries); err != nil {
		return err
	}
	for i := range queries {
		q := &queries[i]
		if len(q.Days) == 2 {
			q.From = start.AddDate(0, 0, q.Days[0]).Format(time.RFC3339)
			q.To = start.AddDate(0, 0, q.Days[1]+1).Add(-time.Second).Format(time.RFC3339)
		}
	}
	queriesFile := filepath.Join(o.work, "queries.json")
	if err := writeJSON(queriesFile, queries); err != nil {
		return err
	}
	judged := map[string]map[string]bool{}
	if err := readJSON(o.judged, &judged); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	log.Printf("corpus: %d posts from %s; times mapped onto %d days from %s", len(posts), o.corpus, o.days, start.Format(time.DateOnly))

	load0 := loadAvg()
	var nps, lus []Engine
	if o.reuse != "" {
		var prev struct {
			Rounds int      `json:"rounds"`
			NP     []Engine `json:"netpulse_rounds"`
			LU     []Engine `json:"lucene_rounds"`
		}
		if err := readJSON(o.reuse, &prev); err != nil {
			return err
		}
		nps, lus, o.rounds = prev.NP, prev.LU, prev.Rounds
	}
	for r := 1; r <= o.rounds && o.reuse == ""; r++ {
		log.Printf("round %d: netpulse serve", r)
		np, err := runNetpulse(ctx, o, posts, queries, r == o.rounds)
		if err != nil {
			return fmt.Errorf("round %d: netpulse: %w", r, err)
		}
		nps = append(nps, np)
		log.Printf("round %d: lucene", r)
		lu, err := runLucene(ctx, o, corpusFile, queriesFile)
		if err != nil {
			return fmt.Errorf("round %d: lucene: %w", r, err)
		}
		lus = append(lus, lu)
	}
	load1 := loadAvg()
	np, lu := best(nps), best(lus)
	rel := relevance(posts, queries, judged, nps[len(nps)-1], lus[len(lus)-1])
	if o.reuse == "" {
		fmt.Printf("\nload average (1 min) before: %s, after: %s (the machine is shared; figures under load are noisy)\n", load0, load1)
	}
	printTable(os.Stdout, o, len(posts), np, lu, bestLat(nps), bestLat(lus), rel)
	if o.toJudge != "" {
		if err := writeToJudge(o.toJudge, posts, queries, judged, nps[len(nps)-1], lus[len(lus)-1]); err != nil {
			return err
		}
	}
	return writeJSON(o.out, map[string]any{
		"corpus": o.corpus, "posts": len(posts), "load_before": load0, "load_after": load1, "days": o.days, "rounds": o.rounds, "reps": o.reps,
		"netpulse": summary(np, bestLat(nps)), "lucene": summary(lu, bestLat(lus)), "relevance": rel,
		"netpulse_rounds": nps, "lucene_rounds": lus,
	})
}

func loadCorpus(path string, limit int) ([]Post, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Post
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() && (limit <= 0 || len(out) < limit) {
		var p Post
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// remapTimes maps the posts' times, keeping their order and relative
// spacing, onto days whole days ending yesterday (China time). The real
// corpus spans years; serve keeps posts for 90 days and indexes one shard
// per day, so times outside its retention would be dropped.
func remapTimes(posts []Post, days int) (time.Time, error) {
	cst := time.FixedZone("CST", 8*3600)
	ts := make([]time.Time, len(posts))
	var lo, hi time.Time
	for i, p := range posts {
		t, err := time.Parse(time.RFC3339, p.Published)
		if err != nil {
			return time.Time{}, fmt.Errorf("post %s: published: %w", p.ID, err)
		}
		ts[i] = t
		if i == 0 || t.Before(lo) {
			lo = t
		}
		if i == 0 || t.After(hi) {
			hi = t
		}
	}
	y, m, d := time.Now().In(cst).Date()
	end := time.Date(y, m, d, 0, 0, 0, 0, cst).Add(-time.Second)
	start := time.Date(y, m, d, 0, 0, 0, 0, cst).AddDate(0, 0, -days)
	span := hi.Sub(lo).Seconds()
	window := end.Sub(start).Seconds()
	for i := range posts {
		frac := 1.0
		if span > 0 {
			frac = ts[i].Sub(lo).Seconds() / span
		}
		posts[i].Published = start.Add(time.Duration(frac * window * float64(time.Second))).Truncate(time.Second).Format(time.RFC3339)
	}
	return start, nil
}

// --- netpulse serve ---

func runNetpulse(ctx context.Context, o options, posts []Post, queries []Query, withMatches bool) (Engine, error) {
	e := Engine{Name: "netpulse serve (HTTP)", Posts: len(posts)}
	data := filepath.Join(o.work, "netpulse-data")
	os.RemoveAll(data)
	add := exec.CommandContext(ctx, o.bin, "admin", "user", "add", "--data", data, "--name", "bench", "--role", "admin", "--password", "bench-password-18")
	outb, err := add.CombinedOutput()
	if err != nil {
		return e, fmt.Errorf("admin user add: %v: %s", err, outb)
	}
	lines := strings.Fields(strings.TrimSpace(string(outb)))
	token := lines[len(lines)-1]
	port, err := freePort()
	if err != nil {
		return e, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(o.work, "serve.log"))
	if err != nil {
		return e, err
	}
	defer logf.Close()
	cmd := exec.Command(o.bin, "serve", "--data", data, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return e, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	pid := cmd.Process.Pid
	c := &client{base: base, token: token, http: &http.Client{Timeout: 60 * time.Second}}
	if err := c.waitReady(ctx, 120*time.Second); err != nil {
		return e, err
	}
	time.Sleep(2 * time.Second) // let start-up settle before reading RSS
	e.RSSBefore = rss(pid)

	cpu0 := cpuTicks(pid)
	t0 := time.Now()
	if err := c.postAll(ctx, posts, o.batch, o.clients); err != nil {
		return e, err
	}
	for {
		n, err := c.total(ctx, url.Values{"q": {""}, "size": {"1"}, "facets": {"0"}, "collapse": {"0"}})
		if err != nil {
			return e, err
		}
		if n >= len(posts) {
			break
		}
		if time.Since(t0) > 30*time.Minute {
			return e, fmt.Errorf("only %d of %d posts searchable after 30 minutes", n, len(posts))
		}
		time.Sleep(100 * time.Millisecond)
	}
	el := time.Since(t0)
	e.CPUSeconds = float64(cpuTicks(pid)-cpu0) / 100
	e.PostsPerS = float64(len(posts)) / el.Seconds()
	e.IndexBytes = indexBytes(data)
	log.Printf("netpulse: %d posts searchable in %.1f s", len(posts), el.Seconds())

	for _, q := range queries {
		v := c.params(q)
		if _, err := c.search(ctx, v); err != nil { // warm-up
			return e, fmt.Errorf("query %q: %w", q.Q, err)
		}
		a := Answer{Q: q.Q, Class: q.Class}
		for i := 0; i < o.reps; i++ {
			s := time.Now()
			res, err := c.search(ctx, v)
			if err != nil {
				return e, fmt.Errorf("query %q: %w", q.Q, err)
			}
			a.LatMS = append(a.LatMS, float64(time.Since(s).Microseconds())/1000)
			if i == 0 {
				a.Total = res.Total
				for _, h := range res.Hits {
					a.Top = append(a.Top, h.ID)
					a.Frags = append(a.Frags, h.Fragments)
				}
			}
		}
		if withMatches {
			if a.Matches, err = c.allMatches(ctx, q); err != nil {
				return e, fmt.Errorf("query %q: matches: %w", q.Q, err)
			}
		}
		e.Answers = append(e.Answers, a)
	}
	return e, nil
}

type client struct {
	base, token string
	http        *http.Client
}

type searchResult struct {
	Total int `json:"total"`
	Hits  []struct {
		ID        string   `json:"id"`
		Fragments []string `json:"fragments"`
	} `json:"hits"`
}

func (c *client) waitReady(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		resp, err := c.http.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("serve not ready after %v", max)
}

func (c *client) do(ctx context.Context, method, path string, body []byte, out any) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 100 {
			time.Sleep(time.Second)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		return json.Unmarshal(b, out)
	}
}

func (c *client) postAll(ctx context.Context, posts []Post, batch, clients int) error {
	batches := make(chan []Post)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				for _, p := range b {
					enc.Encode(map[string]string{"id": p.ID, "source": p.Source, "title": p.Title, "body": p.Body,
						"published_at": p.Published, "lang": "zh"})
				}
				var res struct {
					Accepted int               `json:"accepted"`
					Rejected []json.RawMessage `json:"rejected"`
				}
				if err := c.do(ctx, http.MethodPost, "/api/v1/intake/posts", buf.Bytes(), &res); err != nil {
					errs <- err
					return
				}
				if res.Accepted != len(b) {
					errs <- fmt.Errorf("intake accepted %d of %d: %s", res.Accepted, len(b), res.Rejected)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < len(posts); i += batch {
		select {
		case batches <- posts[i:min(i+batch, len(posts))]:
		case err = <-errs:
			break feed
		}
	}
	close(batches)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errs:
	default:
	}
	return err
}

// params turns a query into serve's parameters: 10 hits, every match
// counted and shown (no near-duplicate folding, as Lucene does none), facets
// by source and day, fragments as the API gives them.
func (c *client) params(q Query) url.Values {
	text := q.Q
	if q.Source != "" {
		text += " source:" + q.Source
	}
	v := url.Values{"q": {text}, "size": {"10"}, "collapse": {"0"}, "facets": {"1"}}
	if q.From != "" {
		v.Set("from", q.From)
		v.Set("to", q.To)
	}
	return v
}

func (c *client) search(ctx context.Context, v url.Values) (searchResult, error) {
	var res searchResult
	err := c.do(ctx, http.MethodGet, "/api/v1/search/posts?"+v.Encode(), nil, &res)
	return res, err
}

func (c *client) total(ctx context.Context, v url.Values) (int, error) {
	res, err := c.search(ctx, v)
	return res.Total, err
}

// allMatches pages through every match; serve answers at most 10,000 deep,
// so a larger answer is split by time.
func (c *client) allMatches(ctx context.Context, q Query) ([]string, error) {
	from, to := time.Now().AddDate(-1, 0, 0), time.Now()
	if q.From != "" {
		from, _ = time.Parse(time.RFC3339, q.From)
		to, _ = time.Parse(time.RFC3339, q.To)
	}
	var ids []string
	var walk func(from, to time.Time) error
	walk = func(from, to time.Time) error {
		v := c.params(q)
		v.Set("from", from.Format(time.RFC3339Nano))
		v.Set("to", to.Format(time.RFC3339Nano))
		v.Set("size", "100")
		v.Set("facets", "0")
		res, err := c.search(ctx, v)
		if err != nil {
			return err
		}
		if res.Total > 10000 && to.Sub(from) > time.Second {
			mid := from.Add(to.Sub(from) / 2)
			if err := walk(from, mid); err != nil {
				return err
			}
			return walk(mid.Add(time.Nanosecond), to)
		}
		for page := 1; (page-1)*100 < res.Total; page++ {
			if page > 1 {
				v.Set("page", strconv.Itoa(page))
				if res, err = c.search(ctx, v); err != nil {
					return err
				}
			}
			for _, h := range res.Hits {
				ids = append(ids, h.ID)
			}
		}
		return nil
	}
	return ids, walk(from, to)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cpuTicks is utime+stime of pid in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

// indexBytes sums the files of the post search index under serve's data
// folder: every folder that holds a Bleve index_meta.json.
func indexBytes(data string) int64 {
	var roots []string
	filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "index_meta.json" {
			roots = append(roots, filepath.Dir(p))
		}
		return nil
	})
	var n int64
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n
}

// --- Lucene ---

func runLucene(ctx context.Context, o options, corpusFile, queriesFile string) (Engine, error) {
	e := Engine{Name: "Lucene, 1 thread"}
	out := filepath.Join(o.work, "lucene.json")
	cp := filepath.Join(o.peerDir, "target", "classes") + ":" + filepath.Join(o.peerDir, "target", "lib", "*")
	cmd := exec.CommandContext(ctx, o.java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
		"-cp", cp, "netpulse.lucene.Peer", "--corpus", corpusFile, "--queries", queriesFile,
		"--index", filepath.Join(o.work, "lucene-index"), "--out", out, "--reps", strconv.Itoa(o.reps))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return e, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var r struct {
		Engine     string  `json:"engine"`
		Posts      int     `json:"posts"`
		PostsPerS  float64 `json:"posts_per_s"`
		CPUSeconds float64 `json:"cpu_seconds"`
		IndexBytes int64   `json:"index_bytes"`
		Queries    []struct {
			Q     string    `json:"q"`
			Class string    `json:"class"`
			Total int       `json:"total"`
			LatMS []float64 `json:"lat_ms"`
			Hits  []struct {
				ID        string   `json:"id"`
				Fragments []string `json:"fragments"`
			} `json:"hits"`
			Matches []string `json:"matches"`
		} `json:"queries"`
	}
	if err := readJSON(out, &r); err != nil {
		return e, err
	}
	e.Name = r.Engine
	e.Posts, e.PostsPerS, e.CPUSeconds, e.IndexBytes = r.Posts, r.PostsPerS, r.CPUSeconds, r.IndexBytes
	for _, q := range r.Queries {
		a := Answer{Q: q.Q, Class: q.Class, Total: q.Total, LatMS: q.LatMS, Matches: q.Matches}
		for _, h := range q.Hits {
			a.Top = append(a.Top, h.ID)
			a.Frags = append(a.Frags, h.Fragments)
		}
		e.Answers = append(e.Answers, a)
	}
	log.Printf("lucene: %d posts searchable in %.1f s", r.Posts, float64(r.Posts)/r.PostsPerS)
	return e, nil
}

// --- figures ---

var classes = []string{"term", "rare", "and", "phrase", "faceted"}

type classLat struct{ P50, P99 float64 }

func latencies(e Engine) map[string]classLat {
	by := map[string][]float64{}
	for _, a := range e.Answers {
		by[a.Class] = append(by[a.Class], a.LatMS...)
	}
	out := map[string]classLat{}
	for c, l := range by {
		sort.Float64s(l)
		out[c] = classLat{pct(l, 0.50), pct(l, 0.99)}
	}
	return out
}

func pct(s []float64, p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// best takes, over rounds, the best of each figure (as the table).
func best(rounds []Engine) Engine {
	b := rounds[0]
	for _, r := range rounds[1:] {
		b.PostsPerS = max(b.PostsPerS, r.PostsPerS)
		b.CPUSeconds = min(b.CPUSeconds, r.CPUSeconds)
		b.IndexBytes = min(b.IndexBytes, r.IndexBytes)
		if r.RSSBefore > 0 {
			b.RSSBefore = min(b.RSSBefore, r.RSSBefore)
		}
	}
	return b
}

func bestLat(rounds []Engine) map[string]classLat {
	out := map[string]classLat{}
	for _, r := range rounds {
		for c, l := range latencies(r) {
			if o, ok := out[c]; !ok || l.P50 < o.P50 {
				o.P50 = l.P50
				out[c] = o
			}
			if o := out[c]; l.P99 < o.P99 || o.P99 == 0 {
				o.P99 = l.P99
				out[c] = o
			}
		}
	}
	return out
}

func summary(e Engine, lat map[string]classLat) map[string]any {
	return map[string]any{"name": e.Name, "posts_per_s": e.PostsPerS, "cpu_seconds": e.CPUSeconds,
		"index_bytes": e.IndexBytes, "rss_before_first_post_bytes": e.RSSBefore, "latency_ms": lat}
}

// Relevance is each engine's judged precision and text-containment recall.
type Relevance struct {
	Queries []QueryRel `json:"queries"`
	// Sums over the query set, per engine ("netpulse", "lucene").
	TopJudged    map[string]int `json:"top_judged"`
	TopRelevant  map[string]int `json:"top_relevant"`
	TopUnjudged  map[string]int `json:"top_unjudged"`
	Relevant     int            `json:"relevant"` // posts containing the query text, summed over queries
	Found        map[string]int `json:"found"`    // of those, matched
	FalseMatches map[string]int `json:"false_matches"`
	Missed       map[string]int `json:"missed"`
}

// QueryRel is one query's figures.
type QueryRel struct {
	Q            string         `json:"q"`
	Class        string         `json:"class"`
	Relevant     int            `json:"relevant"`
	Total        map[string]int `json:"total"`
	P10          map[string]int `json:"relevant_in_top10"`
	Top          map[string]int `json:"top10"`
	Unjudged     map[string]int `json:"unjudged"`
	FalseMatches map[string]int `json:"false_matches"`
	Missed       map[string]int `json:"missed"`
}

// norm keeps letters and digits, case folded: whitespace and punctuation,
// which both analysers drop, do not decide whether a post contains a text.
func norm(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// parts are the query's words and phrases, normalised.
func parts(q string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(q, func(r rune) bool { return r == '"' || unicode.IsSpace(r) }) {
		if n := norm(f); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// relevantSet is the posts (within the query's source and time range) whose
// title or body contains every part of the query after norm.
func relevantSet(posts []Post, q Query) map[string]bool {
	ps := parts(q.Q)
	out := map[string]bool{}
	for _, p := range posts {
		if q.Source != "" && p.Source != q.Source {
			continue
		}
		if q.From != "" && (p.Published < q.From || p.Published > q.To) {
			continue // same zone and format: strings compare as times
		}
		t, b := norm(p.Title), norm(p.Body)
		ok := true
		for _, x := range ps {
			if !strings.Contains(t, x) && !strings.Contains(b, x) {
				ok = false
				break
			}
		}
		if ok {
			out[p.ID] = true
		}
	}
	return out
}

func relevance(posts []Post, queries []Query, judged map[string]map[string]bool, np, lu Engine) Relevance {
	r := Relevance{TopJudged: map[string]int{}, TopRelevant: map[string]int{}, TopUnjudged: map[string]int{},
		Found: map[string]int{}, FalseMatches: map[string]int{}, Missed: map[string]int{}}
	for i, q := range queries {
		rel := relevantSet(posts, q)
		qr := QueryRel{Q: q.Q, Class: q.Class, Relevant: len(rel), Total: map[string]int{}, P10: map[string]int{},
			Top: map[string]int{}, Unjudged: map[string]int{}, FalseMatches: map[string]int{}, Missed: map[string]int{}}
		r.Relevant += len(rel)
		for name, e := range map[string]Engine{"netpulse": np, "lucene": lu} {
			if i >= len(e.Answers) {
				continue
			}
			a := e.Answers[i]
			qr.Total[name] = a.Total
			qr.Top[name] = len(a.Top)
			for _, id := range a.Top {
				v, ok := judged[judgeKey(q)][id]
				switch {
				case !ok:
					qr.Unjudged[name]++
				case v:
					qr.P10[name]++
				}
			}
			r.TopJudged[name] += len(a.Top) - qr.Unjudged[name]
			r.TopRelevant[name] += qr.P10[name]
			r.TopUnjudged[name] += qr.Unjudged[name]
			m := map[string]bool{}
			for _, id := range a.Matches {
				m[id] = true
			}
			for id := range m {
				if !rel[id] {
					qr.FalseMatches[name]++
				}
			}
			for id := range rel {
				if !m[id] {
					qr.Missed[name]++
				}
			}
			r.Found[name] += len(rel) - qr.Missed[name]
			r.FalseMatches[name] += qr.FalseMatches[name]
			r.Missed[name] += qr.Missed[name]
		}
		r.Queries = append(r.Queries, qr)
	}
	return r
}

// judgeKey names a query in the judgements file: its text, and its source
// and days when it has them.
func judgeKey(q Query) string {
	k := q.Q
	if q.Source != "" {
		k += " source:" + q.Source
	}
	if len(q.Days) == 2 {
		k += fmt.Sprintf(" days:%d-%d", q.Days[0], q.Days[1])
	}
	return k
}

func writeToJudge(path string, posts []Post, queries []Query, judged map[string]map[string]bool, np, lu Engine) error {
	byID := map[string]Post{}
	for _, p := range posts {
		byID[p.ID] = p
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for i, q := range queries {
		seen := map[string]bool{}
		for _, e := range []Engine{np, lu} {
			for _, id := range e.Answers[i].Top {
				if _, ok := judged[judgeKey(q)][id]; ok || seen[id] {
					continue
				}
				seen[id] = true
				enc.Encode(map[string]string{"query": judgeKey(q), "id": id, "body": byID[id].Body})
			}
		}
	}
	return nil
}

func printTable(w io.Writer, o options, n int, np, lu Engine, nl, ll map[string]classLat, rel Relevance) {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "\n%d posts of %s, %d round(s), %d timed repetitions per query; best of rounds; ratio = netpulse ÷ Lucene\n\n", n, o.corpus, o.rounds, o.reps)
	fmt.Fprintf(w, "| measure | netpulse serve (HTTP) | %s | ratio |\n|---|---|---|---|\n", lu.Name)
	fmt.Fprintf(w, "| posts/s until all are searchable | %.0f | %.0f | %.2f |\n", np.PostsPerS, lu.PostsPerS, np.PostsPerS/lu.PostsPerS)
	fmt.Fprintf(w, "| CPU seconds for the corpus | %.1f | %.1f | %.2f |\n", np.CPUSeconds, lu.CPUSeconds, np.CPUSeconds/lu.CPUSeconds)
	fmt.Fprintf(w, "| search index on disk | %.1f MiB | %.1f MiB | %.2f |\n", mib(np.IndexBytes), mib(lu.IndexBytes), float64(np.IndexBytes)/float64(lu.IndexBytes))
	fmt.Fprintf(w, "| serve RSS before the first post | %.0f MiB | | |\n", mib(np.RSSBefore))
	for _, c := range classes {
		a, b := nl[c], ll[c]
		fmt.Fprintf(w, "| p50 / p99, %s (facets, highlighting) | %.1f / %.1f ms | %.1f / %.1f ms | %.2f / %.2f |\n", c, a.P50, a.P99, b.P50, b.P99, a.P50/b.P50, a.P99/b.P99)
	}
	fmt.Fprintf(w, "\nRelevance over %d queries (relevant = contains every query part after dropping whitespace and punctuation):\n\n", len(rel.Queries))
	fmt.Fprintf(w, "| engine | top-10 hits relevant (judged by reading) | unjudged | recall | matches not containing the text | containing posts missed |\n|---|---|---|---|---|---|\n")
	for _, e := range []string{"netpulse", "lucene"} {
		recall := float64(rel.Found[e]) / float64(max(rel.Relevant, 1))
		fmt.Fprintf(w, "| %s | %d of %d (P@10 %.3f) | %d | %.4f (%d of %d) | %d | %d |\n", e, rel.TopRelevant[e], rel.TopJudged[e],
			float64(rel.TopRelevant[e])/float64(max(rel.TopJudged[e], 1)), rel.TopUnjudged[e], recall, rel.Found[e], rel.Relevant, rel.FalseMatches[e], rel.Missed[e])
	}
	fmt.Fprintf(w, "\n| query | class | containing | netpulse total / false / missed / rel@10 | Lucene total / false / missed / rel@10 |\n|---|---|---|---|---|\n")
	for _, q := range rel.Queries {
		fmt.Fprintf(w, "| %s | %s | %d | %d / %d / %d / %d of %d | %d / %d / %d / %d of %d |\n", q.Q, q.Class, q.Relevant,
			q.Total["netpulse"], q.FalseMatches["netpulse"], q.Missed["netpulse"], q.P10["netpulse"], q.Top["netpulse"],
			q.Total["lucene"], q.FalseMatches["lucene"], q.Missed["lucene"], q.P10["lucene"], q.Top["lucene"])
	}
}

// --- files ---

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writeLines(path string, posts []Post) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, p := range posts {
		if err := enc.Encode(p); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
