package intake

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	end := time.Date(2026, 11, 28, 7, 0, 0, 123e6, time.UTC)
	tests := []Record{
		{RecordID: "r1", Venue: "V", Kind: "cafe", Place: "A1", IDType: "resident_id", Name: "张三",
			StartedAt: time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC), ReceivedAt: time.Now().UTC().Truncate(time.Millisecond),
			Version: 1<<42 | 12345, RetainUntil: time.Date(2027, 1, 27, 6, 0, 0, 0, time.UTC), EndedAt: &end, PartySize: 3},
		{RecordID: `q"uo\te`, Name: "ctl\x01\n\r\t<>&\u2028", Place: "bad\xffutf8", StartedAt: time.Unix(0, 0).UTC()},
		{RecordID: "r2", Venue: "H", Kind: "hotel", Place: "301", IDType: "resident_id", StartedAt: end, BirthDate: "2010-02-28",
			GuardianContact: "13800000000 王某", GuardianRelation: "母亲"},
	}
	for i, r := range tests {
		var got, want map[string]any
		if err := json.Unmarshal(r.AppendJSON(nil), &got); err != nil {
			t.Fatalf("case %d: invalid JSON %s: %v", i, r.AppendJSON(nil), err)
		}
		wb, _ := json.Marshal(&r)
		if err := json.Unmarshal(wb, &want); err != nil {
			t.Fatal(err)
		}
		var back Record
		if err := json.Unmarshal(r.AppendJSON(nil), &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(keys(got), keys(want)) || back.Name != r.Name && i == 0 || back.Version != r.Version {
			t.Errorf("case %d:\n got %v\nwant %v", i, got, want)
		}
		if !back.StartedAt.Equal(r.StartedAt) || (r.EndedAt != nil) != (back.EndedAt != nil) {
			t.Errorf("case %d: times differ: %+v", i, back)
		}
		if i == 1 && (back.Name != r.Name || back.RecordID != r.RecordID || back.Place != "bad\ufffdutf8") {
			t.Errorf("escaping: %+v", back)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func BenchmarkAppendJSON(b *testing.B) {
	r := Record{RecordID: "0123456789abcdef0123456789abcdef", Venue: "JA-C01", Kind: "cafe", Place: "A001", IDType: "resident_id",
		IDHash: "aa", IDEnc: "bb", IDMasked: "420199********9901", Name: "张三", StartedAt: time.Now(), ReceivedAt: time.Now(), RetainUntil: time.Now()}
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(&r)
		}
	})
}
