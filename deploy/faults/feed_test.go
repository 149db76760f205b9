package faults

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpulse/netpulse/privacy/identity"
)

// venueKey is a registered venue and its API key.
type venueKey struct{ code, key string }

func registerVenues(t *testing.T, data, prefix string, n int) []venueKey {
	t.Helper()
	out := make([]venueKey, n)
	for i := range out {
		code := fmt.Sprintf("%s%02d", prefix, i+1)
		out[i] = venueKey{code: code, key: addVenue(t, data, code)}
	}
	return out
}

// recordBatch is n records with places P<seq>, unique per test run,
// started within 10 minutes after start (pass a start at least that far
// in the past: intake refuses starts in the future).
func recordBatch(start time.Time, first, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		seq := first + i
		if i > 0 {
			b.WriteByte(',')
		}
		row := map[string]string{"kind": "cafe", "place": place(seq), "id_type": identity.TypeResident,
			"id_number": identity.Synthetic("420199", seq%9000), "name": "测试" + strconv.Itoa(seq%97),
			"started_at": start.Add(time.Duration(seq%600000) * time.Millisecond).UTC().Format(time.RFC3339Nano)}
		j, _ := json.Marshal(row)
		b.Write(j)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func place(seq int) string { return fmt.Sprintf("P%07d", seq) }

// intakeStats counts answers by status code.
type intakeStats struct {
	mu          sync.Mutex
	codes       map[int]int
	netErrs     int
	noRetryHdr  int // 429/503 without Retry-After
	sent        atomic.Int64
	batchesSent atomic.Int64
}

func (st *intakeStats) note(code int, h http.Header, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.codes == nil {
		st.codes = map[int]int{}
	}
	if err != nil {
		st.netErrs++
		return
	}
	st.codes[code]++
	if (code == 429 || code == 503) && h.Get("Retry-After") == "" {
		st.noRetryHdr++
	}
}

func (st *intakeStats) String() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return fmt.Sprintf("answers %v, network errors %d", st.codes, st.netErrs)
}

// feedRecords sends batches of per records from workers goroutines, one
// venue per worker, until ctx ends. A batch that is not answered 200 is
// resent with the same Idempotency-Key (after Retry-After when given) until
// it is, or until ctx ends; every record of a 200 answer is noted in ack.
func feedRecords(ctx context.Context, s *server, venues []venueKey, per int, ack *acked, st *intakeStats, seq *atomic.Int64) {
	start := time.Now().Add(-30 * time.Minute)
	var wg sync.WaitGroup
	for w, v := range venues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ctx.Err() == nil; b++ {
				first := int(seq.Add(int64(per))) - per
				body := recordBatch(start, first, per)
				key := fmt.Sprintf("w%d-b%d-%d", w, b, first)
				for ctx.Err() == nil {
					st.batchesSent.Add(1)
					r, err := s.call(ctx, "POST", "/api/v1/intake/access-records", v.key, body,
						"Content-Type", "application/json", "Idempotency-Key", key)
					if ctx.Err() != nil {
						return
					}
					st.note(r.code, r.header, err)
					if err == nil && r.code == 200 {
						var ans struct {
							Accepted int `json:"accepted"`
						}
						if json.Unmarshal(r.body, &ans) == nil && ans.Accepted == per {
							keys := make([]string, per)
							for i := range keys {
								keys[i] = v.code + "/" + place(first+i)
							}
							ack.add(keys...)
							st.sent.Add(int64(per))
						}
						break
					}
					wait := 100 * time.Millisecond
					if err == nil {
						if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra > 0 {
							wait = time.Duration(ra) * time.Second
						}
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
			}
		}()
	}
	wg.Wait()
}

// storedRecords exports every stored record of venue (through the analysts'
// CSV export, which reads with FINAL) as record key → rows. The export is
// bounded, so a venue with more records is read in time slices.
func storedRecords(t *testing.T, s *server, analyst, venue string) map[string]int {
	t.Helper()
	out := map[string]int{}
	ids := map[string]bool{}
	exportRange(t, s, analyst, venue, time.Now().Add(-48*time.Hour), time.Now().Add(48*time.Hour), out, ids)
	return out
}

const exportLimit = 10000 // search/records maxExport

func exportRange(t *testing.T, s *server, analyst, venue string, from, to time.Time, out map[string]int, ids map[string]bool) {
	t.Helper()
	q := fmt.Sprintf("venue=%s&from=%s&to=%s", venue, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	r := s.mustCall(t, "GET", "/api/v1/records?page_size=1&"+q, analyst, nil, "X-Case-Ref", "FAULT-TEST-1")
	if r.code != 200 {
		t.Fatalf("count %s: %s", venue, r)
	}
	var n struct {
		Total int `json:"total"`
	}
	decode(t, r, &n)
	if n.Total == 0 {
		return
	}
	if n.Total > exportLimit*9/10 {
		mid := from.Add(to.Sub(from) / 2)
		exportRange(t, s, analyst, venue, from, mid, out, ids)
		exportRange(t, s, analyst, venue, mid, to, out, ids)
		return
	}
	r = s.mustCall(t, "GET", "/api/v1/records?format=csv&"+q, analyst, nil, "X-Case-Ref", "FAULT-TEST-1")
	if r.code != 200 {
		t.Fatalf("export %s: %s", venue, r)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("export %s: %v", venue, err)
	}
	for i, row := range rows {
		if i == 0 {
			continue
		}
		if ids[row[0]] {
			t.Errorf("record id %s exported twice", row[0])
		}
		ids[row[0]] = true
		out[venue+"/"+row[5]]++
	}
}

// checkAllStored waits (bounded) until every acknowledged record is stored,
// then fails for any acknowledged record missing or stored more than once.
// It returns the number stored.
func checkAllStored(t *testing.T, s *server, analyst string, venues []venueKey, ack *acked) int {
	t.Helper()
	deadline := time.Now().Add(180 * time.Second)
	for {
		stored := map[string]int{}
		for _, v := range venues {
			for k, n := range storedRecords(t, s, analyst, v.code) {
				stored[k] += n
			}
		}
		var missing, dup []string
		ack.mu.Lock()
		for k := range ack.keys {
			switch n := stored[k]; {
			case n == 0:
				missing = append(missing, k)
			case n > 1:
				dup = append(dup, k)
			}
		}
		ack.mu.Unlock()
		for k, n := range stored {
			if n > 1 && !strings.Contains(strings.Join(dup, ","), k) {
				dup = append(dup, k)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			if len(missing) > 0 {
				t.Errorf("%d acknowledged records missing, e.g. %v (records lag now %s)", len(missing), missing[:min(5, len(missing))],
					s.metric(t, `netpulse_bus_lag_messages{group="records",topic="raw.access"}`))
			}
			if len(dup) > 0 {
				t.Errorf("%d records stored more than once, e.g. %v", len(dup), dup[:min(5, len(dup))])
			}
			return len(stored)
		}
		time.Sleep(time.Second)
	}
}

// syntheticID is the demo stream's identity number of person n.
func syntheticID(n int) string { return identity.Synthetic("420199", n) }
