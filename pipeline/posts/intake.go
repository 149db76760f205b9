package posts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// Limits on one pushed batch.
const (
	MaxIntakeBytes = 32 << 20
	MaxIntakeRows  = 20000
)

// Rejection is one row of a pushed batch that was not accepted.
type Rejection struct {
	Row    int    `json:"row"` // from 1, over data lines
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// IntakeResult answers a push.
type IntakeResult struct {
	BatchID  string      `json:"batch_id"`
	Accepted int         `json:"accepted"`
	Rejected []Rejection `json:"rejected"`
}

// Intake serves POST /api/v1/intake/posts for feed partners that push posts
// instead of being crawled: NDJSON (or a JSON array) of posts with id,
// source, url, title, body, author, published_at. Good rows are published to
// raw.posts and acknowledged only once durable; bad rows get a per-row
// reason and never hold back the good ones. Pushed posts then take the same
// path as crawled ones (Consumer). Authorisation is the caller's.
type Intake struct {
	Producer bus.Producer
	Log      *slog.Logger
	Now      func() time.Time // for tests; nil means time.Now
	// MaxInFlight bounds pushes being read and published at once (each may
	// hold MaxIntakeBytes); more get 503 with Retry-After. Zero means
	// 2×GOMAXPROCS.
	MaxInFlight int

	once  sync.Once
	slots chan struct{}
}

func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		jsonapi.Error(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	in.once.Do(func() {
		n := in.MaxInFlight
		if n <= 0 {
			n = 2 * runtime.GOMAXPROCS(0)
		}
		in.slots = make(chan struct{}, n)
	})
	select {
	case in.slots <- struct{}{}:
		defer func() { <-in.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		jsonapi.Error(w, http.StatusServiceUnavailable, "intake busy: too many pushes in flight; retry after 1 s")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxIntakeBytes))
	if err != nil {
		jsonapi.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxIntakeBytes))
		return
	}
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	posts, rejected, err := ParseBatch(body, now().UTC())
	if err != nil {
		jsonapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	msgs := make([]bus.Message, len(posts))
	for i, p := range posts {
		v, _ := json.Marshal(p)
		msgs[i] = bus.Message{Key: []byte(p.ID), Value: v, Time: p.FetchedAt}
	}
	if len(msgs) > 0 {
		if err := in.Producer.Publish(r.Context(), bus.TopicPosts, msgs...); err != nil {
			if in.Log != nil {
				in.Log.Error("publish pushed posts", "posts", len(msgs), "err", err)
			}
			code := http.StatusInternalServerError
			if errors.Is(err, bus.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				code = http.StatusServiceUnavailable
				w.Header().Set("Retry-After", "10")
			}
			jsonapi.Error(w, code, "posts not accepted: the bus could not take them; retry the whole batch")
			return
		}
	}
	id := make([]byte, 8)
	rand.Read(id)
	res := IntakeResult{BatchID: hex.EncodeToString(id), Accepted: len(posts), Rejected: rejected}
	if res.Rejected == nil {
		res.Rejected = []Rejection{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(res)
}

// ParseBatch reads NDJSON or a JSON array of posts, stamping fetched_at
// with now where it is missing. A body that is neither is an error; a bad
// row is a Rejection.
func ParseBatch(body []byte, now time.Time) ([]Post, []Rejection, error) {
	var raws []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, nil, fmt.Errorf("body starts like a JSON array but is not one: %v", err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 64<<10), MaxIntakeBytes)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			raws = append(raws, json.RawMessage(append([]byte(nil), line...)))
		}
		if err := sc.Err(); err != nil {
			return nil, nil, fmt.Errorf("read NDJSON: %v", err)
		}
	}
	if len(raws) == 0 {
		return nil, nil, errors.New("no posts in the body")
	}
	if len(raws) > MaxIntakeRows {
		return nil, nil, fmt.Errorf("%d posts in one batch; at most %d", len(raws), MaxIntakeRows)
	}
	var posts []Post
	var rejected []Rejection
	seen := map[string]int{}
	for i, raw := range raws {
		row := i + 1
		var p Post
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&p); err != nil {
			rejected = append(rejected, Rejection{Row: row, Field: jsonField(err), Reason: err.Error()})
			continue
		}
		if p.FetchedAt.IsZero() {
			p.FetchedAt = now
		}
		if err := p.Validate(); err != nil {
			var fe *FieldError
			errors.As(err, &fe)
			rejected = append(rejected, Rejection{Row: row, Field: fe.Field, Reason: fe.Reason})
			continue
		}
		if first, dup := seen[p.ID]; dup {
			rejected = append(rejected, Rejection{Row: row, Field: "id", Reason: fmt.Sprintf("same id as row %d", first)})
			continue
		}
		seen[p.ID] = row
		posts = append(posts, p)
	}
	return posts, rejected, nil
}

// jsonField names the field a decode error is about, when it says.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field
	}
	var pe *time.ParseError
	if errors.As(err, &pe) || strings.Contains(err.Error(), "parsing time") {
		return "published_at"
	}
	return "row"
}
