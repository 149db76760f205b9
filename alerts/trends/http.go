package trends

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/netpulse/netpulse/jsonapi"
)

// Mount adds the trends pages' API to mux, each route wrapped in read.
//
//	GET /api/v1/trends
//	  → {"bucket_seconds":300,"evaluated_until":"…","tracked_terms":12345,
//	     "topics":[TopicPayload…]}           (active topics, newest first; see TopicPayload)
//	GET /api/v1/trends/terms/{term}?from=…&to=…   (RFC 3339; default the last 2 days)
//	  → {"term":"火灾","bucket_seconds":300,"tracked":true,"first_seen":"…"|null,
//	     "points":[{"bucket":"…","count":3,"score":0.12,"alert":false}…]}
//	     (one point per bucket with a mention or a score ≥ 0.2)
func (e *Engine) Mount(mux *http.ServeMux, read func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/trends", read(http.HandlerFunc(e.handleTrends)))
	mux.Handle("GET /api/v1/trends/terms/{term}", read(http.HandlerFunc(e.handleTerm)))
}

// Overview is the body of GET /api/v1/trends.
type Overview struct {
	BucketSeconds  int64          `json:"bucket_seconds"`
	EvaluatedUntil time.Time      `json:"evaluated_until"`
	TrackedTerms   int            `json:"tracked_terms"`
	Topics         []TopicPayload `json:"topics"`
}

// Topics returns the active topics with fresh chart data.
func (e *Engine) Topics(ctx context.Context) (Overview, error) {
	e.mu.Lock()
	last := e.st.next.Add(-e.o.Bucket)
	ov := Overview{BucketSeconds: int64(e.o.Bucket / time.Second), EvaluatedUntil: e.st.next, TrackedTerms: len(e.st.terms)}
	tps := make([]topic, 0, len(e.st.topics))
	for _, tp := range e.st.topics {
		c := *tp
		c.Terms = append([]string(nil), tp.Terms...)
		tps = append(tps, c)
	}
	e.mu.Unlock()
	sort.Slice(tps, func(i, j int) bool { return tps[i].Opened > tps[j].Opened })
	ov.Topics = []TopicPayload{}
	for i := range tps {
		tp := &tps[i]
		hb := map[string]hot{}
		var rows []scoreRow
		if err := e.o.DB.Select(ctx, &rows, `SELECT term, max(count) AS count, max(score) AS score FROM netpulse.term_scores
			WHERE bucket_seconds = ? AND bucket = ? AND has(?, term) GROUP BY term`, e.secs(), time.Unix(tp.LastHot, 0).UTC(), tp.Terms); err != nil {
			return ov, err
		}
		for _, r := range rows {
			hb[r.Term] = hot{term: r.Term, count: uint64(r.Count), score: float64(r.Score)}
		}
		p, err := e.payload(ctx, last, tp, hb)
		if err != nil {
			return ov, err
		}
		ov.Topics = append(ov.Topics, p)
	}
	return ov, nil
}

func (e *Engine) handleTrends(w http.ResponseWriter, r *http.Request) {
	ov, err := e.Topics(r.Context())
	if err != nil {
		jsonapi.Fail(w, e.o.Log, err, "trends query failed")
		return
	}
	jsonapi.Write(w, http.StatusOK, ov)
}

// TermPoint is one bucket of a term's history.
type TermPoint struct {
	Bucket time.Time `json:"bucket"`
	Count  uint64    `json:"count"`
	Score  float64   `json:"score"`
	Alert  bool      `json:"alert"`
}

// TermHistory is the body of GET /api/v1/trends/terms/{term}.
type TermHistory struct {
	Term          string      `json:"term"`
	BucketSeconds int64       `json:"bucket_seconds"`
	Tracked       bool        `json:"tracked"`
	FirstSeen     *time.Time  `json:"first_seen"`
	Points        []TermPoint `json:"points"`
}

// History reads one term's counts and scores between from and to.
func (e *Engine) History(ctx context.Context, term string, from, to time.Time) (TermHistory, error) {
	e.mu.Lock()
	_, tracked := e.st.terms[term]
	e.mu.Unlock()
	h := TermHistory{Term: term, BucketSeconds: int64(e.o.Bucket / time.Second), Tracked: tracked, Points: []TermPoint{}}
	var fs []struct {
		N     uint64    `json:"n"`
		First time.Time `json:"first"`
	}
	if err := e.o.DB.Select(ctx, &fs, `SELECT count() AS n, min(first_seen) AS first FROM netpulse.term_first_seen WHERE term = ?`, term); err != nil {
		return h, err
	}
	if len(fs) == 1 && fs[0].N > 0 {
		t := fs[0].First.UTC()
		h.FirstSeen = &t
	}
	var rows []struct {
		Bucket time.Time `json:"bucket"`
		Count  uint64    `json:"count"`
		Score  float64   `json:"score"`
		Alert  uint8     `json:"alert"`
	}
	if err := e.o.DB.Select(ctx, &rows, `SELECT bucket, max(c) AS count, max(s) AS score, max(a) AS alert FROM (
		  SELECT bucket, uniqExactMerge(clusters) AS c, toFloat64(0) AS s, toUInt8(0) AS a FROM netpulse.term_counts
		  WHERE bucket_seconds = ? AND term = ? AND bucket >= ? AND bucket < ? GROUP BY bucket
		  UNION ALL
		  SELECT bucket, toUInt64(0) AS c, toFloat64(score) AS s, alert AS a FROM netpulse.term_scores
		  WHERE bucket_seconds = ? AND term = ? AND bucket >= ? AND bucket < ?)
		GROUP BY bucket ORDER BY bucket`, e.secs(), term, from, to, e.secs(), term, from, to); err != nil {
		return h, err
	}
	for _, r := range rows {
		h.Points = append(h.Points, TermPoint{Bucket: r.Bucket.UTC(), Count: r.Count, Score: r.Score, Alert: r.Alert != 0})
	}
	return h, nil
}

func (e *Engine) handleTerm(w http.ResponseWriter, r *http.Request) {
	to := time.Now().UTC()
	from := to.Add(-48 * time.Hour)
	q := r.URL.Query()
	if s := q.Get("from"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			jsonapi.Error(w, http.StatusBadRequest, "from: "+err.Error())
			return
		}
		from = t
	}
	if s := q.Get("to"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			jsonapi.Error(w, http.StatusBadRequest, "to: "+err.Error())
			return
		}
		to = t
	}
	if !from.Before(to) || to.Sub(from) > 400*24*time.Hour {
		jsonapi.Error(w, http.StatusBadRequest, "want from < to, at most 400 days apart")
		return
	}
	h, err := e.History(r.Context(), r.PathValue("term"), from, to)
	if err != nil {
		jsonapi.Fail(w, e.o.Log, err, "trends query failed")
		return
	}
	jsonapi.Write(w, http.StatusOK, h)
}
