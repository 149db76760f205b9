// Package access knows who is calling: users with roles, venue API keys and
// browser sessions. Secrets are stored hashed (tokens and keys with SHA-256,
// which suits 256-bit random values; passwords with argon2id).
//
// The registry is a bbolt file in the data folder, opened for each operation
// rather than held open, so that `netpulse admin` can add a user or a venue
// while `netpulse serve` runs on the same folder.
//
// With several nodes (serve --kafka) the file becomes one node's copy of the
// table "access" of the shared state topic (package kvtopic; state.go): every
// change is written to the topic and reaches the file through the node's
// applier, and reads stay local. Conflicting changes to one user, venue or
// session are last-writer-wins. Login lockout counters stay in memory, per
// node: behind a load balancer of N nodes a name gets up to N×5 tries per
// window.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	bolt "go.etcd.io/bbolt"

	"github.com/netpulse/netpulse/kvtable"
)

// Role names a set of permissions.
type Role string

const (
	RoleAdmin    Role = "admin"
	RoleAnalyst  Role = "analyst"
	RoleDuty     Role = "duty"
	RoleLeader   Role = "leader"
	RoleAuditor  Role = "auditor"
	RoleOperator Role = "operator" // a venue operator's account, bound to one venue
	RoleVenue    Role = "venue"    // a venue's API key, for venue software
)

// UserRoles are the roles a user account may have.
var UserRoles = []Role{RoleAdmin, RoleAnalyst, RoleDuty, RoleLeader, RoleAuditor, RoleOperator}

// ParseRole checks a user role name.
func ParseRole(s string) (Role, error) {
	for _, r := range UserRoles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want one of admin, analyst, duty, leader, auditor, operator)", s)
}

// Principal is an authenticated caller.
type Principal struct {
	Kind  string `json:"kind"` // "user" or "venue"
	Name  string `json:"name"` // user name or venue code
	Role  Role   `json:"role"`
	Venue string `json:"venue,omitempty"` // venue code for venue keys and operators
	Unit  string `json:"unit,omitempty"`
}

// User is a stored account, without secrets.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Unit      string    `json:"unit,omitempty"`
	Venue     string    `json:"venue,omitempty"`
	Created   time.Time `json:"created"`
	Disabled  bool      `json:"disabled,omitempty"`
	TokenHash string    `json:"token_hash"`
	PassHash  string    `json:"pass_hash,omitempty"`
}

// Venue is a registered internet café or hotel.
type Venue struct {
	Code      string    `json:"code"`
	Kind      string    `json:"kind"` // cafe or hotel
	Name      string    `json:"name"`
	District  string    `json:"district"`
	Unit      string    `json:"unit"`
	Created   time.Time `json:"created"`
	Revoked   bool      `json:"revoked,omitempty"`
	LegalHold bool      `json:"legal_hold,omitempty"`
	KeyHash   string    `json:"key_hash"`
}

var (
	bucketUsers    = []byte("users")
	bucketVenues   = []byte("venues")
	bucketTokens   = []byte("tokens") // sha256(token) -> "user:NAME" or "venue:CODE"
	bucketSessions = []byte("sessions")

	validName = regexp.MustCompile(`^[\p{L}\p{N}._@-]{1,64}$`)
	validCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

	// ErrUnauthenticated means the credential is missing, unknown or revoked.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrExists means the name or code is taken.
	ErrExists = errors.New("already exists")
	// ErrNotFound means no such user or venue.
	ErrNotFound = errors.New("not found")
)

// Registry stores users, venues, keys and sessions.
type Registry struct {
	path       string
	sessionTTL time.Duration

	// shared is set in Kafka mode (Share): changes go through the state
	// topic instead of straight to the file.
	shared Shared

	mu       sync.Mutex
	cache    map[string]cached // token hash -> principal, to spare a file open per request
	failures map[string]failures
}

type cached struct {
	p       Principal
	expires time.Time
}

// cacheTTL bounds how long a revoked credential may still be honoured. In
// Kafka mode the applier also empties the cache when it applies a user or
// venue change, so other nodes honour a revoked key no longer than their
// replication lag plus, at most, this TTL.
const cacheTTL = 3 * time.Second

// Open creates the registry file in dataDir if needed.
func Open(dataDir string, sessionTTL time.Duration) (*Registry, error) {
	if sessionTTL <= 0 {
		sessionTTL = 12 * time.Hour
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("open access registry in %s: %w", dataDir, err)
	}
	r := &Registry{path: filepath.Join(dataDir, "access.db"), sessionTTL: sessionTTL, cache: map[string]cached{}}
	err := r.update(context.Background(), func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketVenues, bucketTokens, bucketSessions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open access registry %s: %w", r.path, err)
	}
	return r, nil
}

