package posts_test

import (
	"context"
	"encoding/json"
	"github.com/netpulse/netpulse/pipeline/posts"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus"
)

func TestIntakePublishesGoodRowsAndNamesBadOnes(t *testing.T) {
	f := newFixture(t)
	in := &posts.Intake{Producer: f.j, Now: func() time.Time { return time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC) }}
	body := strings.Join([]string{
		`{"id":"push-1","source":"partner-a","url":"https://a.cn/1","title":"北湖镇发生火灾","body":"消防救援人员及时赶到。","author":"a","published_at":"2026-11-28T08:00:00Z"}`,
		`{"id":"push-2","source":"partner-a","title":"临江区警方提醒","body":"谨防兼职刷单诈骗。","published_at":"2026-11-28T08:30:00+08:00"}`,
		`{"id":"push-3","source":"","body":"无来源","published_at":"2026-11-28T08:00:00Z"}`,
		`{"id":"push-4",`,
		`{"id":"push-5","source":"partner-a","body":"时间不对","published_at":"yesterday"}`,
		`{"id":"push-1","source":"partner-a","body":"重复","published_at":"2026-11-28T08:00:00Z"}`,
		``,
	}, "\n")
	rec := httptest.NewRecorder()
	in.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/intake/posts", strings.NewReader(body)))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var res posts.IntakeResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	want := []posts.Rejection{{3, "source", "empty"}, {4, "row", ""}, {5, "published_at", ""}, {6, "id", "same id as row 1"}}
	if res.Accepted != 2 || len(res.Rejected) != len(want) || res.BatchID == "" {
		t.Fatalf("answer %+v", res)
	}
	for i, w := range want {
		g := res.Rejected[i]
		if g.Row != w.Row || g.Field != w.Field || (w.Reason != "" && g.Reason != w.Reason) || g.Reason == "" {
			t.Errorf("rejection %d = %+v, want %+v", i, g, w)
		}
	}
	// The accepted posts take the crawler's path: bus → store + index.
	c, err := posts.NewConsumer(f.cons, db, f.index, seg, posts.Config{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := f.cons.Fetch(context.Background(), 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetched %d messages, err %v", len(msgs), err)
	}
	if err := c.Process(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if n := storedCount(t, "push-"); n != 2 {
		t.Errorf("stored %d pushed posts, want 2", n)
	}
}

func TestIntakeRefusesBodies(t *testing.T) {
	in := &posts.Intake{Producer: nil}
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"empty", "", 400},
		{"broken array", `[{"id":"x"},`, 400},
	} {
		rec := httptest.NewRecorder()
		in.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/intake/posts", strings.NewReader(tc.body)))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), "error") {
			t.Errorf("%s: status %d body %s", tc.name, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	in.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/intake/posts", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rec.Code)
	}
}

type downBus struct{}

func (downBus) Publish(context.Context, string, ...bus.Message) error { return bus.ErrUnavailable }

func TestIntakeBusDownIs503(t *testing.T) {
	in := &posts.Intake{Producer: downBus{}}
	rec := httptest.NewRecorder()
	in.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`[{"id":"a","source":"s","body":"x","published_at":"2026-11-28T08:00:00Z"}]`)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", rec.Code, rec.Body)
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"id":"a","source":"s","body":"火灾","published_at":"2026-11-28T08:00:00Z"}` + "\n" + `{"id":`))
	f.Add([]byte(`[{"id":"a","source":"s","title":"t","published_at":"2026-11-28T08:00:00Z"}]`))
	f.Add([]byte("\n\n"))
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, rejected, err := posts.ParseBatch(body, now)
		if err != nil {
			return
		}
		ids := map[string]bool{}
		for _, p := range got {
			if p.Validate() != nil || ids[p.ID] || p.FetchedAt.IsZero() {
				t.Fatalf("accepted a bad or duplicate post %+v", p)
			}
			ids[p.ID] = true
		}
		for _, r := range rejected {
			if r.Row < 1 || r.Field == "" || r.Reason == "" {
				t.Fatalf("rejection without row, field or reason: %+v", r)
			}
		}
	})
}
