package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/dashboards/i18n"
)

// The trends page shows the topics and term histories of the alerts
// subsystem's trends API (/api/v1/trends). Two panels have no API: the
// overall post volume and the day's top terms; they are read directly from
// the posts and term_counts tables with two small read-only aggregates.

// trendsOverview is the answer of GET /api/v1/trends.
type trendsOverview struct {
	BucketSeconds  int64     `json:"bucket_seconds"`
	EvaluatedUntil time.Time `json:"evaluated_until"`
	TrackedTerms   int       `json:"tracked_terms"`
	Topics         []struct {
		TopicID string    `json:"topic_id"`
		AlertID string    `json:"alert_id"`
		Opened  time.Time `json:"opened"`
		LastHot time.Time `json:"last_hot"`
		Status  string    `json:"status"`
		Terms   []struct {
			Term  string  `json:"term"`
			Count uint64  `json:"count"`
			Score float64 `json:"score"`
		} `json:"terms"`
		Samples []samplePost `json:"samples"`
		Summary string       `json:"summary"`
		Outlook *struct {
			Trend string `json:"trend"`
			Label string `json:"label"`
		} `json:"outlook"`
		Series struct {
			Buckets []time.Time         `json:"buckets"`
			Volume  []uint64            `json:"volume"`
			Terms   map[string][]uint64 `json:"terms"`
		} `json:"series"`
	} `json:"topics"`
}

// termHistoryAnswer is the answer of GET /api/v1/trends/terms/{term}.
type termHistoryAnswer struct {
	Term          string     `json:"term"`
	BucketSeconds int64      `json:"bucket_seconds"`
	Tracked       bool       `json:"tracked"`
	FirstSeen     *time.Time `json:"first_seen"`
	Points        []struct {
		Bucket time.Time `json:"bucket"`
		Count  uint64    `json:"count"`
		Score  float64   `json:"score"`
		Alert  bool      `json:"alert"`
	} `json:"points"`
}

type volumePoint struct {
	T time.Time `json:"t"`
	N uint64    `json:"n"`
}

type topTerm struct {
	Term string `json:"term"`
	N    uint32 `json:"n"`
}

type samplePost struct {
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	SourceTitle string    `json:"-"` // the source's display name
	URL         string    `json:"url"`
	PublishedAt time.Time `json:"published_at"`
}

type topicView struct {
	Status, AlertID string
	Opened, LastHot time.Time
	Terms           []string
	Counts          []uint64
	Chart           map[string]any
	Samples         []samplePost
	Summary         string // impact and direction, in Chinese
	Trend, Label    string // rising|peaking|fading and its Chinese word
}

type trendsData struct {
	Topics   []topicView
	Tracked  int
	Until    time.Time
	Volume   map[string]any
	VolEmpty bool
	Top      map[string]any
	TopEmpty bool
	Term     string
	Error    string
	// RecentAlerts counts the topic alerts opened in the last 24 hours
	// (in the caller's unit): topics that have cooled off leave the
	// engine's list, and the page must not then read as "nothing
	// happened" while the board still holds their alerts.
	RecentAlerts uint64
}