func (r *Registry) open(ctx context.Context, readOnly bool) (*bolt.DB, error) {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: false, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r.path, err)
	}
	_ = readOnly // bbolt read-only opens need an existing file; a shared lock gains little here
	return db, nil
}

func (r *Registry) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	db, err := r.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(fn)
}

func (r *Registry) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	db, err := r.open(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(fn)
}

// NewSecret returns a random credential with a readable prefix.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS entropy source is gone
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// UserSpec describes a new user.
type UserSpec struct {
	Name     string
	Role     Role
	Unit     string
	Venue    string // required for operators
	Password string // optional; enables browser login
}

// AddUser creates a user and returns its API token, shown once.
func (r *Registry) AddUser(ctx context.Context, s UserSpec) (string, error) {
	if !validName.MatchString(s.Name) {
		return "", fmt.Errorf("add user: invalid name %q", s.Name)
	}
	if _, err := ParseRole(string(s.Role)); err != nil {
		return "", fmt.Errorf("add user %s: %w", s.Name, err)
	}
	if s.Role == RoleOperator && s.Venue == "" {
		return "", fmt.Errorf("add user %s: an operator needs --venue", s.Name)
	}
	u := User{Name: s.Name, Role: s.Role, Unit: s.Unit, Venue: s.Venue, Created: time.Now().UTC()}
	if s.Password != "" {
		if len(s.Password) < 8 {
			return "", fmt.Errorf("add user %s: password shorter than 8 characters", s.Name)
		}
		h, err := argon2id.CreateHash(s.Password, argon2id.DefaultParams)
		if err != nil {
			return "", fmt.Errorf("add user %s: hash password: %w", s.Name, err)
		}
		u.PassHash = h
	}
	tok := NewSecret("npu_")
	u.TokenHash = hashToken(tok)
	err := r.change(ctx, true, func(tx *bolt.Tx) ([]kvtable.Entry, error) {
		if tx.Bucket(bucketUsers).Get([]byte(u.Name)) != nil {
			return nil, fmt.Errorf("user %s: %w", u.Name, ErrExists)
		}
		if s.Role == RoleOperator && tx.Bucket(bucketVenues).Get([]byte(s.Venue)) == nil {
			return nil, fmt.Errorf("venue %s: %w", s.Venue, ErrNotFound)
		}
		return []kvtable.Entry{userEntry(u)}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", s.Name, err)
	}
	return tok, nil
}

// SetPassword sets or replaces a user's login password.
func (r *Registry) SetPassword(ctx context.Context, name, password string) error {
	if len(password) < 8 {
		return fmt.Errorf("set password for %s: shorter than 8 characters", name)
	}
	h, err := argon2id.CreateHash(password, argon2id.DefaultParams)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", name, err)
	}
	return r.updateUser(ctx, name, func(u *User) { u.PassHash = h })
}

// updateUser changes one stored user.
func (r *Registry) updateUser(ctx context.Context, name string, fn func(*User)) error {
	return r.change(ctx, true, func(tx *bolt.Tx) ([]kvtable.Entry, error) {
		b := tx.Bucket(bucketUsers).Get([]byte(name))
		if b == nil {
			return nil, fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		var u User
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, err
		}
		fn(&u)
		return []kvtable.Entry{userEntry(u)}, nil
	})
}

// DisableUser revokes a user's token and sessions.
func (r *Registry) DisableUser(ctx context.Context, name string) error {
	err := r.updateUser(ctx, name, func(u *User) { u.Disabled = true })
	r.flushCache()
	return err
}

