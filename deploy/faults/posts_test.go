package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

const postSource = "faultsrc"

var postWords = []string{"地铁", "暴雨", "停电", "演唱会", "诈骗", "火灾", "交通", "学校", "医院", "公园", "物价", "招聘", "快递", "外卖", "房租"}

// postBatch is n NDJSON posts with ids fp-<seq>; each text differs enough
// that none is a near duplicate of another.
func postBatch(first, n int) []byte {
	var b bytes.Buffer
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		seq := first + i
		body := fmt.Sprintf("第%d号测试帖子：%s和%s，编号%d，%s附近%s。", seq, postWords[seq%len(postWords)],
			postWords[(seq/7)%len(postWords)], seq*7919, postWords[(seq/3)%len(postWords)], postWords[(seq/11)%len(postWords)])
		j, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("fp-%d", seq), "source": postSource,
			"url": fmt.Sprintf("https://example.test/p/%d", seq), "title": fmt.Sprintf("测试标题 %d", seq),
			"body": body, "author": "tester", "published_at": now.Add(-time.Duration(seq%600) * time.Second).Format(time.RFC3339)})
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// postFeedInterval paces feedPosts: 200 batches a second at most.
const postFeedInterval = 5 * time.Millisecond

// feedPosts pushes batches of per posts as a partner would, resending a
// batch until it is acknowledged, until ctx ends. It sends at most one batch
// every postFeedInterval: a feed as fast as the server answers sent more
// posts the faster the machine was (50,000 in ten seconds on a quiet one),
// and the disk-full test's 32 MB index could then not hold what it had
// acknowledged once space came back.
func feedPosts(ctx context.Context, s *server, token string, per int, ack *acked, seq *atomic.Int64) {
	tick := time.NewTicker(postFeedInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		first := int(seq.Add(int64(per))) - per
		body := postBatch(first, per)
		for ctx.Err() == nil {
			r, err := s.call(ctx, "POST", "/api/v1/intake/posts", token, body, "Content-Type", "application/x-ndjson")
			if err == nil && r.code == 200 {
				var ans struct {
					Accepted int `json:"accepted"`
				}
				if json.Unmarshal(r.body, &ans) == nil && ans.Accepted == per {
					keys := make([]string, per)
					for i := range keys {
						keys[i] = fmt.Sprintf("fp-%d", first+i)
					}
					ack.add(keys...)
				}
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// checkPostsIndexed waits (bounded) until the post search finds at least
// every acknowledged post of the test source and returns its total.
func checkPostsIndexed(t *testing.T, s *server, token string, ack *acked) int {
	t.Helper()
	day := time.Now().UTC()
	path := fmt.Sprintf("/api/v1/search/posts?q=source:%s&collapse=0&facets=0&from=%s&to=%s", postSource,
		day.AddDate(0, 0, -2).Format(time.DateOnly), day.AddDate(0, 0, 1).Format(time.DateOnly))
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := s.mustCall(t, "GET", path, token, nil)
		if r.code != 200 {
			t.Fatalf("search posts: %s", r)
		}
		var ans struct {
			Total int `json:"total"`
		}
		decode(t, r, &ans)
		if ans.Total >= ack.len() || time.Now().After(deadline) {
			if ans.Total < ack.len() {
				t.Errorf("post index finds %d posts, %d were acknowledged", ans.Total, ack.len())
			}
			// Let a batch in flight settle, then read once more.
			time.Sleep(time.Second)
			r = s.mustCall(t, "GET", path, token, nil)
			decode(t, r, &ans)
			return ans.Total
		}
		time.Sleep(time.Second)
	}
}

// countPostsInStore opens the stopped server's chDB store (one engine per
// process: only one test may call this) and checks every acknowledged post
// is there. It returns the number of stored posts of the test source.
func countPostsInStore(t *testing.T, data string, ack *acked) int {
	t.Helper()
	b, err := chdb.Open(filepath.Join(data, "chdb"))
	if err != nil {
		t.Fatalf("open chDB of the stopped server: %v", err)
	}
	db := store.New(b, nil)
	defer db.Close()
	var rows []struct {
		ID string `json:"id"`
		N  uint64 `json:"n"`
	}
	if err := db.Select(context.Background(), &rows, `SELECT id, count() AS n FROM netpulse.posts FINAL WHERE source = ? GROUP BY id`, postSource); err != nil {
		t.Fatalf("count stored posts: %v", err)
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[r.ID] = true
		if r.N != 1 {
			t.Errorf("post %s stored %d times", r.ID, r.N)
		}
	}
	ack.mu.Lock()
	defer ack.mu.Unlock()
	missing := 0
	for id := range ack.keys {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged posts are not in the store", missing)
	}
	return len(rows)
}
