package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/netpulse/netpulse/alerts/burst"
)

// The trends page reads the term tables of the alerts subsystem
// (term_counts, term_scores, term_mentions, alert_posts) and the posts table
// directly: no trends API exists yet. These are read-only aggregate
// queries; when the alerts subsystem publishes a trends API, the page
// should call it instead.

type volumePoint struct {
	T time.Time `json:"t"`
	N uint32    `json:"n"`
}

type burstingTerm struct {
	Term   string    `json:"term"`
	Score  float32   `json:"score"`
	Count  uint32    `json:"count"`
	Alerts uint32    `json:"alerts"`
	Last   time.Time `json:"last"`
}

type topTerm struct {
	Term string `json:"term"`
	N    uint32 `json:"n"`
}

type samplePost struct {
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	URL         string    `json:"url"`
	PublishedAt time.Time `json:"published_at"`
}

type trendsData struct {
	Volume   map[string]any
	VolEmpty bool
	Bursting []burstingTerm
	Top      map[string]any
	TopEmpty bool
	Term     string
	Error    string
}

func (s *Server) trendsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	cat := s.cats[langOf(r)]
	d := trendsData{Term: strings.TrimSpace(r.URL.Query().Get("term"))}
	var vol []volumePoint
	err := s.db.Select(ctx, &vol, `SELECT toStartOfHour(published_at) AS t, toUInt32(count()) AS n
		FROM netpulse.posts WHERE published_at >= now() - INTERVAL 48 HOUR GROUP BY t ORDER BY t`)
	if err != nil {
		s.log.Error("trends volume", "err", err)
		d.Error = "error.unavailable"
	}
	d.VolEmpty = len(vol) == 0
	d.Volume = lineChart(cat.text("trends.volume_series"), vol, nil)
	err = s.db.Select(ctx, &d.Bursting, `SELECT term, max(score) AS score, toUInt32(sum(count)) AS count,
			toUInt32(sum(alert)) AS alerts, max(bucket) AS last
		FROM netpulse.term_scores WHERE bucket >= now() - INTERVAL 24 HOUR
		GROUP BY term HAVING score >= 0.5 ORDER BY alerts DESC, score DESC LIMIT 12`)
	if err != nil {
		s.log.Error("trends bursting", "err", err)
		d.Error = "error.unavailable"
	}
	var top []topTerm
	err = s.db.Select(ctx, &top, `SELECT term, toUInt32(uniqExactMerge(clusters)) AS n
		FROM netpulse.term_counts WHERE bucket >= now() - INTERVAL 24 HOUR
		GROUP BY term ORDER BY n DESC, term LIMIT 15`)
	if err != nil {
		s.log.Error("trends top terms", "err", err)
		d.Error = "error.unavailable"
	}
	d.TopEmpty = len(top) == 0
	d.Top = barChart(top)
	if d.Term == "" && len(d.Bursting) > 0 {
		d.Term = d.Bursting[0].Term
	}
	s.Render(w, r, http.StatusOK, "trends", "nav.trends", d)
}

type termData struct {
	Term    string
	Chart   map[string]any
	Samples []samplePost
	Bursts  int
	Empty   bool
}

// termHistory shows one term's hourly mentions over seven days with the
// detected bursts marked, and its latest posts.
func (s *Server) termHistory(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	term := strings.TrimSpace(r.URL.Query().Get("term"))
	d := termData{Term: term}
	if term == "" {
		d.Empty = true
		s.Fragment(w, r, "trends", "term", d)
		return
	}
	var series []volumePoint
	err := s.db.Select(ctx, &series, `SELECT toStartOfHour(bucket) AS t, toUInt32(uniqExactMerge(clusters)) AS n
		FROM netpulse.term_counts WHERE term = ? AND bucket >= now() - INTERVAL 7 DAY
		GROUP BY t ORDER BY t`, term)
	if err != nil {
		s.log.Error("term history", "term", term, "err", err)
		s.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	series = fillHours(series)
	// The bursts are those the production detector finds on this very
	// series, so the chart and the alerts agree on what a burst is.
	pts := make([]burst.Point, len(series))
	for i, p := range series {
		pts[i] = burst.Point{Time: p.T, Value: float64(p.N)}
	}
	var marks []volumePoint
	for i, res := range burst.Run(pts) {
		if res.Alert {
			marks = append(marks, series[i])
		}
	}
	d.Bursts = len(marks)
	d.Empty = len(series) == 0
	d.Chart = lineChart(term, series, marks)
	err = s.db.Select(ctx, &d.Samples, `SELECT title, source, url, published_at FROM netpulse.alert_posts
		WHERE id IN (SELECT post_id FROM netpulse.term_mentions WHERE term = ? AND bucket >= now() - INTERVAL 7 DAY)
		ORDER BY published_at DESC LIMIT 6`, term)
	if err != nil {
		s.log.Warn("term samples", "term", term, "err", err)
	}
	s.Fragment(w, r, "trends", "term", d)
}

// fillHours adds the empty hours between points, which the detector and
// the chart both need to see as zeros.
func fillHours(in []volumePoint) []volumePoint {
	if len(in) == 0 {
		return in
	}
	out := make([]volumePoint, 0, len(in))
	for i, p := range in {
		if i > 0 {
			for t := in[i-1].T.Add(time.Hour); t.Before(p.T); t = t.Add(time.Hour) {
				out = append(out, volumePoint{T: t})
			}
		}
		out = append(out, p)
	}
	return out
}

// lineChart is an ECharts option for a time series, with marks drawn as
// red pins.
func lineChart(name string, pts []volumePoint, marks []volumePoint) map[string]any {
	data := make([][2]any, len(pts))
	for i, p := range pts {
		data[i] = [2]any{p.T.UnixMilli(), p.N}
	}
	mk := make([]map[string]any, len(marks))
	for i, m := range marks {
		mk[i] = map[string]any{"coord": []any{m.T.UnixMilli(), m.N}, "value": m.N}
	}
	return map[string]any{
		"grid":    map[string]any{"left": 40, "right": 16, "top": 24, "bottom": 28},
		"tooltip": map[string]any{"trigger": "axis"},
		"xAxis":   map[string]any{"type": "time"},
		"yAxis":   map[string]any{"type": "value", "minInterval": 1},
		"series": []map[string]any{{
			"name": name, "type": "line", "data": data, "showSymbol": false, "smooth": true,
			"areaStyle": map[string]any{"opacity": 0.12},
			"markPoint": map[string]any{"symbol": "pin", "symbolSize": 36, "data": mk,
				"itemStyle": map[string]any{"color": "#d4380d"}},
		}},
	}
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
