package trends

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/netpulse/netpulse/alerts/burst"
)

// Impact is how big a topic is and where it comes from, counted from the
// store over the buckets since the topic opened, and recomputed while it
// lasts:
//
//	{"posts":120,"clusters":45,"sources":8,"sites":6,"authors":30,
//	 "top_source":"weibo","top_source_share":0.35,"top_source_title":"新浪微博",
//	 "last_hour":60,"prev_hour":20,"growth":2.0,
//	 "lead_term":"火灾","peak":42,"peak_at":"…","usual":1.3,"peak_ratio":32}
type Impact struct {
	Posts    uint64 `json:"posts"`    // distinct posts mentioning any of the topic's terms
	Clusters uint64 `json:"clusters"` // near-duplicate clusters among them
	Sources  uint64 `json:"sources"`  // distinct sources (feeds, partners)
	Sites    uint64 `json:"sites"`    // distinct web sites (URL hosts)
	Authors  uint64 `json:"authors"`  // distinct authors, where the source names one
	// TopSource is the source with the most posts and TopSourceShare its
	// share of Posts: near 1 means one site repeating itself.
	TopSource      string  `json:"top_source"`
	TopSourceShare float64 `json:"top_source_share"`
	// TopSourceTitle is TopSource's display name (江城新闻网, not
	// demo-news), when the source registry names one.
	TopSourceTitle string `json:"top_source_title,omitempty"`
	// LastHour and PrevHour are the posts of the last hour and of the hour
	// before; Growth is (LastHour+1)/(PrevHour+1) - 1.
	LastHour uint64  `json:"last_hour"`
	PrevHour uint64  `json:"prev_hour"`
	Growth   float64 `json:"growth"`
	// LeadTerm is the topic's first term; Peak its largest count in one
	// bucket so far, Usual what its baseline expected per bucket there,
	// PeakRatio = Peak / max(Usual, 1 bucket's worth of one mention).
	LeadTerm  string    `json:"lead_term"`
	Peak      uint64    `json:"peak"`
	PeakAt    time.Time `json:"peak_at"`
	Usual     float64   `json:"usual"`
	PeakRatio float64   `json:"peak_ratio"`
}

