package posts_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/posts"
)

// countingCutter counts the cuts the consumer makes.
type countingCutter struct {
	*jieba.Segmenter
	cuts atomic.Int64
}

func (c *countingCutter) CutPost(title, body string) *jieba.Cut {
	c.cuts.Add(1)
	return c.Segmenter.CutPost(title, body)
}

// recordingIndex keeps what it is asked to index.
type recordingIndex struct{ got []posts.Post }

func (r *recordingIndex) IndexPosts(_ context.Context, ps []posts.Post) error {
	r.got = append(r.got, ps...)
	return nil
}

// TestOneCutPerPost: a post that arrives with a usable cut is not cut
// again; one without, or with a cut from another dictionary or that does
// not fit its text, is cut once. The index gets every post with a usable
// cut, and the terms stored and handed on are the segmenter's Terms.
func TestOneCutPerPost(t *testing.T) {
	mk := func(id, body string, cut func(title, body string) *jieba.Cut) bus.Message {
		p := posts.Post{ID: id, Source: "weibo", Title: "临江区警情通报", Body: body,
			PublishedAt: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
		if cut != nil {
			p.Cut = cut(p.Title, p.Body)
		}
		v, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return bus.Message{Key: []byte(id), Value: v, Time: time.Now()}
	}
	fresh := seg.CutPost
	stale := func(title, body string) *jieba.Cut { c := seg.CutPost(title, body); c.Fingerprint = "v0-old"; return c }
	misfit := func(title, body string) *jieba.Cut {
		c := seg.CutPost(title, body)
		c.Body = append(c.Body, jieba.Span{Start: 0, End: len(body) + 3})
		return c
	}
	msgs := []bus.Message{
		mk("cut", "嫌疑人以兼职刷单为名实施电信诈骗。", fresh),
		mk("none", "野生动物交易市场已经关闭。", nil),
		mk("stale", "第一线医护人员连续工作。", stale),
		mk("misfit", "The iPhone 15 在滨江路被盗。", misfit),
	}
	cutter := &countingCutter{Segmenter: seg}
	idx := &recordingIndex{}
	terms := map[string][]string{}
	c, err := posts.NewConsumer(nil, memStore{}, idx, cutter, posts.Config{
		OnTerms: func(_ context.Context, p *posts.Post, ts []string) error { terms[p.ID] = ts; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Process(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if n := cutter.cuts.Load(); n != 3 {
		t.Errorf("%d cuts for 4 posts of which one came with a usable cut; want 3", n)
	}
	if len(idx.got) != len(msgs) {
		t.Fatalf("indexed %d posts, want %d", len(idx.got), len(msgs))
	}
	for _, p := range idx.got {
		if !seg.Usable(p.Cut, p.Title, p.Body) {
			t.Errorf("%s went to the index without a usable cut: %+v", p.ID, p.Cut)
		}
		if want := seg.Terms(p.Title + "\n" + p.Body); !reflect.DeepEqual(terms[p.ID], want) {
			t.Errorf("%s: terms %v, want %v", p.ID, terms[p.ID], want)
		}
	}
}

type memStore struct{}

func (memStore) Insert(context.Context, string, any) error { return nil }

// TestIntakeDropsPartnerCut: a pushed post's "cut" is never trusted; the
// intake makes its own.
func TestIntakeDropsPartnerCut(t *testing.T) {
	forged, _ := json.Marshal(&jieba.Cut{Fingerprint: seg.Fingerprint(), Body: []jieba.Span{{Start: 0, End: 3}}})
	line := `{"id":"p1","source":"partner","title":"标题","body":"电信诈骗案告破","published_at":"2026-11-20T08:00:00Z","cut":` + string(forged) + "}\n"
	ps, rejected, err := posts.ParseBatch([]byte(line), time.Now())
	if err != nil || len(rejected) != 0 || len(ps) != 1 {
		t.Fatalf("parse: %v %v %d", err, rejected, len(ps))
	}
	if ps[0].Cut != nil {
		t.Fatalf("partner's cut kept: %+v", ps[0].Cut)
	}
}

// TestBodiesReadBack: the bodies the search index leaves out are read back
// from the store, the latest fetch of each id, unknown ids left out.
func TestBodiesReadBack(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	type r struct {
		ID          string    `json:"id"`
		Source      string    `json:"source"`
		Body        string    `json:"body"`
		PublishedAt time.Time `json:"published_at"`
		FetchedAt   time.Time `json:"fetched_at"`
	}
	rows := []r{
		{"bodies-1", "weibo", "旧的正文", at, at},
		{"bodies-1", "weibo", "新的正文，'引号' 和 \\ 反斜杠", at, at.Add(time.Hour)},
		{"bodies-2", "weibo", "第二条", at, at},
	}
	if err := db.Insert(ctx, posts.Table, rows); err != nil {
		t.Fatal(err)
	}
	got, err := posts.Bodies{DB: db}.PostBodies(ctx, []string{"bodies-1", "bodies-2", "bodies-none"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bodies-1": "新的正文，'引号' 和 \\ 反斜杠", "bodies-2": "第二条"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
