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
