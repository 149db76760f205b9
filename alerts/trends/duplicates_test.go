package trends_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// TestDuplicatesOnTheBusCountOnce is issue 20's promise for the term
// counter, and through it the detector: kafka-go retries are not
// idempotent, and a consumer that crashes before its commit reads a batch
// again. A stream in which every message comes twice, the copies in
// another order, must leave the same term counts, mentions, stored
// samples and first-seen dates as the stream published once.
//
// The two streams are the same posts in two windows a day apart (an odd
// bucket size, ten days back), so each window holds one stream's rows
// only and the two can be compared bucket by bucket.
func TestDuplicatesOnTheBusCountOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bucket := 13 * time.Second
	base := time.Now().Add(-10 * 24 * time.Hour).Truncate(bucket)
	texts := append([]string{burstText, burstText + "转发"}, background...)

	type post struct {
		text    string
		offset  time.Duration
		cluster uint64
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	var stream []post
	for i := 0; i < 400; i++ {
		var cl uint64
		if i%5 == 0 {
			cl = uint64(1 + rnd.IntN(20)) // near-duplicate clusters
		}
		stream = append(stream, post{texts[rnd.IntN(len(texts))], time.Duration(rnd.Int64N(int64(40 * bucket))), cl})
	}

	run := func(start time.Time, twice bool) *rig {
		r := newRig(t, bucket)
		var msgs []bus.Message
		for _, p := range stream {
			at := start.Add(p.offset)
			m := r.post(p.text, at, p.cluster)
			msgs = append(msgs, m)
		}
		if twice {
			again := append([]bus.Message(nil), msgs...)
			rnd.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
			msgs = append(msgs, again...)
			// and a few copies inside the first pass too, as a retry makes them
			msgs = append(msgs[:50:50], append(append([]bus.Message(nil), msgs[:50]...), msgs[50:]...)...)
		}
		r.publish(ctx, msgs)
		c := r.counter(ctx)
		r.waitDrained(ctx, c)
		return r
	}
	day := 24 * time.Hour / bucket * bucket // a day, in whole buckets
	once := run(base, false)
	twice := run(base.Add(day), true)

	type row struct {
		Bucket   int64  `json:"b"`
		Term     string `json:"term"`
		Clusters uint64 `json:"clusters"`
	}
	counts := func(from time.Time) []row {
		var out []row
		if err := db.Select(ctx, &out, `SELECT toInt64(toUnixTimestamp(bucket)) - ? AS b, term, uniqExactMerge(clusters) AS clusters
			FROM netpulse.term_counts WHERE bucket_seconds = ? AND bucket >= ? AND bucket < ?
			GROUP BY b, term ORDER BY b, term`, from.Unix(), uint32(bucket/time.Second), from, from.Add(41*bucket)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	type n struct {
		N uint64 `json:"n"`
	}
	one := func(q string, args ...any) uint64 {
		var out []n
		if err := db.Select(ctx, &out, q, args...); err != nil {
			t.Fatal(err)
		}
		return out[0].N
	}
	a, b := counts(base), counts(base.Add(day))
	if len(a) == 0 {
		t.Fatal("the stream published once left no term counts")
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("term counts differ: once %d rows, twice %d rows; first difference %s", len(a), len(b), firstDiff(a, b))
	}
	for _, q := range []string{
		`SELECT count() AS n FROM netpulse.term_mentions FINAL WHERE post_id LIKE ?`,
		`SELECT count() AS n FROM netpulse.alert_posts FINAL WHERE id LIKE ?`,
	} {
		if x, y := one(q, once.unit+"-%"), one(q, twice.unit+"-%"); x != y || x == 0 {
			t.Errorf("%s: once %d, twice %d", q, x, y)
		}
	}
}

func firstDiff[T any](a, b []T) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return fmt.Sprintf("%+v vs %+v", a[i], b[i])
		}
	}
	return "in length"
}
