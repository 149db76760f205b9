package i18n

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"testing/fstest"
)

func TestOf(t *testing.T) {
	tests := []struct {
		name, query, cookie, want string
	}{
		{"default", "", "", "zh-CN"},
		{"cookie", "", "en", "en"},
		{"cookie in another case", "", "EN", "en"},
		{"query before cookie", "zh-cn", "en", "zh-CN"},
		{"unknown language", "fr", "", "zh-CN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?lang="+tt.query, nil)
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: Cookie, Value: tt.cookie})
			}
			if got := Of(r); got != tt.want {
				t.Errorf("Of = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadTextMissing(t *testing.T) {
	fsys := fstest.MapFS{
		"m/zh-CN.json": {Data: []byte(`{"hello":"你好，%s","only.zh":"仅中文"}`)},
		"m/en.json":    {Data: []byte(`{"hello":"hello, %s"}`)},
	}
	cats, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ lang, key, arg, want string }{
		{"zh-CN", "hello", "李", "你好，李"},
		{"en", "hello", "Li", "hello, Li"},
		{"en", "nope", "", "[nope]"},
		{"zh-CN", "only.zh", "", "仅中文"},
	} {
		var args []any
		if tt.arg != "" {
			args = append(args, tt.arg)
		}
		if got := cats[tt.lang].Text(tt.key, args...); got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.lang, tt.key, got, tt.want)
		}
	}
	if got := Missing(cats); !slices.Equal(got, []string{"en: only.zh"}) {
		t.Errorf("Missing = %v, want [en: only.zh]", got)
	}
	if _, err := Load(fstest.MapFS{"m/zh-CN.json": {Data: []byte(`{}`)}}, "m"); err == nil {
		t.Error("Load without an en catalogue succeeded")
	}
	if _, err := Load(fstest.MapFS{"m/zh-CN.json": {Data: []byte(`{`)}, "m/en.json": {Data: []byte(`{}`)}}, "m"); err == nil {
		t.Error("Load of broken JSON succeeded")
	}
}
