// Package intaketest runs a real intake for tests: the durable journal, the
// access registry, the intake service behind its HTTP routes, and the
// records writer moving raw.access into the caller's ClickHouse store.
package intaketest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	precords "github.com/netpulse/netpulse/pipeline/records"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/privacy/identity"
)

// Env is one intake as serve wires it.
type Env struct {
	T       testing.TB
	Dir     string
	Bus     *journal.Journal
	Reg     *access.Registry
	Svc     *intake.Service
	Srv     *httptest.Server
	Keys    map[string]string // venue code -> API key
	Protect *identity.Protector
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New starts an Env whose venues map code to kind; tweak may adjust the
// service options. It stops at test cleanup.
func New(t testing.TB, db *store.DB, venues map[string]string, tweak func(*intake.Options)) *Env {
	t.Helper()
	e := &Env{T: t, Dir: t.TempDir(), Keys: map[string]string{}}
	var err error
	if e.Bus, err = journal.Open(journal.Options{Dir: filepath.Join(e.Dir, "journal"), Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if e.Reg, err = access.Open(e.Dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for code, kind := range venues {
		key, err := e.Reg.AddVenue(ctx, access.Venue{Code: code, Kind: kind, Name: code, District: "测试区", Unit: "测试大队"})
		if err != nil {
			t.Fatal(err)
		}
		e.Keys[code] = key
	}
	keys, err := identity.LoadKeys(e.Dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if e.Protect, err = identity.NewProtector(keys); err != nil {
		t.Fatal(err)
	}
	o := intake.Options{
		Producer: e.Bus, DB: db, Protect: e.Protect, ReceiptKey: keys.Receipt,
		LedgerPath: filepath.Join(e.Dir, "intake", "ledger.db"), Rate: -1,
		VenueKind: func(ctx context.Context, code string) (string, error) {
			v, err := e.Reg.Venue(ctx, code)
			return v.Kind, err
		},
	}
	if tweak != nil {
		tweak(&o)
	}
	if e.Svc, err = intake.New(o); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.Svc.Routes(mux, e.Reg)
	e.Srv = httptest.NewServer(mux)
	wctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	w := precords.New(precords.Options{Bus: e.Bus, DB: db, BatchRows: 20000, BatchDelay: 20 * time.Millisecond})
	e.wg.Add(1)
	go func() { defer e.wg.Done(); w.Run(wctx) }()
	t.Cleanup(e.Close)
	return e
}

// Close stops everything; it runs at cleanup.
func (e *Env) Close() {
	e.Srv.Close()
	e.cancel()
	e.wg.Wait()
	e.Svc.Close()
	e.Bus.Close()
}

// Reply is an HTTP answer.
type Reply struct {
	Code   int
	Header http.Header
	Ans    intake.Answer
	Raw    string
}

// Post sends body to path as venue.
func (e *Env) Post(venue, path, contentType, idemKey string, body []byte) Reply {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.Keys[venue])
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	return e.Do(req)
}

// Get fetches path as venue.
func (e *Env) Get(venue, path string) Reply {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.Keys[venue])
	return e.Do(req)
}

// Do sends req.
func (e *Env) Do(req *http.Request) Reply {
	e.T.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := Reply{Code: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, &r.Ans)
	}
	return r
}

// WaitStored waits until venue has n distinct records in ClickHouse.
func WaitStored(t testing.TB, db *store.DB, venue string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got uint64
	for time.Now().Before(deadline) {
		var c []struct {
			N uint64 `json:"n"`
		}
		if err := db.Select(context.Background(), &c, `SELECT count() AS n FROM netpulse.access_records FINAL WHERE venue = ?`, venue); err != nil {
			t.Fatal(err)
		}
		if got = c[0].N; got >= uint64(n) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != uint64(n) {
		t.Fatalf("venue %s: %d records stored, want %d", venue, got, n)
	}
}
