package rules

import (
	"testing"
	"time"
)

func TestZhDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0秒"},
		{-time.Minute, "0秒"},
		{1400 * time.Millisecond, "1秒"},
		{45 * time.Second, "45秒"},
		{time.Hour, "1小时"},
		{90 * time.Minute, "1小时30分钟"},
		{26*time.Hour + 5*time.Second, "1天2小时5秒"},
	}
	for _, tt := range tests {
		if got := zhDuration(tt.d); got != tt.want {
			t.Errorf("zhDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
