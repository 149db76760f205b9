package compliance

import (
	"testing"

	"github.com/netpulse/netpulse/access"
)

// TestVenueScope: venue statuses are scoped like alerts (README, "Who sees
// which unit"): an officer without a unit sees no venues rather than all,
// and a unit in the query never widens an officer's view.
func TestVenueScope(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     access.Principal
		asked string
		unit  string
		none  bool
	}{
		{"duty of a unit", access.Principal{Role: access.RoleDuty, Unit: "u1"}, "", "u1", false},
		{"duty of a unit asks for another", access.Principal{Role: access.RoleDuty, Unit: "u1"}, "u2", "u1", false},
		{"leader without a unit", access.Principal{Role: access.RoleLeader}, "", "", true},
		{"duty without a unit asks for one", access.Principal{Role: access.RoleDuty}, "u2", "", true},
		{"district-wide leader", access.Principal{Role: access.RoleLeader, Unit: access.DistrictWide}, "", "", false},
		{"district-wide leader asks for one", access.Principal{Role: access.RoleLeader, Unit: access.DistrictWide}, "u2", "u2", false},
		{"admin with a unit", access.Principal{Role: access.RoleAdmin, Unit: "u1"}, "u2", "u2", false},
		{"no principal", access.Principal{}, "u2", "", true},
	} {
		unit, none := venueScope(tc.p, tc.asked)
		if unit != tc.unit || none != tc.none {
			t.Errorf("%s: (%q, %v), want (%q, %v)", tc.name, unit, none, tc.unit, tc.none)
		}
	}
}

// TestSubject: a silence set from a compliance alert covers the venue and
// rule ("venue:CODE/"), whatever window raised it; other alerts keep their
// key.
func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		rule, key, want string
		ok              bool
	}{
		{RuleMinorCafe, "venue:JA-C03/20261205T1400", "venue:JA-C03/", true},
		{RuleGap, "venue:JA-C03/2026-12-05", "venue:JA-C03/", true},
		{RuleSharedID, "venue:A/B/20261205T1400", "venue:A/B/", true}, // the window is after the last slash
		{RuleMinorCafe, "venue:JA-C03", "", false},
		{RuleMinorCafe, "topic:x/y", "", false},
		{"flatline-venues", "venue:JA-C03/20261205T1400", "", false},
		{"trends", "topic:abc", "", false},
	} {
		got, ok := Subject(tc.rule, tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Subject(%q, %q) = %q, %v; want %q, %v", tc.rule, tc.key, got, ok, tc.want, tc.ok)
		}
	}
}