// Outlook is the lead term's forecast for the next hours from its burst
// detector (burst.State.Outlook), in clusters mentioning it:
//
//	{"trend":"rising|peaking|fading","label":"上升|高位持平|回落","hours":3,
//	 "expected":80,"low":40,"high":160,"usual":12}
type Outlook struct {
	Trend    string  `json:"trend"`
	Label    string  `json:"label"`
	Hours    float64 `json:"hours"`
	Expected float64 `json:"expected"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	Usual    float64 `json:"usual"`
}

// outlookHours is the forecast horizon shown with a topic.
const outlookHours = 3

// hourBuckets is how many buckets make an hour of detector time.
func (e *Engine) hourBuckets() int {
	return max(1, int(math.Round(3600/(e.o.Bucket.Seconds()*e.o.TimeScale))))
}

// impact counts a topic's figures over [opened, b].
func (e *Engine) impact(ctx context.Context, b time.Time, tp *topic) (Impact, error) {
	im := Impact{}
	if len(tp.Terms) == 0 {
		return im, nil
	}
	opened := time.Unix(tp.Opened, 0).UTC()
	mentions := `SELECT post_id FROM netpulse.term_mentions WHERE bucket_seconds = ? AND bucket >= ? AND bucket <= ? AND has(?, term)`
	var n []struct {
		Posts    uint64 `json:"posts"`
		Clusters uint64 `json:"clusters"`
	}
	if err := e.o.DB.Select(ctx, &n, `SELECT uniqExact(post_id) AS posts, uniqExact(cluster) AS clusters FROM netpulse.term_mentions
		WHERE bucket_seconds = ? AND bucket >= ? AND bucket <= ? AND has(?, term)`, e.secs(), opened, b, tp.Terms); err != nil {
		return im, fmt.Errorf("topic impact: %w", err)
	}
	if len(n) > 0 {
		im.Posts, im.Clusters = n[0].Posts, n[0].Clusters
	}
	var who []struct {
		Sources uint64 `json:"sources"`
		Sites   uint64 `json:"sites"`
		Authors uint64 `json:"authors"`
	}
	if err := e.o.DB.Select(ctx, &who, `SELECT uniqExactIf(source, source != '') AS sources,
		uniqExactIf(domain(url), domain(url) != '') AS sites, uniqExactIf(author, author != '') AS authors
		FROM netpulse.alert_posts FINAL WHERE id IN (`+mentions+`)`, e.secs(), opened, b, tp.Terms); err != nil {
		return im, fmt.Errorf("topic impact sources: %w", err)
	}
	if len(who) > 0 {
		im.Sources, im.Sites, im.Authors = who[0].Sources, who[0].Sites, who[0].Authors
	}
	var top []struct {
		Source string `json:"source"`
		N      uint64 `json:"n"`
	}
	if err := e.o.DB.Select(ctx, &top, `SELECT source, count() AS n FROM netpulse.alert_posts FINAL
		WHERE id IN (`+mentions+`) GROUP BY source ORDER BY n DESC, source LIMIT 1`, e.secs(), opened, b, tp.Terms); err != nil {
		return im, fmt.Errorf("topic impact top source: %w", err)
	}
	if len(top) > 0 && im.Posts > 0 {
		im.TopSource = top[0].Source
		im.TopSourceShare = float64(top[0].N) / float64(im.Posts)
		im.TopSourceTitle = e.sourceTitle(ctx, im.TopSource)
	}
	hb := time.Duration(e.hourBuckets()) * e.o.Bucket
	var hours []struct {
		Last uint64 `json:"last"`
		Prev uint64 `json:"prev"`
	}
	if err := e.o.DB.Select(ctx, &hours, `SELECT uniqExactIf(post_id, bucket > ?) AS last, uniqExactIf(post_id, bucket <= ?) AS prev
		FROM netpulse.term_mentions WHERE bucket_seconds = ? AND bucket > ? AND bucket <= ? AND has(?, term)`,
		b.Add(-hb), b.Add(-hb), e.secs(), b.Add(-2*hb), b, tp.Terms); err != nil {
		return im, fmt.Errorf("topic growth: %w", err)
	}
	if len(hours) > 0 {
		im.LastHour, im.PrevHour = hours[0].Last, hours[0].Prev
	}
	im.Growth = float64(im.LastHour+1)/float64(im.PrevHour+1) - 1
	im.LeadTerm = tp.Terms[0]
	var peak []countRow
	if err := e.o.DB.Select(ctx, &peak, `SELECT term, bucket, uniqExactMerge(clusters) AS n FROM netpulse.term_counts
		WHERE bucket_seconds = ? AND bucket >= ? AND bucket <= ? AND term = ? GROUP BY term, bucket ORDER BY n DESC, bucket LIMIT 1`,
		e.secs(), opened, b, im.LeadTerm); err != nil {
		return im, fmt.Errorf("topic peak: %w", err)
	}
	if len(peak) > 0 {
		im.Peak, im.PeakAt = peak[0].N, peak[0].Bucket.UTC()
	}
	if st, ok := e.termState(im.LeadTerm); ok {
		at := im.PeakAt
		if at.IsZero() {
			at = b
		}
		im.Usual = st.Baseline(e.detectorTime(at))
		im.PeakRatio = float64(im.Peak) / math.Max(im.Usual, 1)
	}
	return im, nil
}

// termState copies a tracked term's detector state.
func (e *Engine) termState(term string) (burst.State, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts, ok := e.st.terms[term]
	if !ok {
		return burst.State{}, false
	}
	return ts.st, true
}

// outlook is the lead term's forecast.
func (e *Engine) outlook(term string) *Outlook {
	st, ok := e.termState(term)
	if !ok {
		return nil
	}
	step := int64(math.Round(e.o.Bucket.Seconds() * e.o.TimeScale))
	o := st.Outlook(step, outlookHours)
	return &Outlook{Trend: o.Direction.Key(), Label: o.Direction.String(), Hours: outlookHours,
		Expected: o.Expected, Low: o.Low, High: o.High, Usual: o.Usual}
}

// sourceTitle is source's display name, or "" when none is known.
func (e *Engine) sourceTitle(ctx context.Context, source string) string {
	if e.o.SourceTitles == nil {
		return ""
	}
	titles, err := e.o.SourceTitles(ctx)
	if err != nil {
		e.o.Log.Debug("source titles", "err", err)
		return ""
	}
	if t := titles[source]; t != source {
		return t
	}
	return ""
}

// Summary is the impact and direction of a topic in one Chinese paragraph,
// for mail, digest and any reader that shows text rather than fields.
func Summary(im Impact, o *Outlook) string {
	var b strings.Builder
	fmt.Fprintf(&b, "影响：帖文 %d 条（去重后 %d 组），来源 %d 个、站点 %d 个", im.Posts, im.Clusters, im.Sources, im.Sites)
	if im.Authors > 0 {
		fmt.Fprintf(&b, "、作者 %d 人", im.Authors)
	}
	if im.TopSource != "" {
		name := im.TopSource
		if im.TopSourceTitle != "" {
			name = im.TopSourceTitle
		}
		fmt.Fprintf(&b, "；最大来源“%s”占 %.0f%%", name, 100*im.TopSourceShare)
	}
	fmt.Fprintf(&b, "；近1小时 %d 条，前1小时 %d 条", im.LastHour, im.PrevHour)
	if im.Peak > 0 {
		fmt.Fprintf(&b, "；“%s”峰值每时段 %d 条，常态 %.1f 条（%.0f 倍）", im.LeadTerm, im.Peak, im.Usual, im.PeakRatio)
	}
	b.WriteString("。")
	if o != nil {
		fmt.Fprintf(&b, "走势：%s，预计未来 %.0f 小时 %.0f 条（80%% 区间 %.0f–%.0f），常态 %.0f 条。", o.Label, o.Hours, o.Expected, o.Low, o.High, o.Usual)
	}
	return b.String()
}