func (s *Server) trendsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	cat := s.cats[i18n.Of(r)]
	d := trendsData{Term: strings.TrimSpace(r.URL.Query().Get("term"))}
	var ov trendsOverview
	if err := s.api.call(ctx, r, http.MethodGet, "/api/v1/trends", nil, nil, nil, &ov); err != nil {
		s.logFailure(r, slog.LevelWarn, "trends overview", "err", err)
		d.Error = apiErrorKey(err)
	}
	d.Tracked, d.Until = ov.TrackedTerms, ov.EvaluatedUntil
	titles := s.sourceTitles(ctx)
	for _, tp := range ov.Topics {
		for i := range tp.Samples {
			tp.Samples[i].SourceTitle = sourceTitle(titles, tp.Samples[i].Source)
		}
		v := topicView{Status: tp.Status, AlertID: tp.AlertID, Opened: tp.Opened, LastHot: tp.LastHot, Samples: tp.Samples, Summary: tp.Summary}
		if tp.Outlook != nil {
			v.Trend, v.Label = tp.Outlook.Trend, tp.Outlook.Label
		}
		for _, t := range tp.Terms {
			v.Terms, v.Counts = append(v.Terms, t.Term), append(v.Counts, t.Count)
		}
		pts := make([]volumePoint, len(tp.Series.Buckets))
		var marks []volumePoint
		for i, b := range tp.Series.Buckets {
			if i < len(tp.Series.Volume) {
				pts[i] = volumePoint{T: b, N: tp.Series.Volume[i]}
			}
			// The burst is marked where the topic opened and where it was
			// last hot.
			if b.Equal(tp.Opened.Truncate(time.Second)) || b.Equal(tp.LastHot) {
				marks = append(marks, pts[i])
			}
		}
		v.Chart = lineChart(cat.Text("trends.volume_series"), pts, marks)
		d.Topics = append(d.Topics, v)
	}
	var vol []volumePoint
	// The stored posts, or else the posts the term counter saw (the same
	// stream, kept by the alerts subsystem) when the posts stage is not
	// storing them.
	for _, table := range []string{"netpulse.posts", "netpulse.alert_posts"} {
		if err := s.db.Select(ctx, &vol, `SELECT toStartOfHour(published_at) AS t, toUInt32(count()) AS n
			FROM `+table+` WHERE published_at >= now() - INTERVAL 48 HOUR GROUP BY t ORDER BY t`); err != nil {
			s.logFailure(r, slog.LevelError, "trends volume", "table", table, "err", err)
			d.Error = "error.unavailable"
		}
		if len(vol) > 0 {
			break
		}
	}
	d.VolEmpty = len(vol) == 0
	d.Volume = lineChart(cat.Text("trends.volume_series"), vol, nil)
	var top []topTerm
	if err := s.db.Select(ctx, &top, `SELECT term, toUInt32(uniqExactMerge(clusters)) AS n
		FROM netpulse.term_counts WHERE bucket >= now() - INTERVAL 24 HOUR
		GROUP BY term ORDER BY n DESC, term LIMIT 15`); err != nil {
		s.logFailure(r, slog.LevelError, "trends top terms", "err", err)
		d.Error = "error.unavailable"
	}
	d.TopEmpty = len(top) == 0
	d.Top = barChart(top)
	if len(d.Topics) == 0 {
		d.RecentAlerts = s.recentTopicAlerts(ctx, r)
	}
	if d.Term == "" && len(d.Topics) > 0 && len(d.Topics[0].Terms) > 0 {
		d.Term = d.Topics[0].Terms[0]
	}
	if d.Term == "" && len(top) > 0 {
		d.Term = top[0].Term
	}
	s.Render(w, r, http.StatusOK, "trends", "nav.trends", d)
}

// recentTopicAlerts counts the topic alerts opened in the last 24 hours
// that the caller may see (a unit's officers: their unit's).
func (s *Server) recentTopicAlerts(ctx context.Context, r *http.Request) uint64 {
	cond, args := "", []any{}
	if p, ok := access.FromContext(r.Context()); ok {
		if unit, scoped := p.UnitScope(); scoped {
			cond, args = " AND unit = ?", []any{unit}
		}
	}
	var rows []struct {
		N uint64 `json:"n"`
	}
	if err := s.db.Select(ctx, &rows, `SELECT count() AS n FROM netpulse.alerts FINAL
		WHERE kind = 'topic' AND opened_at >= now() - INTERVAL 24 HOUR`+cond, args...); err != nil || len(rows) == 0 {
		if err != nil {
			s.logFailure(r, slog.LevelWarn, "trends recent topic alerts", "err", err)
		}
		return 0
	}
	return rows[0].N
}

type termData struct {
	Term      string
	Chart     map[string]any
	Bursts    int
	Tracked   bool
	FirstSeen *time.Time
	Empty     bool
	Error     string
}

