// Package intake receives venue access records: it parses JSON, NDJSON and
// CSV batches, validates every row with a precise reason, publishes the good
// rows to raw.access and answers only once they are durable, keeps the bad
// rows in quarantine for the operator, and signs a receipt of each batch.
package intake

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/netpulse/netpulse/privacy/identity"
)

// Input is one row as submitted, every field still text.
type Input struct {
	Kind      string `json:"kind"`
	Place     string `json:"place"`
	IDType    string `json:"id_type"`
	IDNumber  string `json:"id_number"`
	Name      string `json:"name"`
	StartedAt string `json:"started_at"`
	EndedAt   string `json:"ended_at"`
	IP        string `json:"ip,omitempty"`
	MAC       string `json:"mac,omitempty"`
	PartySize string `json:"party_size,omitempty"`

	// A hotel that takes in a minor records a guardian's contact and how
	// the party is related (Law on the Protection of Minors, art. 57).
	GuardianContact  string `json:"guardian_contact,omitempty"`
	GuardianRelation string `json:"guardian_relation,omitempty"`
}

// Fields lists the input columns in CSV header order.
var Fields = []string{"kind", "place", "id_type", "id_number", "name", "started_at", "ended_at", "ip", "mac", "party_size",
	"guardian_contact", "guardian_relation"}

var requiredFields = []string{"kind", "place", "id_type", "id_number", "name", "started_at"}

func (in *Input) set(field, v string) bool {
	switch field {
	case "kind":
		in.Kind = v
	case "place":
		in.Place = v
	case "id_type":
		in.IDType = v
	case "id_number":
		in.IDNumber = v
	case "name":
		in.Name = v
	case "started_at":
		in.StartedAt = v
	case "ended_at":
		in.EndedAt = v
	case "ip":
		in.IP = v
	case "mac":
		in.MAC = v
	case "party_size":
		in.PartySize = v
	case "guardian_contact":
		in.GuardianContact = v
	case "guardian_relation":
		in.GuardianRelation = v
	default:
		return false
	}
	return true
}

// Record is an accepted access record as it travels on raw.access and lands
// in netpulse.access_records. Neither the identity number nor the name
// travels: only their keyed hashes, ciphertexts and masked forms (Name is
// the mask, 王*), so that whoever reads the topic or the store reads no
// identity.
type Record struct {
	RecordID    string     `json:"record_id"`
	Venue       string     `json:"venue"`
	Kind        string     `json:"kind"`
	Place       string     `json:"place"`
	IDType      string     `json:"id_type"`
	IDHash      string     `json:"id_hash"`
	IDEnc       string     `json:"id_enc"`
	IDMasked    string     `json:"id_masked"`
	Name        string     `json:"name"` // masked
	NameHash    string     `json:"name_hash"`
	NameEnc     string     `json:"name_enc"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"` // nil while the session is open; stored as the epoch
	IP          string     `json:"ip"`
	MAC         string     `json:"mac"`
	PartySize   uint16     `json:"party_size"`
	ReceivedAt  time.Time  `json:"received_at"`
	BatchID     string     `json:"batch_id"`
	Version     uint64     `json:"version"`
	RetainUntil time.Time  `json:"retain_until"`

	// BirthDate (YYYY-MM-DD) travels only for a resident ID holder under 18
	// at the session's start, for the compliance checks. It is no column:
	// the bus does not carry every adult's birth date and the table gains
	// none.
	BirthDate string `json:"birth_date,omitempty"`
	// GuardianContact is the ciphertext of the contact a hotel recorded
	// for a minor's guardian ("" when none was).
	GuardianContact  string `json:"guardian_contact,omitempty"`
	GuardianRelation string `json:"guardian_relation,omitempty"`
}

// closedBit lifts the version of a record that carries its end above any
// open version, so that a late resend of the open session cannot reopen it.
const closedBit = uint64(1) << 42