// Users lists accounts sorted by name.
func (r *Registry) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := r.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// AddVenue registers a venue and returns its API key, shown once.
func (r *Registry) AddVenue(ctx context.Context, v Venue) (string, error) {
	if !validCode.MatchString(v.Code) {
		return "", fmt.Errorf("add venue: invalid code %q (letters, digits, _ and -, at most 32)", v.Code)
	}
	if v.Kind != "cafe" && v.Kind != "hotel" {
		return "", fmt.Errorf("add venue %s: kind %q must be cafe or hotel", v.Code, v.Kind)
	}
	if strings.TrimSpace(v.Name) == "" || strings.TrimSpace(v.District) == "" || strings.TrimSpace(v.Unit) == "" {
		return "", fmt.Errorf("add venue %s: name, district and unit are required", v.Code)
	}
	key := NewSecret("npv_")
	v.KeyHash = hashToken(key)
	v.Created = time.Now().UTC()
	err := r.change(ctx, true, func(tx *bolt.Tx) ([]kvtable.Entry, error) {
		if tx.Bucket(bucketVenues).Get([]byte(v.Code)) != nil {
			return nil, fmt.Errorf("venue %s: %w", v.Code, ErrExists)
		}
		return []kvtable.Entry{venueEntry(v)}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add venue %s: %w", v.Code, err)
	}
	return key, nil
}

// RotateVenueKey revokes a venue's key and issues a new one.
func (r *Registry) RotateVenueKey(ctx context.Context, code string) (string, error) {
	key := NewSecret("npv_")
	err := r.updateVenue(ctx, code, func(v *Venue) {
		v.KeyHash, v.Revoked = hashToken(key), false
	})
	r.flushCache()
	if err != nil {
		return "", err
	}
	return key, nil
}

// RevokeVenueKey stops a venue's key from working.
func (r *Registry) RevokeVenueKey(ctx context.Context, code string) error {
	err := r.updateVenue(ctx, code, func(v *Venue) { v.Revoked = true })
	r.flushCache()
	return err
}

// SetLegalHold suspends (or resumes) retention deletes for a venue's records.
func (r *Registry) SetLegalHold(ctx context.Context, code string, hold bool) error {
	return r.updateVenue(ctx, code, func(v *Venue) { v.LegalHold = hold })
}

func (r *Registry) updateVenue(ctx context.Context, code string, fn func(*Venue)) error {
	err := r.change(ctx, true, func(tx *bolt.Tx) ([]kvtable.Entry, error) {
		b := tx.Bucket(bucketVenues).Get([]byte(code))
		if b == nil {
			return nil, fmt.Errorf("venue %s: %w", code, ErrNotFound)
		}
		var v Venue
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		fn(&v)
		return []kvtable.Entry{venueEntry(v)}, nil
	})
	if err != nil {
		return fmt.Errorf("update venue %s: %w", code, err)
	}
	return nil
}

// Venues lists venues sorted by code.
func (r *Registry) Venues(ctx context.Context) ([]Venue, error) {
	var out []Venue
	err := r.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVenues).ForEach(func(k, b []byte) error {
			var v Venue
			if err := json.Unmarshal(b, &v); err != nil {
				return fmt.Errorf("venue %s: %w", k, err)
			}
			out = append(out, v)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, err
}

// Venue returns one venue.
func (r *Registry) Venue(ctx context.Context, code string) (Venue, error) {
	var v Venue
	err := r.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVenues).Get([]byte(code))
		if b == nil {
			return fmt.Errorf("venue %s: %w", code, ErrNotFound)
		}
		return json.Unmarshal(b, &v)
	})
	return v, err
}

// Authenticate resolves an API token or venue key.
func (r *Registry) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrUnauthenticated
	}
	h := hashToken(token)
	now := time.Now()
	r.mu.Lock()
	if c, ok := r.cache[h]; ok && now.Before(c.expires) {
		r.mu.Unlock()
		return c.p, nil
	}
	r.mu.Unlock()
	var p Principal
	lookup := func(tx *bolt.Tx) error {
		ref := tx.Bucket(bucketTokens).Get([]byte(h))
		if ref == nil {
			return ErrUnauthenticated
		}
		var err error
		p, err = principalFor(tx, string(ref))
		return err
	}
	err := r.view(ctx, lookup)
	if errors.Is(err, ErrUnauthenticated) && r.catchUp(ctx) {
		err = r.view(ctx, lookup)
	}
	if err != nil {
		return Principal{}, err
	}
	r.remember(h, p, now)
	return p, nil
}

func principalFor(tx *bolt.Tx, ref string) (Principal, error) {
	kind, name, _ := strings.Cut(ref, ":")
	switch kind {
	case "user":
		var u User
		b := tx.Bucket(bucketUsers).Get([]byte(name))
		if b == nil {
			return Principal{}, ErrUnauthenticated
		}
		if err := json.Unmarshal(b, &u); err != nil {
			return Principal{}, err
		}
		if u.Disabled {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{Kind: "user", Name: u.Name, Role: u.Role, Unit: u.Unit, Venue: u.Venue}, nil
	case "venue":
		var v Venue
		b := tx.Bucket(bucketVenues).Get([]byte(name))
		if b == nil {
			return Principal{}, ErrUnauthenticated
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return Principal{}, err
		}
		if v.Revoked {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{Kind: "venue", Name: v.Code, Role: RoleVenue, Venue: v.Code, Unit: v.Unit}, nil
	}
	return Principal{}, ErrUnauthenticated
}

func (r *Registry) remember(h string, p Principal, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) > 10000 {
		clear(r.cache) // bounded: a flood of distinct tokens cannot grow memory
	}
	r.cache[h] = cached{p: p, expires: now.Add(cacheTTL)}
}

func (r *Registry) flushCache() {
	r.mu.Lock()
	clear(r.cache)
	r.mu.Unlock()
}