// termHistory shows one term's mentions over seven days with the buckets
// where the production detector alerted marked.
func (s *Server) termHistory(w http.ResponseWriter, r *http.Request) {
	term := strings.TrimSpace(r.URL.Query().Get("term"))
	d := termData{Term: term}
	if term == "" {
		d.Empty = true
		s.Fragment(w, r, "trends", "term", d)
		return
	}
	now := time.Now().UTC()
	q := url.Values{"from": {now.Add(-7 * 24 * time.Hour).Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}}
	var h termHistoryAnswer
	if err := s.api.call(r.Context(), r, http.MethodGet, "/api/v1/trends/terms/"+url.PathEscape(term), q, nil, nil, &h); err != nil {
		s.logFailure(r, slog.LevelWarn, "term history", "term", term, "err", err)
		d.Error = apiErrorKey(err)
		s.Fragment(w, r, "trends", "term", d)
		return
	}
	step := time.Duration(h.BucketSeconds) * time.Second
	var pts, marks []volumePoint
	for i, p := range h.Points {
		if i > 0 && step > 0 {
			// Zeros between mentions, so the line drops where nothing was said.
			for t := h.Points[i-1].Bucket.Add(step); t.Before(p.Bucket) && len(pts) < 20000; t = t.Add(step) {
				pts = append(pts, volumePoint{T: t})
			}
		}
		pts = append(pts, volumePoint{T: p.Bucket, N: p.Count})
		if p.Alert {
			marks = append(marks, volumePoint{T: p.Bucket, N: p.Count})
		}
	}
	d.Bursts, d.Tracked, d.FirstSeen, d.Empty = len(marks), h.Tracked, h.FirstSeen, len(h.Points) == 0
	d.Chart = lineChart(term, pts, marks)
	s.Fragment(w, r, "trends", "term", d)
}

// lineChart is an ECharts option for a time series, with marks drawn as
// red pins.
func lineChart(name string, pts []volumePoint, marks []volumePoint) map[string]any {
	data := make([][2]any, len(pts))
	for i, p := range pts {
		data[i] = [2]any{unitMilli(p.T), p.N}
	}
	mk := make([]map[string]any, len(marks))
	for i, m := range marks {
		mk[i] = map[string]any{"coord": []any{unitMilli(m.T), m.N}, "value": m.N}
	}
	return map[string]any{
		// Times are shifted to the unit's clock and drawn as UTC, so the
		// chart reads Beijing time whatever the browser's zone, as the
		// text around it does.
		"useUTC":  true,
		"grid":    map[string]any{"left": 40, "right": 16, "top": 28, "bottom": 28},
		"tooltip": map[string]any{"trigger": "axis"},
		"xAxis":   map[string]any{"type": "time"},
		"yAxis":   map[string]any{"type": "value", "minInterval": 1},
		"series": []map[string]any{{
			// A series of one or two points has no line to see: show them.
			"name": name, "type": "line", "data": data, "showSymbol": len(data) <= 2,
			"areaStyle": map[string]any{"opacity": 0.12},
			"markPoint": map[string]any{"symbol": "pin", "symbolSize": 36, "data": mk,
				"itemStyle": map[string]any{"color": "#d4380d"}},
		}},
	}
}

// wallMilli is t on the unit's clock (cst), as milliseconds of a UTC time
// with the same wall-clock reading.
func wallMilli(t time.Time) int64 {
	_, off := t.In(cst).Zone()
	return t.UnixMilli() + int64(off)*1000
}

func barChart(top []topTerm) map[string]any {
	names := make([]string, len(top))
	vals := make([]uint32, len(top))
	for i := range top {
		// Largest at the top of a horizontal bar chart.
		j := len(top) - 1 - i
		names[i], vals[i] = top[j].Term, top[j].N
	}
	return map[string]any{
		"grid":    map[string]any{"left": 80, "right": 16, "top": 8, "bottom": 24},
		"tooltip": map[string]any{},
		"xAxis":   map[string]any{"type": "value", "minInterval": 1},
		"yAxis":   map[string]any{"type": "category", "data": names},
		"series":  []map[string]any{{"type": "bar", "data": vals, "itemStyle": map[string]any{"color": "#1d4ed8"}}},
	}
}

// unitMilli is t on the unit's wall clock (cst, as the page text prints
// times), as milliseconds for a chart drawn in UTC.
func unitMilli(t time.Time) int64 {
	_, off := t.In(cst).Zone()
	return t.UnixMilli() + int64(off)*1000
}