// RowError is one reason a row was refused. Row counts data rows from 1.
type RowError struct {
	Row    int    `json:"row"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Limits on field sizes, generous for real names and room numbers but
// small enough that a row cannot carry a payload.
const (
	maxName      = 64 // runes
	maxPlace     = 64
	maxIDNumber  = 32
	maxPartySize = 50
	maxGuardian  = 64 // a phone number, or a name and a number
	maxRelation  = 16 // 父亲, 母亲, 祖父母, 老师, …
	futureSkew   = 5 * time.Minute
)

// Validator turns inputs into records for one venue.
type Validator struct {
	Venue     string
	VenueKind string // cafe or hotel; rows of the other kind are refused
	Now       time.Time
	Retention func(kind string) time.Duration
	Protect   *identity.Protector
}

// Validate checks one input and returns the record or every problem found.
func (v *Validator) Validate(row int, in Input) (Record, []RowError) {
	var errs []RowError
	bad := func(field, format string, a ...any) {
		errs = append(errs, RowError{Row: row, Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	for _, f := range Fields {
		if s := in.get(f); !utf8.ValidString(s) {
			bad(f, "invalid UTF-8")
			return Record{}, errs
		}
	}
	kind := strings.TrimSpace(in.Kind)
	switch {
	case kind == "":
		bad("kind", "required")
	case kind != "cafe" && kind != "hotel":
		bad("kind", "unknown kind %q (want cafe or hotel)", truncate(kind))
	case v.VenueKind != "" && kind != v.VenueKind:
		bad("kind", "kind %s does not match this venue, which is a %s", kind, v.VenueKind)
	}
	place := strings.TrimSpace(in.Place)
	switch {
	case place == "":
		bad("place", "required (terminal or room)")
	case utf8.RuneCountInString(place) > maxPlace:
		bad("place", "longer than %d characters", maxPlace)
	case hasControl(place):
		bad("place", "contains control characters")
	}
	idType := strings.TrimSpace(in.IDType)
	number := identity.Normalize(in.IDNumber)
	switch idType {
	case identity.TypeResident, identity.TypePassport, identity.TypeOther:
	case "":
		bad("id_type", "required")
	default:
		bad("id_type", "unknown id_type %q (want resident_id, passport or other)", truncate(idType))
	}
	switch {
	case number == "":
		bad("id_number", "required")
	case len(number) > maxIDNumber:
		bad("id_number", "longer than %d characters", maxIDNumber)
	case idType == identity.TypeResident:
		if err := identity.ValidateResident(number, v.Now); err != nil {
			bad("id_number", "resident ID %v", err)
		}
	case idType == identity.TypePassport:
		if !isAlnum(number) || len(number) < 5 {
			bad("id_number", "passport number must be 5 to 32 letters and digits")
		}
	case hasControl(number):
		bad("id_number", "contains control characters")
	}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		bad("name", "required")
	case utf8.RuneCountInString(name) > maxName:
		bad("name", "longer than %d characters", maxName)
	case hasControl(name):
		bad("name", "contains control characters")
	}
	start, startOK := parseTime(in.StartedAt, "started_at", true, bad)
	end, endOK := parseTime(in.EndedAt, "ended_at", false, bad)
	if startOK {
		if start.After(v.Now.Add(futureSkew)) {
			bad("started_at", "more than 5 minutes in the future")
		}
		if ret := v.retention(kind); start.Before(v.Now.Add(-ret)) {
			bad("started_at", "older than the retention window of %d days", int(ret.Hours()/24))
		}
	}
	if startOK && endOK && !end.IsZero() {
		if end.Before(start) {
			bad("ended_at", "before started_at")
		} else if end.After(v.Now.Add(futureSkew)) {
			bad("ended_at", "more than 5 minutes in the future")
		}
	}
	var ip string
	if s := strings.TrimSpace(in.IP); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			bad("ip", "not an IPv4 or IPv6 address")
		} else {
			ip = a.Unmap().String()
		}
	}
	var mac string
	if s := strings.TrimSpace(in.MAC); s != "" {
		var ok bool
		if mac, ok = normalizeMAC(s); !ok {
			bad("mac", "not a MAC address (six hex pairs)")
		}
	}
	var party uint16
	if s := strings.TrimSpace(in.PartySize); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			bad("party_size", "not a whole number")
		case n < 1 || n > maxPartySize:
			bad("party_size", "must be between 1 and %d", maxPartySize)
		default:
			party = uint16(n)
		}
	}
	guardian := strings.TrimSpace(in.GuardianContact)
	switch {
	case utf8.RuneCountInString(guardian) > maxGuardian:
		bad("guardian_contact", "longer than %d characters", maxGuardian)
	case hasControl(guardian):
		bad("guardian_contact", "contains control characters")
	}
	relation := strings.TrimSpace(in.GuardianRelation)
	switch {
	case utf8.RuneCountInString(relation) > maxRelation:
		bad("guardian_relation", "longer than %d characters", maxRelation)
	case hasControl(relation):
		bad("guardian_relation", "contains control characters")
	}
	if len(errs) > 0 {
		return Record{}, errs
	}
	r := Record{
		RecordID:    v.Protect.RecordID(v.Venue, idType, number, place, start),
		Venue:       v.Venue,
		Kind:        kind,
		Place:       place,
		IDType:      idType,
		IDHash:      v.Protect.Hash(idType, number),
		IDEnc:       v.Protect.Encrypt([]byte(number)),
		IDMasked:    identity.Mask(idType, number),
		Name:        identity.MaskName(name),
		NameHash:    v.Protect.NameHash(name),
		NameEnc:     v.Protect.Encrypt([]byte(name)),
		StartedAt:   start,
		IP:          ip,
		MAC:         mac,
		PartySize:   party,
		ReceivedAt:  v.Now,
		Version:     uint64(v.Now.UnixMilli()),
		RetainUntil: start.Add(v.retention(kind)),
	}
	// A guardian's contact is a third person's personal data: it travels
	// and is stored as ciphertext only. The compliance checks need to know
	// that it was recorded, never what it says.
	if guardian != "" {
		r.GuardianContact = v.Protect.Encrypt([]byte(guardian))
	}
	r.GuardianRelation = relation
	if idType == identity.TypeResident {
		if birth, ok := identity.BirthDate(number); ok && identity.IsMinorAt(birth, start) {
			r.BirthDate = birth.Format("2006-01-02")
		}
	}
	if !end.IsZero() {
		r.EndedAt = &end
		r.Version |= closedBit
	}
	return r, nil
}

func (v *Validator) retention(kind string) time.Duration {
	if v.Retention != nil {
		if d := v.Retention(kind); d > 0 {
			return d
		}
	}
	return 60 * 24 * time.Hour
}

func (in *Input) get(field string) string {
	switch field {
	case "kind":
		return in.Kind
	case "place":
		return in.Place
	case "id_type":
		return in.IDType
	case "id_number":
		return in.IDNumber
	case "name":
		return in.Name
	case "started_at":
		return in.StartedAt
	case "ended_at":
		return in.EndedAt
	case "ip":
		return in.IP
	case "mac":
		return in.MAC
	case "party_size":
		return in.PartySize
	case "guardian_contact":
		return in.GuardianContact
	case "guardian_relation":
		return in.GuardianRelation
	}
	return ""
}

func parseTime(s, field string, required bool, bad func(string, string, ...any)) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			bad(field, "required")
			return time.Time{}, false
		}
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		bad(field, "not an RFC 3339 time with offset (2026-11-28T14:05:00+08:00)")
		return time.Time{}, false
	}
	return t.UTC().Truncate(time.Millisecond), true
}

func normalizeMAC(s string) (string, bool) {
	s = strings.ToLower(s)
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c == ':' || c == '-' || c == '.':
		default:
			return "", false
		}
	}
	if len(hex) != 12 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.Write(hex[i : i+2])
	}
	return b.String(), true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) > 32 {
		return string([]rune(s)[:32]) + "…"
	}
	return s
}
