package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A step that fails behind a page is a warning, unless the client went
// away: then every query for it is canceled and nothing is wrong with the
// node (CI once failed on a "context canceled" warning from the operator
// page after the browser navigated on). The page's own deadline is not the
// client's and still warns.
func TestLogFailureQuietWhenTheClientLeft(t *testing.T) {
	tests := []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		logged bool
	}{
		{"client still there", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, true},
		{"client left", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, false},
		{"client left by deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Shell{log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			ctx, cancel := tt.ctx()
			defer cancel()
			r := httptest.NewRequest("GET", "/operator", nil).WithContext(ctx)
			s.logFailure(r, slog.LevelWarn, "delivery history", "err", context.Canceled)
			if got := strings.Contains(logs.String(), `"level":"WARN"`); got != tt.logged {
				t.Errorf("warned = %v, want %v: %q", got, tt.logged, logs.String())
			}
		})
	}
}
