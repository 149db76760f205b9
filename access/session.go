package access

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/alexedwards/argon2id"
	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/kvtable"
)

// SessionCookie names the browser session cookie.
const SessionCookie = "np_session"

// CSRFHeader carries the session's CSRF token on state-changing requests
// made with a session cookie; forms send it as the field "csrf".
const CSRFHeader = "X-CSRF-Token"

type session struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// Login lockout: after maxFailures attempts without success for one name
// (known or not) within lockoutWindow, that name is refused until the
// window passes. An attempt counts before its password is checked, so a
// burst of parallel guesses cannot all be checked before the lock applies.
const (
	maxFailures   = 5
	lockoutWindow = 15 * time.Minute
	// maxTrackedNames bounds the failure table against a spray of made-up
	// names; past it, expired entries are dropped, and if none are, new
	// names are refused as busy until some expire.
	maxTrackedNames = 100_000
)

// DefaultLoginChecks is how many argon2id checks run at once. Each takes 64
// MiB for its moment; two keep a burst of logins well under 256 MiB.
const DefaultLoginChecks = 2

// ErrLockedOut is returned by Login while a name is locked out.
var ErrLockedOut = errors.New("too many failed logins; try again later")

// ErrLoginBusy is returned by Login when every password-check slot is
// taken; the caller answers 503 with Retry-After.
var ErrLoginBusy = errors.New("too many logins at once; try again shortly")

type failures struct {
	count int
	first time.Time
}

// LimitLoginChecks sets how many password checks may run at once (at
// least 1). Call before serving.
func (r *Registry) LimitLoginChecks(n int) {
	if n < 1 {
		n = 1
	}
	r.checks = make(chan struct{}, n)
}

// loginWait is how long a login waits for a check slot before ErrLoginBusy.
const loginWait = 2 * time.Second

// Login checks a password and opens a session. It returns the session id
// (for the cookie) and the session's CSRF token.
func (r *Registry) Login(ctx context.Context, name, password string) (sid, csrf string, err error) {
	now := time.Now()
	// A name no account can have is refused before it is counted: the
	// failure table keys on names, and a spray of megabyte names would
	// otherwise fill it with megabytes each. It is told apart from a
	// wrong password only by form, which the user-add rule makes public.
	if !validName.MatchString(name) {
		return "", "", ErrUnauthenticated
	}
	if err := r.countAttempt(name, now); err != nil {
		return "", "", err
	}
	// Only a bounded number of argon2id checks run at once; the rest wait
	// a moment, then are refused as busy.
	wait := time.NewTimer(loginWait)
	defer wait.Stop()
	select {
	case r.slots() <- struct{}{}:
	case <-wait.C:
		return "", "", ErrLoginBusy
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	defer func() { <-r.slots() }()
	// Made on the first login whatever the name, so that this one slow
	// login does not tell known names from unknown ones.
	dummy := dummyHash()
	var u User
	err = r.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers).Get([]byte(name))
		if b == nil {
			return ErrUnauthenticated
		}
		return json.Unmarshal(b, &u)
	})
	ok := false
	if err == nil && !u.Disabled && u.PassHash != "" {
		ok, _ = argon2id.ComparePasswordAndHash(password, u.PassHash)
	} else if errors.Is(err, ErrUnauthenticated) || err == nil {
		// Spend the same time on unknown names so that timing does not
		// reveal which names exist.
		argon2id.ComparePasswordAndHash(password, dummy)
	} else {
		return "", "", fmt.Errorf("login %s: %w", name, err)
	}
	if !ok {
		return "", "", ErrUnauthenticated
	}
	r.mu.Lock()
	delete(r.failed(), name)
	r.mu.Unlock()
	sid, csrf = NewSecret("nps_"), NewSecret("")
	s := session{User: u.Name, CSRF: csrf, Expires: now.Add(r.sessionTTL)}
	err = r.change(ctx, false, func(*bolt.Tx) ([]kvtable.Entry, error) {
		b, _ := json.Marshal(s)
		return []kvtable.Entry{{Key: keySession + hashToken(sid), Value: b}}, nil
	})
	if err != nil {
		return "", "", fmt.Errorf("login %s: store session: %w", name, err)
	}
	return sid, csrf, nil
}

// countAttempt records one attempt for name before any check, or refuses
// it while the name is locked out. A success clears the count.
func (r *Registry) countAttempt(name string, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.failed()
	f, known := m[name]
	if known && now.Sub(f.first) >= lockoutWindow {
		f, known = failures{}, false
	}
	if f.count >= maxFailures {
		return ErrLockedOut
	}
	if !known && len(m) >= maxTrackedNames {
		for n, old := range m {
			if now.Sub(old.first) >= lockoutWindow {
				delete(m, n)
			}
		}
		if len(m) >= maxTrackedNames {
			return ErrLoginBusy
		}
	}
	if f.count == 0 {
		f.first = now
	}
	f.count++
	m[name] = f
	return nil
}

