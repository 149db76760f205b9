package trends_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/terms"
	"github.com/netpulse/netpulse/alerts/trends"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/posts"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/storetest"
)

// One chDB engine per process.
var db *store.DB

func TestMain(m *testing.M) { storetest.Main(m, &db) }

// background is everyday chatter; burstText is the event.
var background = []string{
	"市民反映小区停车位紧张物业回应",
	"地铁三号线早高峰客流平稳",
	"本周末气温回升适合户外踏青",
	"社区举办老年人智能手机培训",
	"菜市场蔬菜价格保持稳定",
	"学校开展交通安全主题班会",
	"图书馆延长周末开放时间",
	"公园新增健身器材受到欢迎",
	"夜市小吃摊位规范经营",
	"医院推出线上预约挂号服务",
}

const burstText = "高架桥下仓库突发火灾现场浓烟滚滚消防赶到"

type rig struct {
	t      testing.TB
	bucket time.Duration
	bus    bus.Bus
	dir    string
	unit   string
	rnd    *rand.Rand
	seq    int
}

func newRig(t testing.TB, bucket time.Duration) *rig {
	j, err := journal.Open(journal.Options{Dir: filepath.Join(t.TempDir(), "journal"), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &rig{t: t, bucket: bucket, bus: j, dir: t.TempDir(), unit: fmt.Sprintf("u%d", time.Now().UnixNano()), rnd: rand.New(rand.NewPCG(1, 2))}
}

func (r *rig) post(text string, at time.Time, cluster uint64) bus.Message {
	r.seq++
	p := posts.Post{ID: fmt.Sprintf("%s-%d", r.unit, r.seq), Source: "demo-news", URL: fmt.Sprintf("https://example.test/%d", r.seq),
		Title: text, Body: text, PublishedAt: at, FetchedAt: at, ClusterID: cluster}
	b, _ := jsonMarshal(p)
	// It reached the bus when it was published: history is not late.
	return bus.Message{Key: []byte(p.ID), Value: b, Time: at}
}

func (r *rig) publish(ctx context.Context, msgs []bus.Message) {
	r.t.Helper()
	for i := 0; i < len(msgs); i += 500 {
		if err := r.bus.Publish(ctx, bus.TopicPosts, msgs[i:min(i+500, len(msgs))]...); err != nil {
			r.t.Fatal(err)
		}
	}
}

// history publishes n buckets of background chatter ending before end.
func (r *rig) history(ctx context.Context, end time.Time, n int) {
	var msgs []bus.Message
	for i := n; i > 0; i-- {
		b := end.Add(-time.Duration(i) * r.bucket)
		for k := 0; k < 8; k++ {
			at := b.Add(time.Duration(r.rnd.Int64N(int64(r.bucket))))
			msgs = append(msgs, r.post(background[r.rnd.IntN(len(background))], at, 0))
		}
	}
	r.publish(ctx, msgs)
}

func (r *rig) counter(ctx context.Context) *terms.Counter {
	c, err := terms.New(terms.Options{Bus: r.bus, DB: db, Tokenizer: terms.Bigrams{}, Bucket: r.bucket, Group: "terms-" + r.unit})
	if err != nil {
		r.t.Fatal(err)
	}
	go c.Run(ctx)
	return c
}

func (r *rig) waitDrained(ctx context.Context, c *terms.Counter) {
	r.t.Helper()
	for {
		n, err := r.bus.Lag(ctx, c.Group(), bus.TopicPosts)
		if err != nil {
			r.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			r.t.Fatal("counter did not drain raw.posts")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *rig) open(ctx context.Context) (*lifecycle.Manager, *trends.Engine) {
	r.t.Helper()
	m, err := lifecycle.Open(ctx, lifecycle.Options{DB: db})
	if err != nil {
		r.t.Fatal(err)
	}
	e, err := trends.New(trends.Options{DB: db, Raiser: m, Dir: r.dir, Bucket: r.bucket, Grace: 300 * time.Millisecond,
		TimeScale: float64(5*time.Minute) / float64(r.bucket), Unit: r.unit,
		SourceTitles: func(context.Context) (map[string]string, error) {
			return map[string]string{"weibo": "新浪微博"}, nil
		}})
	if err != nil {
		r.t.Fatal(err)
	}
	return m, e
}

func (r *rig) topicAlerts(m *lifecycle.Manager) []lifecycle.Alert {
	return m.List(lifecycle.Filter{Kind: "topic", Unit: r.unit})
}

func (r *rig) storedTopicAlerts(ctx context.Context) uint64 {
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := db.Select(ctx, &n, `SELECT count() AS n FROM netpulse.alerts FINAL WHERE kind = 'topic' AND unit = ?`, r.unit); err != nil {
		r.t.Fatal(err)
	}
	return n[0].N
}

// TestBurstRaisesOneTopicAcrossRestart injects a burst into a post stream
// on the real journal and chDB, and crashes the detector mid-burst with
// the state saved before the alert, so the restart re-evaluates the alert
// bucket: exactly one topic alert must exist at the end.
func TestBurstRaisesOneTopicAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bucket := time.Second
	r := newRig(t, bucket)
	start := time.Now().Truncate(bucket)
	// 300 buckets at five detector minutes each: a day and a bit.
	r.history(ctx, start, 300)
	c := r.counter(ctx)
	r.waitDrained(ctx, c)
	m, e := r.open(ctx)
	if _, err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.topicAlerts(m); len(got) != 0 {
		t.Fatalf("background alone raised %d topics: %v", len(got), got[0].Terms)
	}
	snapshot, err := os.ReadFile(filepath.Join(r.dir, "trends.state"))
	if err != nil {
		t.Fatal(err)
	}

	// The burst: 20 distinct posts per bucket (and 10 near-duplicates of
	// one of them, which must count once) for six buckets, live.
	burstBuckets := 6
	var alertAt int
	for i := 0; i < burstBuckets; i++ {
		now := time.Now()
		var msgs []bus.Message
		for k := 0; k < 20; k++ {
			msgs = append(msgs, r.post(burstText, now, 0))
		}
		for k := 0; k < 10; k++ {
			msgs = append(msgs, r.post(burstText+"转发", now, 777))
		}
		for k := 0; k < 8; k++ {
			msgs = append(msgs, r.post(background[r.rnd.IntN(len(background))], now, 0))
		}
		r.publish(ctx, msgs)
		time.Sleep(bucket)
		if _, err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if alertAt == 0 && len(r.topicAlerts(m)) > 0 {
			alertAt = i + 1
			// Crash: the process dies having raised the alert but with the
			// state file from before the burst. Restart both parts.
			if err := os.WriteFile(filepath.Join(r.dir, "trends.state"), snapshot, 0o600); err != nil {
				t.Fatal(err)
			}
			m, e = r.open(ctx)
		}
	}
	// Let the last buckets close.
	deadline := time.Now().Add(3 * bucket)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if _, err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if alertAt == 0 {
		t.Fatal("the burst raised no topic alert")
	}
	got := r.topicAlerts(m)
	if len(got) != 1 {
		for _, a := range got {
			t.Logf("topic %s terms %v", a.ID, a.Terms)
		}
		t.Fatalf("want exactly one topic alert, got %d", len(got))
	}
	if n := r.storedTopicAlerts(ctx); n != 1 {
		t.Fatalf("want one stored topic alert, got %d", n)
	}
	a := got[0]
	if !contains(a.Terms, "火灾") {
		t.Errorf("topic terms %v lack 火灾", a.Terms)
	}
	ov, err := e.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Topics) != 1 || len(ov.Topics[0].Samples) == 0 || len(ov.Topics[0].Series.Volume) == 0 {
		t.Fatalf("trends overview: %+v", ov)
	}
	var peak uint64
	for _, ts := range ov.Topics[0].Terms {
		if ts.Term == "火灾" {
			peak = ts.Count
		}
	}
	// 20 distinct posts + one cluster of 10 near-duplicates = 21.
	if peak != 21 {
		t.Errorf("peak count of 火灾 = %d, want 21 (each cluster once)", peak)
	}
	// The same through the API the trends page uses.
	mux := http.NewServeMux()
	e.Mount(mux, func(h http.Handler) http.Handler { return h })
	for _, path := range []string{"/api/v1/trends", "/api/v1/trends/terms/" + url.PathEscape("火灾")} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "火灾") {
			t.Errorf("GET %s: %d %.300s", path, rec.Code, rec.Body.String())
		}
	}
	h, err := e.History(ctx, "火灾", start.Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Tracked || h.FirstSeen == nil || len(h.Points) == 0 {
		t.Errorf("term history: %+v", h)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
