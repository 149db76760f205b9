// Package jieba is netpulse's Chinese word segmentation: one gojieba (cgo)
// instance per process, safe for concurrent cutting, with a domain user
// dictionary that can be reloaded without a restart, and the Bleve analysers
// built on it ("jieba_index" for documents, "jieba_query" for queries).
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package jieba

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/yanyiwu/gojieba"

	jiebadict "github.com/netpulse/netpulse/chinese/jiebadict"
)

// Version is the analyser version. Bump it whenever a change here alters the
// tokens produced for the same text (stop words, ASCII handling, positions);
// indexes built by another version are re-indexed (see search/shards).
const Version = 1

// Mode selects the segmentation.
type Mode int

const (
	// Precise cuts a sentence into its most likely words (query time).
	Precise Mode = iota
	// Search also emits the dictionary words inside long words, so that a
	// query for 诈骗 finds 电信诈骗 (index time).
	Search
)

// Word is one segment of the input with its byte offsets.
type Word struct {
	Text       string
	Start, End int
}

// userWord is one entry of the domain dictionary.
type userWord struct {
	freq int
	tag  string
}

// Segmenter owns the process's single gojieba instance.
//
// cppjieba's cutting methods are const and only read the dictionary trie,
// so cuts share a read lock; inserting or deleting user words rewrites the
// trie and takes the write lock.
type Segmenter struct {
	mu     sync.RWMutex
	jb     *gojieba.Jieba
	paths  jiebadict.Paths
	stop   map[string]struct{}
	user   map[string]userWord
	base   map[string]userWord // base-dictionary entries shadowed by user words
	digest string
}

// Open writes the shipped dictionaries (package jiebadict) into dir, where
// they are kept between runs, and opens a segmenter on them: how serve,
// bench and the tests of every package that cuts Chinese start.
func Open(dir string) (*Segmenter, error) {
	paths, err := jiebadict.Install(dir)
	if err != nil {
		return nil, fmt.Errorf("install jieba dictionaries in %s: %w", dir, err)
	}
	return New(paths)
}

// Paths are the dictionary files the segmenter loaded; Paths().Domain is
// the domain dictionary that Reloader watches.
func (s *Segmenter) Paths() jiebadict.Paths { return s.paths }

// New loads the dictionaries named by paths and then the domain dictionary
// paths.Domain (which may be empty or missing).
func New(paths jiebadict.Paths) (*Segmenter, error) {
	for _, p := range []string{paths.Dict, paths.HMM, paths.User, paths.IDF, paths.StopWords} {
		if _, err := os.Stat(p); err != nil {
			// gojieba panics on a missing file; fail politely instead.
			return nil, fmt.Errorf("jieba dictionary: %w", err)
		}
	}
	stop, err := readStopWords(paths.StopWords)
	if err != nil {
		return nil, err
	}
	s := &Segmenter{
		jb:    gojieba.NewJieba(paths.Dict, paths.HMM, paths.User, paths.IDF, paths.StopWords),
		paths: paths,
		stop:  stop,
		user:  map[string]userWord{},
		base:  map[string]userWord{},
	}
	if paths.Domain != "" {
		if _, err := os.Stat(paths.Domain); err == nil {
			if _, err := s.LoadUserDict(paths.Domain); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	if s.digest == "" {
		s.digest = digest(nil)
	}
	return s, nil
}

// Close frees the C++ instance. Cuts after Close return no words.
func (s *Segmenter) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jb != nil {
		s.jb.Free()
		s.jb = nil
	}
}

// Cut segments text. hmm is always on so that unknown names still form words.
func (s *Segmenter) Cut(text string, mode Mode) []Word {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.jb == nil || text == "" {
		return nil
	}
	m := gojieba.DefaultMode
	if mode == Search {
		m = gojieba.SearchMode
	}
	ws := s.jb.Tokenize(text, m, true)
	out := make([]Word, len(ws))
	for i, w := range ws {
		out[i] = Word{Text: w.Str, Start: w.Start, End: w.End}
	}
	return out
}

// IsStopWord reports whether w is on the Chinese stop list.
func (s *Segmenter) IsStopWord(w string) bool {
	_, ok := s.stop[w]
	return ok
}

// Fingerprint identifies the tokens this segmenter produces: the analyser
// version and the domain dictionary's content. Indexes record it; a different
// fingerprint means the index must be rebuilt.
func (s *Segmenter) Fingerprint() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.digest
}

// AddWord adds one domain word at run time. It changes the fingerprint.
func (s *Segmenter) AddWord(word string, freq int, tag string) error {
	word = strings.TrimSpace(word)
	if word == "" || strings.ContainsAny(word, " \t\n") {
		return fmt.Errorf("add word %q: must be one non-empty token", word)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]userWord, len(s.user)+1)
	for k, v := range s.user {
		next[k] = v
	}
	next[word] = userWord{freq: freq, tag: tag}
	s.applyLocked(next)
	return nil
}

