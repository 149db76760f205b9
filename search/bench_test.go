package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse/search/shards"
)

// postGen makes ~500-byte posts (two fixture posts' bodies joined) spread
// over days days, deterministically and in chunks, so that a million-post
// index does not need a million posts in memory.
type postGen struct {
	base  []corpusPost
	r     *rand.Rand
	days  int
	total int
	next  int
}

func newPostGen(total, days int) *postGen {
	return &postGen{base: generateCorpus(4000), r: rand.New(rand.NewPCG(7, 7)), days: days, total: total}
}

func (g *postGen) take(n int) []shards.Doc {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	out := make([]shards.Doc, 0, n)
	for ; n > 0 && g.next < g.total; n-- {
		a, b := g.base[g.r.IntN(len(g.base))], g.base[g.r.IntN(len(g.base))]
		out = append(out, shards.Doc{
			ID: fmt.Sprintf("b%08d", g.next), Source: a.Source, Author: a.Author, Title: a.Title,
			Body:        a.Body + b.Body,
			PublishedAt: start.Add(time.Duration(g.r.IntN(g.days*24*3600)) * time.Second),
			ClusterID:   uint64(g.r.IntN(g.total/3 + 1)),
		})
		g.next++
	}
	return out
}

func benchPosts(n, days int) []shards.Doc { return newPostGen(n, days).take(n) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkIndex measures indexing throughput with each analyser on the same
// ~500-byte posts, in batches of 1000 as the pipeline writes them. The
// standard analyser is the ceiling.
func BenchmarkIndex(b *testing.B) {
	n := envInt("NETPULSE_BENCH_INDEX_POSTS", 10000)
	posts := benchPosts(n, 3)
	bytes := 0
	for _, p := range posts {
		bytes += len(p.Title) + len(p.Body)
	}
	for _, a := range analyzers {
		b.Run(a.name, func(b *testing.B) {
			for b.Loop() {
				s := openSet(b, b.TempDir(), a.index, a.query)
				cpu0 := cpuTime()
				start := time.Now()
				for i := 0; i < len(posts); i += 1000 {
					if err := indexAll(s, context.Background(), posts[i:min(i+1000, len(posts))]); err != nil {
						b.Fatal(err)
					}
				}
				el := time.Since(start)
				b.ReportMetric(float64(len(posts))/el.Seconds(), "posts/s")
				// The machine is shared: CPU time says what the work costs
				// when the cores are not taken by others.
				b.ReportMetric(float64(len(posts))/(cpuTime()-cpu0).Seconds(), "posts/cpu-s")
				b.ReportMetric(float64(bytes)/float64(len(posts)), "bytes/post")
				b.ReportMetric(float64(dirSize(b, s.Days()))/float64(len(posts)), "disk-bytes/post")
			}
		})
	}
}

func dirSize(t testing.TB, days []shards.DayInfo) int64 {
	var total int64
	for _, d := range days {
		total += shards.DirBytes(d.Dir)
	}
	return total
}

// BenchmarkSearch measures latency percentiles over an index of
// NETPULSE_BENCH_POSTS posts (default 20,000 so CI stays quick; set 1000000
// by hand) spread over 30 days. NETPULSE_BENCH_DIR keeps the index between
// runs.
func BenchmarkSearch(b *testing.B) {
	n := envInt("NETPULSE_BENCH_POSTS", 20000)
	dir := os.Getenv("NETPULSE_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir = filepath.Join(dir, fmt.Sprintf("search-%d", n))
	}
	s := openSet(b, dir, analyzers[0].index, analyzers[0].query)
	if c, _ := s.Alias().DocCount(); int(c) < n {
		start := time.Now()
		g := newPostGen(n, 30)
		for chunk := g.take(5000); len(chunk) > 0; chunk = g.take(5000) {
			if err := indexAll(s, context.Background(), chunk); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("indexed %d posts in %s (%.0f posts/s)", n, time.Since(start).Round(time.Second), float64(n)/time.Since(start).Seconds())
	}
	// A long limit so that slow kinds show their latency instead of failing.
	sr, err := NewSearcher(s, time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	mid := time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)
	kinds := []struct {
		name string
		reqs []Request
	}{
		{"term", []Request{{Query: "诈骗"}, {Query: "火灾"}, {Query: "刷单"}, {Query: "长江"}, {Query: "毒品"}}},
		{"rare-term", []Request{{Query: "燃气爆炸"}, {Query: "网络赌博"}, {Query: "研究生"}, {Query: "溺水"}}},
		{"phrase", []Request{{Query: `"电信诈骗"`}, {Query: `"交通事故"`}, {Query: `"兼职刷单"`}, {Query: `"消防救援人员"`}}},
		{"filtered", []Request{{Query: "诈骗 source:weibo", From: mid, To: mid.Add(72 * time.Hour)},
			{Query: "火灾 -电动车", From: mid, To: mid.Add(7 * 24 * time.Hour)}, {Query: "洪水 source:news", SortTime: true}}},
		{"faceted", []Request{{Query: "诈骗", Facets: true, Collapse: true}, {Query: "火灾", Facets: true, Collapse: true},
			{Query: "临江区", Facets: true, Collapse: true, SortTime: true}}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			var lat []time.Duration
			perReq := make([][]time.Duration, len(k.reqs))
			var matches float64
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				start := time.Now()
				res, err := sr.Search(context.Background(), k.reqs[i%len(k.reqs)])
				if err != nil {
					b.Fatal(err)
				}
				matches += float64(res.Total)
				lat = append(lat, time.Since(start))
				perReq[i%len(k.reqs)] = append(perReq[i%len(k.reqs)], lat[len(lat)-1])
				i++
			}
			// Which request makes the tail: logged per request.
			for j, l := range perReq {
				if len(l) == 0 {
					continue
				}
				sort.Slice(l, func(a, b int) bool { return l[a] < l[b] })
				b.Logf("%-40q p50 %6.1f ms  max %6.1f ms", k.reqs[j].Query, float64(l[len(l)/2].Microseconds())/1000, float64(l[len(l)-1].Microseconds())/1000)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
			// Latency grows with the matches scored and counted; the
			// template corpus makes common words very common.
			b.ReportMetric(matches/float64(len(lat)), "matches/op")
			sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
	// Sub-benchmarks hide the parent's metrics, so log these.
	b.Logf("%d posts: index %.0f MiB on disk, peak RSS %.0f MiB", n,
		float64(dirSize(b, s.Days()))/(1<<20), float64(peakRSS())/(1<<20))
}

// peakRSS reads the process's high-water resident set (Linux).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
