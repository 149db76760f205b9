package access

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequire(t *testing.T) {
	ctx := context.Background()
	reg, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	analyst, err := reg.AddUser(ctx, UserSpec{Name: "li", Role: RoleAnalyst, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	duty, err := reg.AddUser(ctx, UserSpec{Name: "wang", Role: RoleDuty})
	if err != nil {
		t.Fatal(err)
	}
	venueKey, err := reg.AddVenue(ctx, Venue{Code: "C001", Kind: "cafe", Name: "星空网吧", District: "江岸区", Unit: "网安一大队"})
	if err != nil {
		t.Fatal(err)
	}
	revokedKey, err := reg.AddVenue(ctx, Venue{Code: "H002", Kind: "hotel", Name: "江景酒店", District: "江岸区", Unit: "网安一大队"})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RevokeVenueKey(ctx, "H002"); err != nil {
		t.Fatal(err)
	}
	sid, csrf, err := reg.Login(ctx, "li", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	var seen Principal
	h := Require(reg, RoleAnalyst, RoleVenue)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = FromContext(r.Context())
	}))
	tests := []struct {
		name     string
		method   string
		auth     string
		cookie   string
		csrf     string
		wantCode int
		wantName string
	}{
		{"no credential", "GET", "", "", "", 401, ""},
		{"malformed header", "GET", "Basic abc", "", "", 401, ""},
		{"unknown token", "GET", "Bearer npu_nope", "", "", 401, ""},
		{"analyst token", "GET", "Bearer " + analyst, "", "", 200, "li"},
		{"wrong role", "GET", "Bearer " + duty, "", "", 403, ""},
		{"venue key", "POST", "Bearer " + venueKey, "", "", 200, "C001"},
		{"revoked venue key", "POST", "Bearer " + revokedKey, "", "", 401, ""},
		{"session GET", "GET", "", sid, "", 200, "li"},
		{"session POST without CSRF", "POST", "", sid, "", 403, ""},
		{"session POST with wrong CSRF", "POST", "", sid, "x", 403, ""},
		{"session POST with CSRF", "POST", "", sid, csrf, 200, "li"},
		{"unknown session", "GET", "", "nps_forged", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = Principal{}
			req := httptest.NewRequest(tt.method, "/x", strings.NewReader(""))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tt.cookie})
			}
			if tt.csrf != "" {
				req.Header.Set(CSRFHeader, tt.csrf)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("code = %d, want %d (%s)", rec.Code, tt.wantCode, rec.Body)
			}
			if seen.Name != tt.wantName {
				t.Errorf("principal = %q, want %q", seen.Name, tt.wantName)
			}
		})
	}
}

func TestLoginLockoutAndDisable(t *testing.T) {
	ctx := context.Background()
	reg, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := reg.AddUser(ctx, UserSpec{Name: "zhao", Role: RoleDuty, Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxFailures; i++ {
		if _, _, err := reg.Login(ctx, "zhao", "wrong"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("attempt %d: err = %v, want ErrUnauthenticated", i, err)
		}
	}
	if _, _, err := reg.Login(ctx, "zhao", "s3cret-pass"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("after %d failures the right password gave %v, want ErrLockedOut", maxFailures, err)
	}
	if err := reg.DisableUser(ctx, "zhao"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Authenticate(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("disabled user's token: err = %v", err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	reg, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		add  func() error
	}{
		{"bad role", func() error { _, err := reg.AddUser(ctx, UserSpec{Name: "a", Role: "root"}); return err }},
		{"bad user name", func() error { _, err := reg.AddUser(ctx, UserSpec{Name: "a b", Role: RoleAdmin}); return err }},
		{"operator without venue", func() error { _, err := reg.AddUser(ctx, UserSpec{Name: "op", Role: RoleOperator}); return err }},
		{"operator of unknown venue", func() error {
			_, err := reg.AddUser(ctx, UserSpec{Name: "op", Role: RoleOperator, Venue: "NOPE"})
			return err
		}},
		{"short password", func() error {
			_, err := reg.AddUser(ctx, UserSpec{Name: "b", Role: RoleAdmin, Password: "short"})
			return err
		}},
		{"bad venue kind", func() error {
			_, err := reg.AddVenue(ctx, Venue{Code: "X1", Kind: "bar", Name: "n", District: "d", Unit: "u"})
			return err
		}},
		{"venue without unit", func() error {
			_, err := reg.AddVenue(ctx, Venue{Code: "X2", Kind: "cafe", Name: "n", District: "d"})
			return err
		}},
		{"bad venue code", func() error {
			_, err := reg.AddVenue(ctx, Venue{Code: "../x", Kind: "cafe", Name: "n", District: "d", Unit: "u"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.add(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := reg.AddUser(ctx, UserSpec{Name: "dup", Role: RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddUser(ctx, UserSpec{Name: "dup", Role: RoleAdmin}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate user: err = %v, want ErrExists", err)
	}
}
