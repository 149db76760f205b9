// Package i18n provides the dashboards' message catalogues: one JSON file
// of key → text per language, the lookup, and the language of a request.
// The web UI and the reports each ship their own files and share this.
package i18n

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
)

// Languages the dashboards speak; the first is the default. Officers work
// in Chinese, so zh-CN is the default whatever the browser asks for.
func Languages() []string { return []string{"zh-CN", "en"} }

// Cookie is the name of the cookie that keeps a user's language.
const Cookie = "np_lang"

// Catalogue maps message keys to text in one language.
type Catalogue map[string]string

// Load reads dir/LANG.json from fsys for every language.
func Load(fsys fs.FS, dir string) (map[string]Catalogue, error) {
	out := map[string]Catalogue{}
	for _, lang := range Languages() {
		name := path.Join(dir, lang+".json")
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read catalogue %s: %w", name, err)
		}
		var c Catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("parse catalogue %s: %w", name, err)
		}
		out[lang] = c
	}
	return out, nil
}

// Text looks key up and formats it with args; a missing key shows itself
// in brackets, so that it is noticed on screen rather than silently blank.
func (c Catalogue) Text(key string, args ...any) string {
	s, ok := c[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Missing lists the keys present in one catalogue and absent from another,
// as "lang: key", so that a test can insist every catalogue is complete.
func Missing(cats map[string]Catalogue) []string {
	all := map[string]bool{}
	for _, c := range cats {
		for k := range c {
			all[k] = true
		}
	}
	var out []string
	for lang, c := range cats {
		for k := range all {
			if _, ok := c[k]; !ok {
				out = append(out, lang+": "+k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Of is the request's language: ?lang= first, then the cookie, then the
// default.
func Of(r *http.Request) string {
	want := r.URL.Query().Get("lang")
	if want == "" {
		if c, err := r.Cookie(Cookie); err == nil {
			want = c.Value
		}
	}
	return Known(want)
}

// Known returns the language named by want (any case), or the default.
func Known(want string) string {
	for _, l := range Languages() {
		if strings.EqualFold(want, l) {
			return l
		}
	}
	return Languages()[0]
}
