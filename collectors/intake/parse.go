package intake

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is the encoding of a batch body.
type Format int

const (
	FormatJSON   Format = iota // a JSON array of objects
	FormatNDJSON               // one JSON object per line
	FormatCSV                  // RFC 4180 with a header row
)

func (f Format) String() string {
	return [...]string{"json", "ndjson", "csv"}[f]
}

// Parsed is one data row of a body: its input, or why it could not be read.
type Parsed struct {
	Row int
	In  Input
	Err *RowError
}

// ErrBody marks a body that cannot be read at all (no CSV header, a JSON
// array that does not start); the whole batch is refused with 400.
var ErrBody = errors.New("unreadable body")

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// DetectFormat picks the format from the Content-Type, or from the first
// byte when the type is missing or generic.
func DetectFormat(contentType string, body []byte) Format {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "text/csv", "application/csv":
		return FormatCSV
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return FormatNDJSON
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(body, utf8BOM), " \t\r\n")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		return FormatJSON
	case len(trimmed) > 0 && trimmed[0] == '{':
		return FormatNDJSON
	case mt == "application/json":
		return FormatJSON
	}
	return FormatCSV
}

// Parse reads every data row of body. maxRows bounds the batch; rows past
// it are refused with a per-row reason rather than silently dropped.
func Parse(body []byte, f Format, maxRows int) ([]Parsed, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	switch f {
	case FormatJSON:
		return parseJSONArray(body, maxRows)
	case FormatNDJSON:
		return parseNDJSON(body, maxRows)
	default:
		return parseCSV(body, maxRows)
	}
}

func tooMany(row, maxRows int) *RowError {
	return &RowError{Row: row, Field: "row", Reason: fmt.Sprintf("batch holds more than %d rows; send the rest in another batch", maxRows)}
}

func parseCSV(body []byte, maxRows int) ([]Parsed, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV header row: %v", ErrBody, err)
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		var probe Input
		if !probe.set(h, "") {
			return nil, fmt.Errorf("%w: CSV header: unknown column %q (want %s)", ErrBody, truncate(h), strings.Join(Fields, ","))
		}
		if seen[h] {
			return nil, fmt.Errorf("%w: CSV header: column %q twice", ErrBody, h)
		}
		seen[h] = true
		cols[i] = h
	}
	for _, req := range requiredFields {
		if !seen[req] {
			return nil, fmt.Errorf("%w: CSV header: missing column %q", ErrBody, req)
		}
	}
	var out []Parsed
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if row > maxRows {
			out = append(out, Parsed{Row: row, Err: tooMany(row, maxRows)})
			return out, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && !errors.Is(err, csv.ErrFieldCount) {
			out = append(out, Parsed{Row: row, Err: &RowError{Row: row, Field: "row", Reason: "malformed CSV: " + pe.Err.Error()}})
			continue
		} else if err != nil && !errors.Is(err, csv.ErrFieldCount) {
			return out, fmt.Errorf("%w: CSV row %d: %v", ErrBody, row, err)
		}
		var in Input
		for i, v := range rec[:min(len(rec), len(cols))] {
			in.set(cols[i], v) // fields share one allocation per line
		}
		if len(rec) != len(cols) {
			// What could be matched to the header is kept, so that the
			// operator sees the row in quarantine.
			out = append(out, Parsed{Row: row, In: in, Err: &RowError{Row: row, Field: "row",
				Reason: fmt.Sprintf("has %d columns, the header has %d", len(rec), len(cols))}})
			continue
		}
		out = append(out, Parsed{Row: row, In: in})
	}
}

func parseNDJSON(body []byte, maxRows int) ([]Parsed, error) {
	var out []Parsed
	row := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // blank lines are not rows
		}
		row++
		if row > maxRows {
			out = append(out, Parsed{Row: row, Err: tooMany(row, maxRows)})
			return out, nil
		}
		out = append(out, decodeObject(row, line))
	}
	return out, nil
}

func parseJSONArray(body []byte, maxRows int) ([]Parsed, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("%w: JSON body must be an array of objects", ErrBody)
	}
	var out []Parsed
	for row := 1; dec.More(); row++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			// The array is broken from here on: report this row and stop,
			// since later element boundaries cannot be trusted.
			out = append(out, Parsed{Row: row, Err: &RowError{Row: row, Field: "row", Reason: "malformed JSON: " + err.Error()}})
			return out, nil
		}
		if row > maxRows {
			out = append(out, Parsed{Row: row, Err: tooMany(row, maxRows)})
			return out, nil
		}
		out = append(out, decodeObject(row, raw))
	}
	if _, err := dec.Token(); err != nil {
		out = append(out, Parsed{Row: len(out) + 1, Err: &RowError{Row: len(out) + 1, Field: "row", Reason: "malformed JSON: array not closed"}})
	}
	return out, nil
}

// decodeObject reads one JSON object row. Strings, numbers and null are
// accepted for every field (party_size is often a number); unknown fields
// are refused so that a misspelt column does not silently drop data.
func decodeObject(row int, raw []byte) Parsed {
	fail := func(field, reason string) Parsed {
		return Parsed{Row: row, Err: &RowError{Row: row, Field: field, Reason: reason}}
	}
	if !utf8.Valid(raw) {
		return fail("row", "invalid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		if len(raw) > 0 && raw[0] != '{' {
			return fail("row", "not a JSON object")
		}
		return fail("row", "malformed JSON: "+err.Error())
	}
	var in Input
	for k, v := range obj {
		var s string
		switch {
		case len(v) == 0 || string(v) == "null":
		case v[0] == '"':
			if err := json.Unmarshal(v, &s); err != nil {
				return fail(k, "malformed string")
			}
		case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return fail(k, "malformed number")
			}
			s = string(v)
		default:
			if !in.set(k, "") {
				return fail(truncate(k), "unknown field")
			}
			return fail(k, "must be a string")
		}
		if !in.set(k, s) {
			return fail(truncate(k), "unknown field")
		}
	}
	return Parsed{Row: row, In: in}
}
