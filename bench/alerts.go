package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/alerts/burst"
	"github.com/netpulse/netpulse/alerts/lifecycle"
	"github.com/netpulse/netpulse/alerts/terms"
	"github.com/netpulse/netpulse/alerts/trends"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/posts"
	"github.com/netpulse/netpulse/pipeline/store"
)

// benchAlerts measures the trends engine's per-bucket pass at each tracked
// term count of the scale, and the time from a burst's first post to its
// topic alert.
func benchAlerts(ctx context.Context, env *benchEnv) ([]benchRow, error) {
	db, err := env.benchDB(ctx)
	if err != nil {
		return nil, err
	}
	mgr, err := lifecycle.Open(ctx, lifecycle.Options{DB: db, Log: env.log})
	if err != nil {
		return nil, err
	}
	var rows []benchRow
	for i, tracked := range env.scale.Terms {
		row, err := benchBucketPass(ctx, env, db, mgr, tracked, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	row, err := benchBurstToAlert(ctx, env, db, mgr)
	if err != nil {
		return nil, err
	}
	return append(rows, row), nil
}

// benchMention is a netpulse.term_mentions row, as the term counter writes.
type benchMention struct {
	BucketSeconds uint32    `json:"bucket_seconds"`
	Bucket        time.Time `json:"bucket"`
	Term          string    `json:"term"`
	Cluster       uint64    `json:"cluster"`
	PostID        string    `json:"post_id"`
}

// benchPassBuckets is how many buckets each tracked-term count is timed over.
const benchPassBuckets = 5

// benchBucketPass times trends.Engine.Step over one closed bucket (read the
// bucket's counts from the store, update every tracked term's detector,
// store the scores, group, save the state) with tracked terms, a tenth of
// them mentioned in the bucket. The ceiling is the detector alone
// (burst.State.Update for every tracked term), the part no pass can skip.
func benchBucketPass(ctx context.Context, env *benchEnv, db *store.DB, mgr *lifecycle.Manager, tracked, nth int) (benchRow, error) {
	// A bucket size of its own (about five minutes) keeps each count's
	// rows apart from the others' and from the posts stage's.
	bucket := time.Duration(299-nth) * time.Second
	secs := uint32(bucket / time.Second)
	base := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(bucket)
	rnd := rand.New(rand.NewPCG(3, uint64(tracked)))
	term := func(i int) string { return fmt.Sprintf("词%s%06d", env.run, i) }
	insert := func(rows []benchMention) error {
		for i := 0; i < len(rows); i += 100_000 {
			if err := db.Insert(ctx, "netpulse.term_mentions", rows[i:min(i+100_000, len(rows))]); err != nil {
				return err
			}
		}
		return nil
	}
	env.progress(fmt.Sprintf("alerts: %d tracked terms", tracked), 1+benchPassBuckets)
	// Every term reaches the tracking support (3 clusters) in the first bucket.
	first := make([]benchMention, 0, 3*tracked)
	for i := 0; i < tracked; i++ {
		for c := uint64(1); c <= 3; c++ {
			first = append(first, benchMention{secs, base, term(i), c, term(i)})
		}
	}
	if err := insert(first); err != nil {
		return benchRow{}, err
	}
	now := base.Add(bucket + time.Second)
	eng, err := trends.New(trends.Options{DB: db, Raiser: mgr, Dir: filepath.Join(env.dir, fmt.Sprintf("trends-%d", tracked)),
		Bucket: bucket, Grace: time.Second, Log: env.log, Now: func() time.Time { return now }})
	if err != nil {
		return benchRow{}, err
	}
	if n, err := eng.Step(ctx); err != nil || n != 1 {
		return benchRow{}, fmt.Errorf("alerts bench: first pass evaluated %d buckets: %v", n, err)
	}
	env.step(1)
	var pass time.Duration
	for b := 1; b <= benchPassBuckets; b++ {
		at := base.Add(time.Duration(b) * bucket)
		mentioned := make([]benchMention, 0, tracked/10)
		for k := 0; k < tracked/10; k++ {
			t := term(rnd.IntN(tracked))
			mentioned = append(mentioned, benchMention{secs, at, t, uint64(k), t})
		}
		if err := insert(mentioned); err != nil {
			return benchRow{}, err
		}
		now = at.Add(bucket + time.Second)
		start := time.Now()
		if n, err := eng.Step(ctx); err != nil || n != 1 {
			return benchRow{}, fmt.Errorf("alerts bench: pass %d evaluated %d buckets: %v", b, n, err)
		}
		pass += time.Since(start)
		env.step(1)
	}
	if ov, err := eng.Topics(ctx); err != nil || ov.TrackedTerms != tracked {
		return benchRow{}, fmt.Errorf("alerts bench: tracking %d terms, want %d (%v)", ov.TrackedTerms, tracked, err)
	}

	// The detector alone over the same number of series and buckets; the
	// faster of two passes, as every ceiling is the best of its passes.
	alone := time.Duration(1<<63 - 1)
	for pass := 0; pass < 2; pass++ {
		states := make([]burst.State, tracked)
		counts := make([]float64, tracked)
		for i := range states {
			states[i].Update(base.Unix(), 3)
		}
		var d time.Duration
		for b := 1; b <= benchPassBuckets; b++ {
			clear(counts)
			for k := 0; k < tracked/10; k++ {
				counts[rnd.IntN(tracked)]++
			}
			at := base.Add(time.Duration(b) * bucket).Unix()
			start := time.Now()
			for i := range states {
				states[i].Update(at, counts[i])
			}
			d += time.Since(start)
		}
		alone = min(alone, d)
	}
	per := func(d time.Duration) float64 { return ms(d) / benchPassBuckets }
	return benchRow{Metric: fmt.Sprintf("bucket pass, %d tracked terms", tracked), Value: per(pass), Unit: "ms/bucket",
		Ceiling: "burst detector alone", CeilingVal: per(alone), LowerBetter: true,
		Description: fmt.Sprintf("mean of %d buckets, %d terms mentioned in each", benchPassBuckets, tracked/10)}, nil
}

// Everyday chatter for the burst bench's history, and the event.
var (
	benchChatter = []string{"市民反映小区停车位紧张物业回应", "地铁三号线早高峰客流平稳", "本周末气温回升适合户外踏青",
		"社区举办老年人智能手机培训", "菜市场蔬菜价格保持稳定", "学校开展交通安全主题班会", "图书馆延长周末开放时间",
		"公园新增健身器材受到欢迎", "夜市小吃摊位规范经营", "医院推出线上预约挂号服务"}
	// One event per burst, with no word in common with the chatter or
	// with each other, so that each raises a topic of its own.
	benchBursts = []string{"高架桥下仓库突发火灾现场浓烟滚滚消防赶到", "城郊水库大坝出现管涌险情村民连夜撤离",
		"地铁站台电梯突然倒行多名乘客摔伤送医", "景区索道故障游客被困半空等待营救", "化工园区储罐泄漏刺激性气味周边住户疏散"}
)

// benchBurstBucket is the burst bench's bucket; the detector's time is
// scaled so that each counts as five minutes, as in the demo.
const benchBurstBucket = 2 * time.Second

// benchBurstToAlert runs, on a journal and the store, the term counter
// (cutting with the process's jieba segmenter) and the trends engine as
// serve runs them, over 300 buckets of chatter, then starts a burst at a
// bucket boundary and times its first post to the topic alert. The ceiling
// is one bucket plus the grace: no per-bucket detector can speak before
// the burst's first bucket has closed.
func benchBurstToAlert(ctx context.Context, env *benchEnv, db *store.DB, mgr *lifecycle.Manager) (benchRow, error) {
	seg, err := env.benchSeg()
	if err != nil {
		return benchRow{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const grace = 300 * time.Millisecond
	j, err := journal.Open(journal.Options{Dir: filepath.Join(env.dir, "journal"), Logger: env.log})
	if err != nil {
		return benchRow{}, err
	}
	defer j.Close()
	seq := 0
	post := func(text string, at time.Time) (bus.Message, error) {
		seq++
		p := posts.Post{ID: fmt.Sprintf("burst-%s-%d", env.run, seq), Source: "bench-news", URL: fmt.Sprintf("https://bench.example/b/%d", seq),
			Title: text, Body: text, PublishedAt: at, FetchedAt: at}
		v, err := json.Marshal(&p)
		return bus.Message{Key: []byte(p.ID), Value: v, Time: at}, err
	}
	env.progress("alerts: burst to alert", 3)
	rnd := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Truncate(benchBurstBucket)
	var history []bus.Message
	for i := 300; i > 0; i-- {
		b := start.Add(-time.Duration(i) * benchBurstBucket)
		for k := 0; k < 8; k++ {
			m, err := post(benchChatter[rnd.IntN(len(benchChatter))], b.Add(time.Duration(rnd.Int64N(int64(benchBurstBucket)))))
			if err != nil {
				return benchRow{}, err
			}
			history = append(history, m)
		}
	}
	if err := j.Publish(ctx, bus.TopicPosts, history...); err != nil {
		return benchRow{}, err
	}
	counter, err := terms.New(terms.Options{Bus: j, DB: db, Tokenizer: seg, Bucket: benchBurstBucket, Grace: grace,
		Group: "bench-burst", Log: env.log})
	if err != nil {
		return benchRow{}, err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); counter.Run(ctx) }()
	if err := benchWaitDrained(ctx, func(int) {}, j, len(history), counter.Group()); err != nil {
		return benchRow{}, err
	}
	env.step(1)
	eng, err := trends.New(trends.Options{DB: db, Raiser: mgr, Dir: filepath.Join(env.dir, "trends-burst"), Bucket: benchBurstBucket,
		Grace: grace, TimeScale: float64(5*time.Minute) / float64(benchBurstBucket), Unit: "bench-" + env.run, Log: env.log})
	if err != nil {
		return benchRow{}, err
	}
	if _, err := eng.Step(ctx); err != nil {
		return benchRow{}, err
	}
	events, unsub := mgr.Subscribe(64)
	defer unsub()
	wg.Add(1)
	go func() { defer wg.Done(); eng.Run(ctx) }()
	env.step(1)

	bursts := min(max(1, env.scale.Bursts), len(benchBursts))
	var lats []time.Duration
	for i := 0; i < bursts; i++ {
		lat, err := benchOneBurst(ctx, j, events, post, benchBursts[i], "bench-"+env.run)
		if err != nil {
			return benchRow{}, err
		}
		lats = append(lats, lat)
		// Let the burst cool off before the next one.
		time.Sleep(3 * benchBurstBucket)
	}
	env.step(1)
	each := make([]string, len(lats))
	for i, l := range lats {
		each[i] = fmt.Sprintf("%.2f", l.Seconds())
	}
	slices.Sort(lats)
	return benchRow{Metric: "burst first post → topic alert, median", Value: lats[len(lats)/2].Seconds(), Unit: "s",
		Ceiling: "one bucket + grace", CeilingVal: (benchBurstBucket + grace).Seconds(), LowerBetter: true,
		Description: fmt.Sprintf("%s buckets seen as 5 min, 30 posts/s of one event after 300 buckets of chatter; %d bursts: %s s",
			benchBurstBucket, len(lats), strings.Join(each, ", "))}, nil
}

// benchOneBurst starts publishing text (30 posts/s) just after a bucket
// begins, so that the ceiling is exactly one bucket plus the grace, and
// returns the time from its first post to the topic alert of unit.
func benchOneBurst(ctx context.Context, j *journal.Journal, events <-chan lifecycle.Event,
	post func(string, time.Time) (bus.Message, error), text, unit string) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := time.Now().Truncate(benchBurstBucket).Add(benchBurstBucket + 10*time.Millisecond)
	time.Sleep(time.Until(first))
	first = time.Now()
	pubErr := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			var msgs []bus.Message
			for k := 0; k < 3; k++ {
				m, err := post(text, time.Now())
				if err != nil {
					pubErr <- err
					return
				}
				msgs = append(msgs, m)
			}
			if err := j.Publish(ctx, bus.TopicPosts, msgs...); err != nil {
				if ctx.Err() == nil {
					pubErr <- err
				}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	timeout := time.After(10*benchBurstBucket + 60*time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Type == "opened" && ev.Alert.Kind == "topic" && ev.Alert.Unit == unit {
				return time.Since(first), nil
			}
		case err := <-pubErr:
			return 0, err
		case <-timeout:
			return 0, fmt.Errorf("alerts bench: no topic alert for %q within %s of its burst", text, time.Since(first).Round(time.Second))
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
