package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

// Languages the UI speaks; the first is the default. Officers work in
// Chinese, so zh-CN is the default whatever the browser asks for.
var Languages = []string{"zh-CN", "en"}

const langCookie = "np_lang"

// catalogue maps message keys to text in one language.
type catalogue map[string]string

func loadCatalogues() (map[string]catalogue, error) {
	out := map[string]catalogue{}
	for _, lang := range Languages {
		b, err := catalogueFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("read catalogue %s: %w", lang, err)
		}
		var c catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("parse catalogue %s: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// missingKeys lists keys present in one catalogue and absent from another,
// as "lang: key", so that a test can insist both are complete.
func missingKeys(cats map[string]catalogue) []string {
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

// text looks up key; a missing key shows itself in brackets so that it is
// noticed on screen rather than silently blank.
func (c catalogue) text(key string, args ...any) string {
	s, ok := c[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// langOf picks the request's language from its cookie.
func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		for _, l := range Languages {
			if strings.EqualFold(c.Value, l) {
				return l
			}
		}
	}
	return Languages[0]
}
