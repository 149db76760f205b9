package posts

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, field string
	}{
		{"valid", `{"id":"p1","source":"weibo","title":"火灾","body":"北湖镇","published_at":"2026-11-28T08:00:00Z","cluster_id":12}`, ""},
		{"not json", `{"id":`, "decode"},
		{"no id", `{"source":"weibo","body":"x","published_at":"2026-11-28T08:00:00Z"}`, "id"},
		{"no source", `{"id":"p","body":"x","published_at":"2026-11-28T08:00:00Z"}`, "source"},
		{"no text", `{"id":"p","source":"s","published_at":"2026-11-28T08:00:00Z"}`, "body"},
		{"no time", `{"id":"p","source":"s","body":"x"}`, "published_at"},
		{"bad utf-8", "{\"id\":\"p\",\"source\":\"s\",\"body\":\"\\udc00\",\"published_at\":\"2026-11-28T08:00:00Z\"}", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %q", err, tc.field)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"p1","source":"weibo","title":"火灾","body":"北湖镇","published_at":"2026-11-28T08:00:00Z"}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Decode(in)
		if err != nil {
			return
		}
		if p.ID == "" || p.Source == "" || p.PublishedAt.IsZero() || len(p.Body) > MaxBodyLen {
			t.Fatalf("Decode accepted an invalid post: %+v", p)
		}
	})
}
