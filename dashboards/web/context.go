package web

import (
	"context"
	"html"
	"net/http"
)

func contextWithSession(ctx context.Context, si sessionInfo) context.Context {
	return context.WithValue(ctx, sessionKey{}, si)
}

func sessionFrom(r *http.Request) (sessionInfo, bool) {
	si, ok := r.Context().Value(sessionKey{}).(sessionInfo)
	return si, ok
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }
