package intake

import (
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/privacy/identity"
)

// TestMinorFields: the birth date travels only for a resident holder under
// 18 at the session's start, and the guardian fields are kept or refused
// with the field named.
func TestMinorFields(t *testing.T) {
	keys, err := identity.LoadKeys(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := identity.NewProtector(keys)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	v := &Validator{Venue: "H1", Now: now, Protect: p}
	born := func(s string) string {
		b, _ := time.Parse("2006-01-02", s)
		return identity.SyntheticBorn("420199", b, 1)
	}
	cases := []struct {
		name, number, start, contact, relation string
		birth, field, reason                   string
	}{
		{name: "minor carries birth date and guardian", number: born("2010-05-01"), start: "2026-12-05T10:00:00+08:00",
			contact: "13800000000", relation: "母亲", birth: "2010-05-01"},
		{name: "on the 18th birthday still a minor", number: born("2008-12-05"), start: "2026-12-05T10:00:00+08:00", birth: "2008-12-05"},
		{name: "the day after, an adult: no birth date", number: born("2008-12-04"), start: "2026-12-05T10:00:00+08:00"},
		{name: "adult", number: born("1990-01-01"), start: "2026-12-05T10:00:00+08:00"},
		{name: "oversized guardian contact", number: born("2010-05-01"), start: "2026-12-05T10:00:00+08:00",
			contact: strings.Repeat("1", 65), field: "guardian_contact", reason: "longer than"},
		{name: "control character in relation", number: born("2010-05-01"), start: "2026-12-05T10:00:00+08:00",
			relation: "母\x01亲", field: "guardian_relation", reason: "control"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, errs := v.Validate(1, Input{Kind: "hotel", Place: "301", IDType: identity.TypeResident, IDNumber: c.number,
				Name: "住客", StartedAt: c.start, GuardianContact: c.contact, GuardianRelation: c.relation})
			if c.field != "" {
				if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].Reason, c.reason) {
					t.Fatalf("errors %+v, want %s: %s", errs, c.field, c.reason)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("refused: %+v", errs)
			}
			if r.BirthDate != c.birth || r.GuardianRelation != c.relation {
				t.Errorf("record birth %q relation %q, want %q %q", r.BirthDate, r.GuardianRelation, c.birth, c.relation)
			}
			// The contact travels and is stored only as ciphertext.
			if c.contact == "" {
				if r.GuardianContact != "" {
					t.Errorf("no contact given, record carries %q", r.GuardianContact)
				}
			} else {
				plain, err := p.Decrypt(r.GuardianContact)
				if err != nil || string(plain) != c.contact || strings.Contains(string(r.AppendJSON(nil)), c.contact) {
					t.Errorf("guardian contact on the bus %q (decrypts to %q, %v), want the ciphertext of %q", r.GuardianContact, plain, err, c.contact)
				}
			}
			if c.birth == "" && strings.Contains(string(r.AppendJSON(nil)), "birth_date") {
				t.Error("an adult's birth date travels on the bus")
			}
		})
	}
}
