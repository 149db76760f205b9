// Package search answers analysts' searches over public posts: it parses the
// search box syntax, runs it over the day-sharded Bleve indexes (package
// shards) with the jieba analyser (package jieba), and serves
// GET /api/v1/search/posts.
package search
