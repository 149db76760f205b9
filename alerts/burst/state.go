package burst

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// stateVersion tags the binary layout; bump it when State changes.
const stateVersion = 2

// StateSize is the length of a marshalled State.
const StateSize = 1 + 5*8 + 4 + 1 + 13*4 + (dailySlots+weeklySlots)*4 + hwSlots*2

// stateSizeV1 is the length of a version-1 State (no hour-of-week profile,
// no collapse statistic), which UnmarshalBinary still reads so that an
// upgrade keeps every term's learnt baseline.
const stateSizeV1 = 1 + 4*8 + 4 + 1 + 9*4 + (dailySlots+weeklySlots)*4

// EncodedSize is the length of a marshalled State whose first byte is
// version, or 0 for an unknown version; readers of concatenated records
// use it to read older records.
func EncodedSize(version byte) int {
	switch version {
	case 1:
		return stateSizeV1
	case stateVersion:
		return StateSize
	}
	return 0
}

// MarshalBinary encodes the state in a fixed-length little-endian record,
// so a resumed detector continues bit for bit where the saved one stopped.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, StateSize))
}

// AppendBinary appends the encoding of MarshalBinary to b.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, stateVersion)
	for _, v := range [...]int64{s.first, s.last, s.lastAlert, s.quietFrom, s.lowFrom} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, s.n)
	b = append(b, s.flags)
	for _, v := range [...]float32{s.level, s.scale, s.fast, s.fscale, s.slow, s.sscale, s.xf, s.mf, s.xs, s.ms, s.cx, s.cm, s.peak} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, v := range s.daily {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, v := range s.weekly {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, v := range s.hw {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b, nil
}

// UnmarshalBinary restores a state written by MarshalBinary.
func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return errors.New("burst state: empty")
	}
	if b[0] == 1 && len(b) == stateSizeV1 {
		return s.unmarshalV1(b)
	}
	if len(b) != StateSize {
		return fmt.Errorf("burst state: %d bytes, want %d", len(b), StateSize)
	}
	if b[0] != stateVersion {
		return fmt.Errorf("burst state: version %d, want %d", b[0], stateVersion)
	}
	var t State
	p := b[1:]
	i64 := func() int64 {
		v := int64(binary.LittleEndian.Uint64(p))
		p = p[8:]
		return v
	}
	f32 := func() float32 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(p))
		p = p[4:]
		return v
	}
	t.first, t.last, t.lastAlert, t.quietFrom, t.lowFrom = i64(), i64(), i64(), i64(), i64()
	t.n = binary.LittleEndian.Uint32(p)
	p = p[4:]
	t.flags = p[0]
	p = p[1:]
	t.level, t.scale, t.fast, t.fscale = f32(), f32(), f32(), f32()
	t.slow, t.sscale = f32(), f32()
	t.xf, t.mf, t.xs, t.ms = f32(), f32(), f32(), f32()
	t.cx, t.cm, t.peak = f32(), f32(), f32()
	for i := range t.daily {
		t.daily[i] = f32()
	}
	for i := range t.weekly {
		t.weekly[i] = f32()
	}
	for i := range t.hw {
		t.hw[i] = int16(binary.LittleEndian.Uint16(p))
		p = p[2:]
	}
	if t.flags&^(flagInEvent|flagDrop|flagPending) != 0 {
		return errors.New("burst state: unknown flags")
	}
	*s = t
	return nil
}

// unmarshalV1 reads a version-1 record. The hour-of-week profile starts
// flat (the old model exactly) and the collapse statistic starts at rest
// with the scale of the sustained-rise average, so an upgraded term neither
// forgets its baseline nor alerts on its first collapse statistic.
func (s *State) unmarshalV1(b []byte) error {
	var t State
	p := b[1:]
	i64 := func() int64 {
		v := int64(binary.LittleEndian.Uint64(p))
		p = p[8:]
		return v
	}
	f32 := func() float32 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(p))
		p = p[4:]
		return v
	}
	t.first, t.last, t.lastAlert, t.quietFrom = i64(), i64(), i64(), i64()
	t.n = binary.LittleEndian.Uint32(p)
	p = p[4:]
	t.flags = p[0]
	p = p[1:]
	t.level, t.scale, t.fast, t.fscale = f32(), f32(), f32(), f32()
	t.xf, t.mf, t.cx, t.cm, t.peak = f32(), f32(), f32(), f32(), f32()
	for i := range t.daily {
		t.daily[i] = f32()
	}
	for i := range t.weekly {
		t.weekly[i] = f32()
	}
	if t.flags&^flagInEvent != 0 {
		return errors.New("burst state: unknown flags")
	}
	t.sscale, t.xs, t.ms = t.fscale, t.xf, t.mf
	*s = t
	return nil
}
