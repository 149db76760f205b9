package trends

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/netpulse/netpulse/alerts/burst"
)

// termState is one tracked term's detector and when it was last mentioned.
type termState struct {
	st       burst.State
	lastSeen int64 // unix seconds of the last bucket with a mention
}

// topic is a group of terms bursting together.
type topic struct {
	ID      string   `json:"id"`
	AlertID string   `json:"alert_id"`
	Terms   []string `json:"terms"`
	Opened  int64    `json:"opened"`   // unix seconds of the bucket it opened in
	LastHot int64    `json:"last_hot"` // unix seconds of its last hot bucket
	// Refreshed is the unix seconds of the bucket its card was last
	// raised or updated with.
	Refreshed int64 `json:"refreshed,omitempty"`
}

// state is everything the engine must remember across restarts.
type state struct {
	bucketSeconds int64
	next          time.Time // start of the next bucket to evaluate; zero before any data
	since         time.Time // first bucket ever evaluated
	terms         map[string]*termState
	topics        []*topic
}

type header struct {
	BucketSeconds int64     `json:"bucket_seconds"`
	Next          time.Time `json:"next"`
	Since         time.Time `json:"since"`
	Topics        []*topic  `json:"topics"`
	Terms         int       `json:"terms"`
}

const stateFile = "trends.state"
const magic = "netpulse-trends-1\n"

func loadState(dir string, bucketSeconds int64) (*state, error) {
	st := &state{bucketSeconds: bucketSeconds, terms: map[string]*termState{}}
	path := filepath.Join(dir, stateFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trends: open state %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(r, m); err != nil || string(m) != magic {
		return nil, fmt.Errorf("trends: state %s: not a trends state file", path)
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("trends: state %s header: %w", path, err)
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, fmt.Errorf("trends: state %s header: %w", path, err)
	}
	if h.BucketSeconds != bucketSeconds {
		// Another bucket size means other series; start afresh rather
		// than feed 5-minute detectors 1-minute counts.
		return st, nil
	}
	st.next, st.since, st.topics = h.Next.UTC(), h.Since.UTC(), h.Topics
	buf := make([]byte, 0, burst.StateSize)
	for i := 0; i < h.Terms; i++ {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > 1024 {
			return nil, fmt.Errorf("trends: state %s term %d: bad length", path, i)
		}
		term := make([]byte, n)
		if _, err := io.ReadFull(r, term); err != nil {
			return nil, fmt.Errorf("trends: state %s term %d: %w", path, i, err)
		}
		var ls [8]byte
		if _, err := io.ReadFull(r, ls[:]); err != nil {
			return nil, fmt.Errorf("trends: state %s term %d: %w", path, i, err)
		}
		// Records carry their own version, and older versions are
		// shorter: an upgrade keeps what every term has learnt.
		v, err := r.Peek(1)
		if err != nil {
			return nil, fmt.Errorf("trends: state %s term %d: %w", path, i, err)
		}
		size := burst.EncodedSize(v[0])
		if size == 0 {
			return nil, fmt.Errorf("trends: state %s term %q: detector state version %d unknown", path, term, v[0])
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("trends: state %s term %d: %w", path, i, err)
		}
		ts := &termState{lastSeen: int64(binary.LittleEndian.Uint64(ls[:]))}
		if err := ts.st.UnmarshalBinary(buf); err != nil {
			return nil, fmt.Errorf("trends: state %s term %q: %w", path, term, err)
		}
		st.terms[string(term)] = ts
	}
	return st, nil
}

// save writes the state to a new file and renames it into place, so a
// crash leaves either the old or the new state, never a torn one.
func (st *state) save(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("trends: save state: %w", err)
	}
	path := filepath.Join(dir, stateFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("trends: save state: %w", err)
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(magic)
	hb, err := json.Marshal(header{BucketSeconds: st.bucketSeconds, Next: st.next, Since: st.since, Topics: st.topics, Terms: len(st.terms)})
	if err != nil {
		f.Close()
		return fmt.Errorf("trends: save state: %w", err)
	}
	w.Write(hb)
	w.WriteByte('\n')
	rec := make([]byte, 0, 64+burst.StateSize)
	for term, ts := range st.terms {
		rec = binary.AppendUvarint(rec[:0], uint64(len(term)))
		rec = append(rec, term...)
		rec = binary.LittleEndian.AppendUint64(rec, uint64(ts.lastSeen))
		rec, _ = ts.st.AppendBinary(rec)
		w.Write(rec)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("trends: save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("trends: save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("trends: save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("trends: save state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
