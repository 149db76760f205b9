package compliance

import (
	"bytes"
	"encoding/json"
	"time"
)

// Record is the part of an access record (as on raw.access and in
// netpulse.access_records) that the checks read.
type Record struct {
	RecordID         string    `json:"record_id"`
	Venue            string    `json:"venue"`
	Kind             string    `json:"kind"`
	Place            string    `json:"place"`
	IDType           string    `json:"id_type"`
	IDHash           string    `json:"id_hash"`
	IDMasked         string    `json:"id_masked"`
	StartedAt        time.Time `json:"started_at"`
	EndedAt          time.Time `json:"ended_at"` // zero (or the epoch, from the store) while open
	BirthDate        string    `json:"birth_date"`
	GuardianContact  string    `json:"guardian_contact"`
	GuardianRelation string    `json:"guardian_relation"`
	PartySize        int       `json:"party_size"`
	ReceivedAt       time.Time `json:"received_at"`
}

// Decode reads one raw.access message. ok is false for a message that is
// not a record; the records writer already moved it to the dead letters.
func Decode(v []byte) (Record, bool) {
	v = bytes.TrimSpace(v)
	var r Record
	if len(v) < 2 || v[0] != '{' || json.Unmarshal(v, &r) != nil || r.RecordID == "" || r.Venue == "" {
		return Record{}, false
	}
	r.normalize()
	return r, true
}

func (r *Record) normalize() {
	if r.EndedAt.Unix() <= 0 {
		r.EndedAt = time.Time{}
	}
	r.StartedAt, r.ReceivedAt = r.StartedAt.UTC(), r.ReceivedAt.UTC()
	if !r.EndedAt.IsZero() {
		r.EndedAt = r.EndedAt.UTC()
	}
}

// open reports whether the record has no end yet.
func (r *Record) open() bool { return r.EndedAt.IsZero() }

// eventTime is when what the record reports happened: its end for a
// closing update, else its start.
func (r *Record) eventTime() time.Time {
	if r.open() {
		return r.StartedAt
	}
	return r.EndedAt
}

// Venue is a registered venue as the alerts name it.
type Venue struct {
	Code string
	Kind string
	Name string
	Unit string
}
