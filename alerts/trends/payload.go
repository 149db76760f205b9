package trends

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// TopicPayload is the payload of a topic alert and an item of GET
// /api/v1/trends:
//
//	{"topic_id":"…","opened":"…","last_hot":"…","status":"bursting|cooling",
//	 "terms":[{"term":"火灾","count":42,"score":0.93}…],        (top terms, biggest first)
//	 "samples":[{"id","source","url","title","published_at"}…], (up to 5, one per cluster)
//	 "series":{"bucket_seconds":300,"buckets":["…"…],"volume":[3,2,40…],
//	           "terms":{"火灾":[1,0,38…]…}},                     (last 36 buckets, for the chart)
//	 "impact":Impact, "outlook":Outlook|null,                    (see Impact and Outlook)
//	 "summary":"影响：…。走势：…。"}                               (both in one Chinese paragraph)
type TopicPayload struct {
	TopicID string       `json:"topic_id"`
	AlertID string       `json:"alert_id"`
	Opened  time.Time    `json:"opened"`
	LastHot time.Time    `json:"last_hot"`
	Status  string       `json:"status"`
	Terms   []TermScore  `json:"terms"`
	Samples []SamplePost `json:"samples"`
	Series  Series       `json:"series"`
	Impact  Impact       `json:"impact"`
	Outlook *Outlook     `json:"outlook"`
	Summary string       `json:"summary"`
}

// TermScore is one term of a topic.
type TermScore struct {
	Term  string  `json:"term"`
	Count uint64  `json:"count"`
	Score float64 `json:"score"`
}

// SamplePost is a post shown with a topic.
type SamplePost struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	URL         string    `json:"url"`
	Title       string    `json:"title"`
	PublishedAt time.Time `json:"published_at"`
}

// Series is chart data: per bucket, the distinct clusters mentioning any of
// the topic's terms, and per top term its count.
type Series struct {
	BucketSeconds int64               `json:"bucket_seconds"`
	Buckets       []time.Time         `json:"buckets"`
	Volume        []uint64            `json:"volume"`
	Terms         map[string][]uint64 `json:"terms"`
}

// seriesBuckets is how many buckets the chart shows.
const seriesBuckets = 36

func (e *Engine) payload(ctx context.Context, b time.Time, tp *topic, hotByTerm map[string]hot) (TopicPayload, error) {
	p := TopicPayload{TopicID: tp.ID, AlertID: tp.AlertID, Opened: time.Unix(tp.Opened, 0).UTC(), LastHot: time.Unix(tp.LastHot, 0).UTC(), Status: "bursting"}
	if b.Unix() > tp.LastHot {
		p.Status = "cooling"
	}
	for _, t := range tp.Terms {
		h := hotByTerm[t]
		p.Terms = append(p.Terms, TermScore{Term: t, Count: h.count, Score: h.score})
	}
	sort.SliceStable(p.Terms, func(i, j int) bool { return p.Terms[i].Count > p.Terms[j].Count })
	ordered := make([]string, len(p.Terms))
	for i, t := range p.Terms {
		ordered[i] = t.Term
	}
	var err error
	if p.Series, err = e.series(ctx, b, ordered, 5); err != nil {
		return p, err
	}
	if p.Samples, err = e.samples(ctx, time.Unix(tp.LastHot, 0).UTC(), tp.Terms); err != nil {
		return p, err
	}
	if p.Impact, err = e.impact(ctx, b, tp); err != nil {
		return p, err
	}
	p.Outlook = e.outlook(p.Impact.LeadTerm)
	p.Summary = Summary(p.Impact, p.Outlook)
	return p, nil
}

func (e *Engine) series(ctx context.Context, last time.Time, terms []string, topN int) (Series, error) {
	from := last.Add(-time.Duration(seriesBuckets-1) * e.o.Bucket)
	s := Series{BucketSeconds: int64(e.o.Bucket / time.Second), Terms: map[string][]uint64{}}
	idx := map[int64]int{}
	for i, t := 0, from; !t.After(last); i, t = i+1, t.Add(e.o.Bucket) {
		s.Buckets = append(s.Buckets, t)
		idx[t.Unix()] = i
	}
	s.Volume = make([]uint64, len(s.Buckets))
	var vol []countRow
	if err := e.o.DB.Select(ctx, &vol, `SELECT bucket, uniqExact(cluster) AS n FROM netpulse.term_mentions
		WHERE bucket_seconds = ? AND bucket >= ? AND bucket <= ? AND has(?, term) GROUP BY bucket`, e.secs(), from, last, terms); err != nil {
		return s, fmt.Errorf("topic volume: %w", err)
	}
	for _, r := range vol {
		if i, ok := idx[r.Bucket.Unix()]; ok {
			s.Volume[i] = r.N
		}
	}
	top := terms
	if len(top) > topN {
		top = top[:topN]
	}
	var rows []countRow
	if err := e.o.DB.Select(ctx, &rows, `SELECT term, bucket, uniqExactMerge(clusters) AS n FROM netpulse.term_counts
		WHERE bucket_seconds = ? AND bucket >= ? AND bucket <= ? AND has(?, term) GROUP BY term, bucket`, e.secs(), from, last, top); err != nil {
		return s, fmt.Errorf("topic term series: %w", err)
	}
	for _, t := range top {
		s.Terms[t] = make([]uint64, len(s.Buckets))
	}
	for _, r := range rows {
		if i, ok := idx[r.Bucket.Unix()]; ok {
			s.Terms[r.Term][i] = r.N
		}
	}
	return s, nil
}

func (e *Engine) samples(ctx context.Context, b time.Time, terms []string) ([]SamplePost, error) {
	var out []SamplePost
	if err := e.o.DB.Select(ctx, &out, `SELECT id, source, url, title, published_at FROM netpulse.alert_posts FINAL
		WHERE id IN (SELECT any(post_id) FROM netpulse.term_mentions
		             WHERE bucket_seconds = ? AND bucket = ? AND has(?, term) GROUP BY cluster ORDER BY count() DESC LIMIT 5)
		ORDER BY published_at LIMIT 5`, e.secs(), b, terms); err != nil {
		return nil, fmt.Errorf("topic samples: %w", err)
	}
	return out, nil
}