func (r *Registry) slots() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = make(chan struct{}, DefaultLoginChecks)
	}
	return r.checks
}

// dummyHash is made on first use, not at package init: argon2id takes 64
// MiB and about 0.3 s, which every process linking this package (every
// admin command, every node of any role) paid at start-up.
var dummyHash = sync.OnceValue(func() string {
	h, _ := argon2id.CreateHash("netpulse-timing-equaliser", argon2id.DefaultParams)
	return h
})

// failedLogins lives on the registry; created lazily under r.mu.
func (r *Registry) failed() map[string]failures {
	if r.failures == nil {
		r.failures = map[string]failures{}
	}
	return r.failures
}

// Session resolves a session id to its principal and CSRF token.
func (r *Registry) Session(ctx context.Context, sid string) (Principal, string, error) {
	if sid == "" {
		return Principal{}, "", ErrUnauthenticated
	}
	var p Principal
	var s session
	lookup := func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions).Get([]byte(hashToken(sid)))
		if b == nil {
			return ErrUnauthenticated
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if time.Now().After(s.Expires) {
			return ErrUnauthenticated
		}
		var err error
		p, err = principalFor(tx, "user:"+s.User)
		return err
	}
	err := r.view(ctx, lookup)
	if errors.Is(err, ErrUnauthenticated) && r.catchUp(ctx) {
		err = r.view(ctx, lookup)
	}
	if err != nil {
		return Principal{}, "", err
	}
	return p, s.CSRF, nil
}

// Logout ends a session and sweeps expired ones.
func (r *Registry) Logout(ctx context.Context, sid string) error {
	now := time.Now()
	return r.change(ctx, false, func(tx *bolt.Tx) ([]kvtable.Entry, error) {
		// Deletes of expired sessions ride along, so that they leave the
		// state topic too and do not pile up in it. An unknown session id
		// writes nothing: anyone can send a logout.
		var del []kvtable.Entry
		sessions := tx.Bucket(bucketSessions)
		if h := hashToken(sid); sessions.Get([]byte(h)) != nil {
			del = append(del, kvtable.Entry{Key: keySession + h})
		}
		sessions.ForEach(func(k, v []byte) error {
			var s session
			if json.Unmarshal(v, &s) != nil || now.After(s.Expires) {
				del = append(del, kvtable.Entry{Key: keySession + string(k)})
			}
			return nil
		})
		return del, nil
	})
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the caller put there by Require.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Identify resolves the caller of r from a bearer token or a session cookie.
// fromSession reports the latter, for which csrf is the expected token.
func (r *Registry) Identify(req *http.Request) (p Principal, fromSession bool, csrf string, err error) {
	if h := req.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return Principal{}, false, "", ErrUnauthenticated
		}
		p, err = r.Authenticate(req.Context(), strings.TrimSpace(tok))
		return p, false, "", err
	}
	c, err := req.Cookie(SessionCookie)
	if err != nil {
		return Principal{}, false, "", ErrUnauthenticated
	}
	p, csrf, err = r.Session(req.Context(), c.Value)
	return p, true, csrf, err
}

// Require lets a request through only when its caller has one of roles.
// Session-cookie callers must also present the CSRF token on any method
// other than GET, HEAD and OPTIONS.
func Require(reg *Registry, roles ...Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			p, fromSession, csrf, err := reg.Identify(req)
			if err != nil {
				if !errors.Is(err, ErrUnauthenticated) {
					jsonapi.Error(w, http.StatusServiceUnavailable, "credential check failed")
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="netpulse"`)
				jsonapi.Error(w, http.StatusUnauthorized, "missing, unknown or revoked credential")
				return
			}
			if !slices.Contains(roles, p.Role) {
				jsonapi.Error(w, http.StatusForbidden, fmt.Sprintf("role %s may not use this endpoint", p.Role))
				return
			}
			if fromSession && !safeMethod(req.Method) {
				got := CSRFToken(req)
				if subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 || csrf == "" {
					jsonapi.Error(w, http.StatusForbidden, "missing or wrong CSRF token")
					return
				}
			}
			next.ServeHTTP(w, req.WithContext(WithPrincipal(req.Context(), p)))
		})
	}
}

// CSRFToken is the token a state-changing request carries: the header, or
// the form field of the body. Never the query string: a URL is logged,
// kept in history and sent on in Referer, so a token there leaks.
func CSRFToken(r *http.Request) string {
	if got := r.Header.Get(CSRFHeader); got != "" {
		return got
	}
	return r.PostFormValue("csrf")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