// LoadUserDict replaces the domain words with those of the file at path
// ("word [freq] [tag]" per line, # comments) and reports whether the
// fingerprint changed. Words removed from the file are removed from the
// segmenter; if they were also base-dictionary words, their base entry is
// restored.
func (s *Segmenter) LoadUserDict(path string) (changed bool, err error) {
	words, err := readUserDict(path)
	if err != nil {
		return false, err
	}
	shadowed, err := scanBase(s.paths.Dict, words)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jb == nil {
		return false, fmt.Errorf("load user dictionary %s: segmenter closed", path)
	}
	for w, e := range shadowed {
		if _, ok := s.base[w]; !ok {
			s.base[w] = e
		}
	}
	old := s.digest
	s.applyLocked(words)
	return s.digest != old, nil
}

// applyLocked moves the trie from s.user to next. Caller holds the write lock.
func (s *Segmenter) applyLocked(next map[string]userWord) {
	for w := range s.user {
		if _, keep := next[w]; keep {
			continue
		}
		if b, ok := s.base[w]; ok {
			s.jb.AddWordEx(w, b.freq, b.tag)
		} else {
			s.jb.RemoveWord(w)
		}
	}
	for w, e := range next {
		if old, ok := s.user[w]; ok && old == e {
			continue
		}
		tag := e.tag
		if tag == "" {
			tag = "x"
		}
		s.jb.AddWordEx(w, e.freq, tag)
	}
	s.user = next
	s.digest = digest(next)
}

func digest(words map[string]userWord) string {
	keys := make([]string, 0, len(words))
	for w := range words {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	h := sha256.New()
	fmt.Fprintf(h, "v%d\n", Version)
	for _, w := range keys {
		fmt.Fprintf(h, "%s %d %s\n", w, words[w].freq, words[w].tag)
	}
	return fmt.Sprintf("v%d-%s", Version, hex.EncodeToString(h.Sum(nil))[:12])
}

func readUserDict(path string) (map[string]userWord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read user dictionary %s: %w", path, err)
	}
	defer f.Close()
	words := map[string]userWord{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		e := userWord{}
		if len(fields) > 1 {
			freq, err := strconv.Atoi(fields[1])
			if err != nil || freq < 0 {
				return nil, fmt.Errorf("read user dictionary %s line %d: frequency %q is not a non-negative integer", path, n, fields[1])
			}
			e.freq = freq
		}
		if len(fields) > 2 {
			e.tag = fields[2]
		}
		words[fields[0]] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read user dictionary %s: %w", path, err)
	}
	return words, nil
}

// scanBase returns the base-dictionary entries of the given words, so that
// removing a user word can restore what the base dictionary said.
func scanBase(path string, words map[string]userWord) (map[string]userWord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read jieba dictionary %s: %w", path, err)
	}
	defer f.Close()
	out := map[string]userWord{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		w, rest, _ := strings.Cut(line, " ")
		if _, ok := words[w]; !ok {
			continue
		}
		fs := strings.Fields(rest)
		e := userWord{tag: "x"}
		if len(fs) > 0 {
			e.freq, _ = strconv.Atoi(fs[0])
		}
		if len(fs) > 1 {
			e.tag = fs[1]
		}
		out[w] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read jieba dictionary %s: %w", path, err)
	}
	return out, nil
}

func readStopWords(path string) (map[string]struct{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stop words %s: %w", path, err)
	}
	stop := map[string]struct{}{}
	for _, line := range strings.Split(string(data), "\n") {
		if w := strings.TrimSpace(line); w != "" {
			stop[w] = struct{}{}
		}
	}
	return stop, nil
}

// Terms returns the words of text as a query would see them: precise mode,
// ASCII lowercased, stop words and punctuation dropped. The pipeline stores
// them with each post and hands them to term counting.
func (s *Segmenter) Terms(text string) []string {
	toks := NewTokenizer(s, Precise).Tokenize([]byte(text))
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		if t.Type == analysis.Ideographic {
			out = append(out, string(t.Term))
			continue
		}
		w := strings.ToLower(string(t.Term))
		if _, stop := englishStop[w]; !stop {
			out = append(out, w)
		}
	}
	return out
}

// englishStop mirrors Bleve's stop_en list for Terms, which runs outside a
// Bleve analyser.
var englishStop = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, line := range strings.Split(string(en.EnglishStopWords), "\n") {
		if w, _, _ := strings.Cut(line, "|"); strings.TrimSpace(w) != "" {
			m[strings.TrimSpace(w)] = struct{}{}
		}
	}
	return m
}()
