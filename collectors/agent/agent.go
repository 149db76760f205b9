// Package agent ships venue export files to the intake API: it watches a
// folder for CSV and NDJSON files, sends each with retries and backoff, and
// moves it to done/ or failed/ with the server's per-row answer beside it.
// A journal of sent files and an Idempotency-Key equal to the file's hash
// make a restart, at any point, send no file twice.
package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options configure an Agent.
type Options struct {
	Watch  string // folder venue software drops files into
	Server string // base URL of netpulse, e.g. https://netpulse.example:8080
	Key    string // the venue's API key
	Client *http.Client
	Poll   time.Duration // folder scan interval; default 2s
	// Settle is how long a file must stay unchanged before it is sent, so
	// that a file still being written is not picked up half-way.
	Settle     time.Duration
	MaxBackoff time.Duration // default 5 min
	MaxBytes   int64         // larger files fail without sending; default 16 MiB
	Log        *slog.Logger
	// AfterSend, when set, runs after the server answered and before the
	// file is moved; tests use it to stop the agent at the worst moment.
	AfterSend func(name string) error
}

// Agent is one watched folder.
type Agent struct {
	o Options
	// root is the watched folder. Every file the agent reads, writes or
	// moves is reached through it, so a link the venue's staff plant (the
	// folder is theirs to write) can never lead outside: not a file swapped
	// for a link after the listing, not done/ or failed/ or the journal's
	// folder turned into a link to /etc. Paths below are relative to it.
	root    *os.Root
	done    string
	failed  string
	journal string
	sent    map[string]sentEntry // file hash -> what happened
}

type sentEntry struct {
	File    string    `json:"file"`
	SHA256  string    `json:"sha256"`
	BatchID string    `json:"batch_id"`
	Status  int       `json:"status"`
	Outcome string    `json:"outcome"` // done or failed
	At      time.Time `json:"at"`
}

// New prepares the folder: done/, failed/ and the .netpulse-agent journal.
func New(o Options) (*Agent, error) {
	if o.Watch == "" || o.Server == "" || o.Key == "" {
		return nil, errors.New("agent: --watch, --server and --key are required")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	root, err := os.OpenRoot(o.Watch)
	if err != nil {
		return nil, fmt.Errorf("agent: open watched folder: %w", err)
	}
	a := &Agent{o: o, root: root, done: "done", failed: "failed",
		journal: filepath.Join(".netpulse-agent", "sent.jsonl"), sent: map[string]sentEntry{}}
	for _, d := range []string{a.done, a.failed, filepath.Dir(a.journal)} {
		if err := root.MkdirAll(d, 0o750); err != nil {
			root.Close()
			return nil, fmt.Errorf("agent: create %s in %s: %w", d, o.Watch, err)
		}
	}
	if err := a.loadJournal(); err != nil {
		root.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the watched folder.
func (a *Agent) Close() error { return a.root.Close() }

func (a *Agent) loadJournal() error {
	f, err := a.root.Open(a.journal)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: open journal %s: %w", a.journal, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e sentEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.SHA256 != "" {
			a.sent[e.SHA256] = e // a torn last line is skipped: the resend is idempotent
		}
	}
	return sc.Err()
}

func (a *Agent) appendJournal(e sentEntry) error {
	f, err := a.root.OpenFile(a.journal, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	b, _ := json.Marshal(e)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("agent: journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("agent: journal: %w", err)
	}
	a.sent[e.SHA256] = e
	return f.Close()
}

// Run scans the folder until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	for {
		if _, err := a.Scan(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.o.Poll):
		}
	}
}

