package trends_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/trends"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/posts"
)

// replayEvent is an injected event: perBucket posts for buckets buckets
// from bucket start, every dupEvery-th of them a near-duplicate of one
// cluster.
type replayEvent struct {
	start, buckets, perBucket, dupEvery int
	text                                string
	cluster                             uint64
}

// eventPost is what the test remembers of each event post, to count the
// impact by hand.
type eventPost struct {
	bucket               int
	source, site, author string
	cluster              uint64
}

// TestSeasonalReplay replays six days of a term with a daily rhythm
// (weather words: quiet at night, busy by day) and two injected events
// through the term counter, the store and the real trends pass, five
// detector minutes a bucket. It checks one topic alert per event and none
// on the quiet days, and the impact figures on each card against counts
// made here from the posts as generated.
func TestSeasonalReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("six days of buckets through chDB")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Buckets of three seconds and more, another size on every run: the
	// store is shared by the package's tests (and by -count runs) and term
	// counts are keyed by bucket size, so this replay never mixes with the
	// other tests' one-second series or with an earlier replay.
	replayRuns++
	bucket := time.Duration(2+replayRuns) * time.Second
	r := newRig(t, bucket)
	const perDay = 288
	const days = 6
	n := days * perDay
	first := time.Now().Truncate(bucket).Add(-time.Duration(n+2) * bucket)
	events := []replayEvent{
		{start: 3*perDay + 150, buckets: 12, perBucket: 15, dupEvery: 5, text: "城东化工厂储罐泄漏周边居民紧急疏散", cluster: 9001},
		{start: 5*perDay + 60, buckets: 18, perBucket: 10, dupEvery: 4, text: "跨江大桥封闭检修公交线路临时绕行", cluster: 9002},
	}
	weather := []string{"今日多云转小雨气温回落", "午后有阵雨出门带伞", "夜间降雨减弱明日转晴", "本周降雨偏多注意防潮"}
	sources := []struct{ source, host string }{
		{"weibo", "weibo.example"}, {"weibo", "weibo.example"}, {"weibo", "weibo.example"},
		{"news-a", "news-a.example"}, {"news-a", "m.news-a.example"}, {"forum-b", "bbs.example"},
	}
	var msgs []bus.Message
	seq := 0
	add := func(p posts.Post) {
		seq++
		p.ID = fmt.Sprintf("%s-%d", r.unit, seq)
		b, _ := jsonMarshal(p)
		msgs = append(msgs, bus.Message{Key: []byte(p.ID), Value: b, Time: p.PublishedAt})
	}
	byEvent := make([][]eventPost, len(events))
	for i := 0; i < n; i++ {
		b := first.Add(time.Duration(i) * bucket)
		// Weather posts: about 0.5 a bucket at night, 5 by day.
		hour := float64(i%perDay) / 12
		mean := 0.5 + 4.5*math.Pow(math.Sin(math.Pi*hour/24), 2)
		for k := 0; k < poissonN(r, mean); k++ {
			text := weather[r.rnd.IntN(len(weather))]
			add(posts.Post{Source: "weather-feed", URL: fmt.Sprintf("https://weather.example/%d", seq), Title: text, Body: text,
				Author: "气象台", PublishedAt: b.Add(time.Duration(r.rnd.Int64N(int64(bucket)))), FetchedAt: b})
		}
		for k := 0; k < 2; k++ {
			text := background[r.rnd.IntN(len(background))]
			add(posts.Post{Source: "demo-news", URL: fmt.Sprintf("https://example.test/%d", seq), Title: text, Body: text,
				PublishedAt: b.Add(time.Duration(r.rnd.Int64N(int64(bucket)))), FetchedAt: b})
		}
		for ei, ev := range events {
			if i < ev.start || i >= ev.start+ev.buckets {
				continue
			}
			for k := 0; k < ev.perBucket; k++ {
				src := sources[(i+k)%len(sources)]
				p := posts.Post{Source: src.source, URL: fmt.Sprintf("https://%s/p/%d", src.host, seq+1),
					Title: ev.text, Body: ev.text, PublishedAt: b.Add(time.Duration(r.rnd.Int64N(int64(bucket)))), FetchedAt: b}
				if k%3 != 2 {
					p.Author = fmt.Sprintf("用户%d", (i*7+k)%23)
				}
				if k%ev.dupEvery == 0 {
					p.ClusterID = ev.cluster
					p.Title += "转发"
				}
				add(p)
				byEvent[ei] = append(byEvent[ei], eventPost{bucket: i, source: src.source, site: src.host, author: p.Author, cluster: p.ClusterID})
			}
		}
	}
	r.publish(ctx, msgs)
	c := r.counter(ctx)
	r.waitDrained(ctx, c)
	m, e := r.open(ctx)
	if _, err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}

	got := r.topicAlerts(m)
	matched := make([]int, len(events))
	for _, a := range got {
		var p trends.TopicPayload
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			t.Fatalf("alert %s payload: %v", a.ID, err)
		}
		opened := int(p.Opened.Sub(first) / bucket)
		ei := -1
		for i, ev := range events {
			if opened >= ev.start && opened < ev.start+ev.buckets {
				ei = i
			}
		}
		if ei < 0 {
			t.Errorf("alert %q on a quiet day: day %d bucket %d", a.Title, opened/perDay, opened%perDay)
			continue
		}
		matched[ei]++
		if opened > events[ei].start+2 {
			t.Errorf("event %d: alert at bucket %d, %d buckets after it began", ei, opened, opened-events[ei].start)
		}
		// The card's figures, counted here from what was generated: the
		// event's posts from the bucket the topic opened.
		want := trends.Impact{}
		clusters, srcs, sites, authors, perSource := map[uint64]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]uint64{}
		perBucketClusters := map[int]map[uint64]bool{}
		for k, ep := range byEvent[ei] {
			if ep.bucket < opened {
				continue
			}
			want.Posts++
			cl := ep.cluster
			if cl == 0 {
				cl = uint64(k + 1<<40) // its own cluster
			}
			clusters[cl] = true
			if perBucketClusters[ep.bucket] == nil {
				perBucketClusters[ep.bucket] = map[uint64]bool{}
			}
			perBucketClusters[ep.bucket][cl] = true
			srcs[ep.source], sites[ep.site] = true, true
			if ep.author != "" {
				authors[ep.author] = true
			}
			perSource[ep.source]++
		}
		var topN uint64
		for _, v := range perSource {
			topN = max(topN, v)
		}
		var peak uint64
		for _, s := range perBucketClusters {
			peak = max(peak, uint64(len(s)))
		}
		im := p.Impact
		t.Logf("event %d: %s | %s", ei, a.Title, p.Summary)
		if im.Posts != want.Posts || im.Clusters != uint64(len(clusters)) || im.Sources != uint64(len(srcs)) ||
			im.Sites != uint64(len(sites)) || im.Authors != uint64(len(authors)) || im.TopSource != "weibo" ||
			math.Abs(im.TopSourceShare-float64(topN)/float64(want.Posts)) > 1e-9 || im.Peak != peak {
			t.Errorf("event %d impact %+v, want posts %d clusters %d sources %d sites %d authors %d top weibo %.3f peak %d",
				ei, im, want.Posts, len(clusters), len(srcs), len(sites), len(authors), float64(topN)/float64(want.Posts), peak)
		}
		if im.TopSourceTitle != "新浪微博" || !strings.Contains(p.Summary, "最大来源“新浪微博”") {
			t.Errorf("event %d: the top source is not named by its display name: %q, %q", ei, im.TopSourceTitle, p.Summary)
		}
		if im.Usual > 1 || im.PeakRatio < float64(peak)-1e-9 {
			t.Errorf("event %d: peak %d against usual %.2f (ratio %.1f); the event text is new, its usual level is near zero", ei, im.Peak, im.Usual, im.PeakRatio)
		}
		if p.Outlook == nil || p.Outlook.Label == "" || p.Summary == "" {
			t.Errorf("event %d: no outlook or summary on the card: %+v", ei, p.Outlook)
		}
	}
	for i, k := range matched {
		if k != 1 {
			t.Errorf("event %d: %d topic alerts, want exactly one", i, k)
		}
	}
}

// replayRuns counts the replays in this process; see TestSeasonalReplay.
var replayRuns int

// poissonN draws a Poisson count (small means) from the rig's generator.
func poissonN(r *rig, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.rnd.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
