package intake

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r as one JSON object, the form it takes on raw.access.
// It is written out by hand because it runs for every accepted record and
// reflection-based encoding was a fifth of intake's CPU; a test checks it
// against encoding/json.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"record_id":`...)
	b = appendString(b, r.RecordID)
	b = append(b, `,"venue":`...)
	b = appendString(b, r.Venue)
	b = append(b, `,"kind":`...)
	b = appendString(b, r.Kind)
	b = append(b, `,"place":`...)
	b = appendString(b, r.Place)
	b = append(b, `,"id_type":`...)
	b = appendString(b, r.IDType)
	b = append(b, `,"id_hash":`...)
	b = appendString(b, r.IDHash)
	b = append(b, `,"id_enc":`...)
	b = appendString(b, r.IDEnc)
	b = append(b, `,"id_masked":`...)
	b = appendString(b, r.IDMasked)
	b = append(b, `,"name":`...)
	b = appendString(b, r.Name)
	b = append(b, `,"name_hash":`...)
	b = appendString(b, r.NameHash)
	b = append(b, `,"name_enc":`...)
	b = appendString(b, r.NameEnc)
	b = append(b, `,"started_at":`...)
	b = appendTime(b, r.StartedAt)
	if r.EndedAt != nil {
		b = append(b, `,"ended_at":`...)
		b = appendTime(b, *r.EndedAt)
	}
	b = append(b, `,"ip":`...)
	b = appendString(b, r.IP)
	b = append(b, `,"mac":`...)
	b = appendString(b, r.MAC)
	b = append(b, `,"party_size":`...)
	b = strconv.AppendUint(b, uint64(r.PartySize), 10)
	if r.BirthDate != "" {
		b = append(b, `,"birth_date":`...)
		b = appendString(b, r.BirthDate)
	}
	if r.GuardianContact != "" {
		b = append(b, `,"guardian_contact":`...)
		b = appendString(b, r.GuardianContact)
	}
	if r.GuardianRelation != "" {
		b = append(b, `,"guardian_relation":`...)
		b = appendString(b, r.GuardianRelation)
	}
	b = append(b, `,"received_at":`...)
	b = appendTime(b, r.ReceivedAt)
	b = append(b, `,"batch_id":`...)
	b = appendString(b, r.BatchID)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, r.Version, 10)
	b = append(b, `,"retain_until":`...)
	b = appendTime(b, r.RetainUntil)
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as a JSON string. Invalid UTF-8 becomes U+FFFD as
// in encoding/json (validation refuses it before this point anyway).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
