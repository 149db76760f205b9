// Package jiebadict ships the jieba dictionaries with the binary: the
// cppjieba base dictionary, HMM model, IDF table and stop words (copied from
// github.com/yanyiwu/gojieba v1.4.6) plus netpulse's domain dictionary.
// gojieba reads dictionaries from files, so Install writes them to a folder
// of the data directory at start-up instead of relying on the module cache.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package jiebadict

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed dict/*.utf8 userdict.utf8
var files embed.FS

// Paths names the files that gojieba.NewJieba and the segmenter need.
type Paths struct {
	Dict      string
	HMM       string
	User      string // cppjieba's own (static) user dictionary
	IDF       string
	StopWords string
	// Domain is the reloadable netpulse dictionary. Install writes it only
	// when absent, so an operator's edits survive restarts.
	Domain string
}

// InDir returns the paths of dictionaries installed in dir.
func InDir(dir string) Paths {
	return Paths{
		Dict:      filepath.Join(dir, "jieba.dict.utf8"),
		HMM:       filepath.Join(dir, "hmm_model.utf8"),
		User:      filepath.Join(dir, "user.dict.utf8"),
		IDF:       filepath.Join(dir, "idf.utf8"),
		StopWords: filepath.Join(dir, "stop_words.utf8"),
		Domain:    filepath.Join(dir, "userdict.utf8"),
	}
}

// Install writes the shipped dictionaries into dir (rewriting base files
// that differ) and returns their paths.
func Install(dir string) (Paths, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Paths{}, fmt.Errorf("install jieba dictionaries in %s: %w", dir, err)
	}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.Base(p))
		old, err := os.ReadFile(dst)
		if err == nil && (bytes.Equal(old, data) || p == "userdict.utf8") {
			return nil
		}
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, data, 0o640); err != nil {
			return err
		}
		return os.Rename(tmp, dst)
	})
	if err != nil {
		return Paths{}, fmt.Errorf("install jieba dictionaries in %s: %w", dir, err)
	}
	return InDir(dir), nil
}
