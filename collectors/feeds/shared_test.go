package feeds

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// sharedStore opens a store in its own folder and makes its source registry
// one node's copy of the cluster's, the way serve --kafka does.
func sharedStore(t *testing.T, broker string) *Store {
	t.Helper()
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := kvtopic.Open(ctx, kvtopic.Options{Brokers: []string{broker},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	l.Register(StateTable, st.StateTable())
	rctx, stop := context.WithCancel(context.Background())
	if err := l.Start(rctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := l.Wait(); err != nil {
			t.Errorf("applier: %v", err)
		}
		l.Close()
		st.Close()
	})
	st.Share(l)
	return st
}

func sourceNames(t *testing.T, st *Store) []string {
	t.Helper()
	if err := st.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	srcs, err := st.Sources()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range srcs {
		out = append(out, s.Name)
	}
	return out
}

// A source added on one node is listed, and crawled, by the others; one
// deleted on another node is gone everywhere, with its health.
func TestSourcesShared(t *testing.T) {
	broker := kafkatest.ForTest(t)
	a, b := sharedStore(t, broker), sharedStore(t, broker)
	ctx := context.Background()
	if err := a.PutSources(ctx, feedSource("xinhua", KindRSS, "https://x.cn/rss.xml"),
		feedSource("people", KindRSS, "https://p.cn/rss.xml")); err != nil {
		t.Fatal(err)
	}
	if got := sourceNames(t, b); len(got) != 2 || got[0] != "people" || got[1] != "xinhua" {
		t.Fatalf("sources added on A, listed by B: %v", got)
	}
	src, err := b.Source("xinhua")
	if err != nil || src.URL != "https://x.cn/rss.xml" || src.HostDelay == 0 {
		t.Errorf("xinhua on B: %+v, %v; want it with defaults filled", src, err)
	}
	if err := a.putHealth(SourceHealth{Source: "people", ConsecutiveFailures: 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteSource(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	if got := sourceNames(t, a); len(got) != 1 || got[0] != "xinhua" {
		t.Errorf("after B deleted people, A lists %v", got)
	}
	hs, err := a.healths()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := hs["people"]; ok {
		t.Error("A kept the health of a source deleted on B")
	}
	if err := a.DeleteSource(ctx, "people"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting people again on A: %v, want ErrNotFound", err)
	}
	if ok, err := b.Replica(); !ok || err != nil {
		t.Errorf("B's store after applying the topic: Replica = %v, %v", ok, err)
	}
}