// SafeName reports whether name is a plain file name that stays inside the
// watched folder: no separators, no parent references, not hidden.
func SafeName(name string) bool {
	return name != "" && name == filepath.Base(name) && !strings.ContainsAny(name, `/\`+"\x00") &&
		name != "." && name != ".." && !strings.HasPrefix(name, ".") && !strings.Contains(name, "..")
}

func contentType(name string) (string, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "text/csv", true
	case ".ndjson", ".jsonl":
		return "application/x-ndjson", true
	case ".json":
		return "application/json", true
	}
	return "", false
}

// Scan sends every settled file in name order and returns how many it
// finished. It stops at the first file that cannot be delivered yet (the
// server is down), so that files keep their order.
func (a *Agent) Scan(ctx context.Context) (int, error) {
	dir, err := a.root.Open(".")
	if err != nil {
		return 0, fmt.Errorf("agent: read %s: %w", a.o.Watch, err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return 0, fmt.Errorf("agent: read %s: %w", a.o.Watch, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	n := 0
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if _, ok := contentType(name); !ok {
			continue
		}
		if !SafeName(name) || de.Type()&os.ModeSymlink != 0 || !de.Type().IsRegular() {
			// A link could point outside the folder: never follow it.
			a.o.Log.Warn("agent: refusing file", "file", name)
			if err := a.finish(name, "", failedAnswer("not a plain file inside the watched folder"), http.StatusBadRequest, a.failed); err != nil {
				return n, err
			}
			continue
		}
		info, err := de.Info()
		if err != nil || time.Since(info.ModTime()) < a.o.Settle {
			continue
		}
		if err := a.send(ctx, name, info.Size()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func failedAnswer(reason string) []byte {
	b, _ := json.Marshal(map[string]string{"error": reason})
	return b
}

// send delivers one file, retrying transient failures until ctx ends.
func (a *Agent) send(ctx context.Context, name string, size int64) error {
	path := filepath.Join(a.o.Watch, name) // for messages; reads go through the root
	if size > a.o.MaxBytes {
		return a.finish(name, "", failedAnswer(fmt.Sprintf("file larger than %d bytes; split it", a.o.MaxBytes)), http.StatusRequestEntityTooLarge, a.failed)
	}
	body, err := readPlain(a.root, name)
	if err != nil {
		return fmt.Errorf("agent: read %s: %w", path, err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if prev, ok := a.sent[hash]; ok {
		// Already delivered (the move was interrupted, or the same export
		// was dropped again): keep the earlier answer, do not resend.
		a.o.Log.Info("agent: file already sent", "file", name, "batch", prev.BatchID)
		dest := a.done
		if prev.Outcome == "failed" {
			dest = a.failed
		}
		return a.move(name, dest, nil)
	}
	ct, _ := contentType(name)
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		status, answer, retryAfter, err := a.post(ctx, ct, hash, body)
		if err == nil && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
			// A wrong or revoked key would fail every file: stop instead.
			return fmt.Errorf("agent: server refused the venue key (HTTP %d): %s", status, bytes.TrimSpace(answer))
		}
		if err == nil && status != http.StatusTooManyRequests && status < 500 && status != http.StatusRequestTimeout {
			if a.o.AfterSend != nil {
				if err := a.o.AfterSend(name); err != nil {
					return err
				}
			}
			dest := a.done
			if status != http.StatusOK || acceptedNone(answer) {
				dest = a.failed
			}
			return a.finish(name, hash, answer, status, dest)
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		a.o.Log.Warn("agent: send failed, will retry", "file", name, "attempt", attempt, "status", status, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, a.o.MaxBackoff)
	}
}

// acceptedNone is true for an answer that refused every row.
func acceptedNone(answer []byte) bool {
	var a struct {
		Accepted int               `json:"accepted"`
		Rejected []json.RawMessage `json:"rejected"`
	}
	return json.Unmarshal(answer, &a) == nil && a.Accepted == 0 && len(a.Rejected) > 0
}

func (a *Agent) post(ctx context.Context, ct, hash string, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.o.Server, "/")+"/api/v1/intake/access-records", bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.o.Key)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Idempotency-Key", "sha256:"+hash)
	resp, err := a.o.Client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, 0, err
	}
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	return resp.StatusCode, answer, ra, nil
}

// finish writes the answer beside the file in dest, moves the file there,
// and journals it. The answer is written first, so a file found in done/
// always has its answer.
func (a *Agent) finish(name, hash string, answer []byte, status int, dest string) error {
	var pretty bytes.Buffer
	if json.Indent(&pretty, answer, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(answer)
	}
	if err := a.move(name, dest, pretty.Bytes()); err != nil {
		return err
	}
	if hash == "" {
		return nil
	}
	var ans struct {
		BatchID string `json:"batch_id"`
	}
	_ = json.Unmarshal(answer, &ans)
	outcome := "done"
	if dest == a.failed {
		outcome = "failed"
	}
	return a.appendJournal(sentEntry{File: name, SHA256: hash, BatchID: ans.BatchID, Status: status, Outcome: outcome, At: time.Now().UTC()})
}

func (a *Agent) move(name, dest string, answer []byte) error {
	target := filepath.Join(dest, name)
	if _, err := a.root.Lstat(target); err == nil {
		target = filepath.Join(dest, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+name)
	}
	if answer != nil {
		if err := writeSync(a.root, target+".answer.json", answer); err != nil {
			return err
		}
	}
	if err := a.root.Rename(name, target); err != nil {
		return fmt.Errorf("agent: move %s to %s: %w", name, dest, err)
	}
	return nil
}

// readPlain reads name in root only if it is a regular file: opened
// through the root (no link out of the folder is followed) and checked on
// the open file, so a file swapped for a link or a pipe after the listing
// is not read either.
func readPlain(root *os.Root, name string) ([]byte, error) {
	if fi, err := root.Lstat(name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a plain file", name)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a plain file", name)
	}
	return io.ReadAll(f)
}

// writeSync writes b to path (relative to root) by a new temporary file in
// the same folder, synced and renamed over path, then syncs the folder.
// The folder is one a venue's staff can write to: a link planted at path
// is replaced by the rename, never followed; the temporary file is created
// exclusively (O_EXCL), so no existing name, link or not, is opened for
// writing; and the root keeps a folder on the way that was turned into a
// link from leading outside the watched folder.
func writeSync(root *os.Root, path string, b []byte) error {
	dir := filepath.Dir(path)
	var f *os.File
	var tmp string
	for range 100 {
		tmp = filepath.Join(dir, ".answer-"+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		var err error
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("agent: write %s: %w", path, err)
		}
	}
	if f == nil {
		return fmt.Errorf("agent: write %s: no free temporary name", path)
	}
	fail := func(err error) error {
		f.Close()
		root.Remove(tmp)
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := root.Rename(tmp, path); err != nil {
		root.Remove(tmp)
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if d, err := root.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
