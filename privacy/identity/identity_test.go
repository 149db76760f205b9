package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

func TestValidateResident(t *testing.T) {
	good := Synthetic("420199", 7)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid synthetic", good, nil},
		{"known valid sample", "11010519491231002X", nil},
		{"short", "4201", ErrFormat},
		{"letters", "42010A199001011234", ErrFormat},
		{"lower x not normalised", "11010519491231002x", ErrFormat},
		{"bad province", "99010519491231002X", ErrArea},
		{"feb 30", "420102" + "19900230" + "1234", ErrBirthDate},
		{"future birth", "420102" + "20300101" + "1234", ErrBirthDate},
		{"bad check", "110105194912310021", ErrCheckDigit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if len(in) == 18 && tt.want == ErrBirthDate {
				in = in[:17] + string(CheckDigit(in))
			}
			if err := ValidateResident(in, now); !errors.Is(err, tt.want) {
				t.Errorf("ValidateResident(%q) = %v, want %v", in, err, tt.want)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ typ, in, want string }{
		{TypeResident, "42010619900101123X", "420106********123X"},
		{TypePassport, "E12345678", "E1*****78"},
		{TypeOther, "abc", "***"},
	}
	for _, tt := range tests {
		if got := Mask(tt.typ, tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKeysAndProtector(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadKeys(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "keys", "id-enc.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadKeys(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(k1.IDEnc) != string(k2.IDEnc) || string(k1.Audit) != string(k2.Audit) {
		t.Fatal("keys changed between loads")
	}
	if _, err := LoadKeys(dir, "zz", ""); err == nil {
		t.Error("bad hex key accepted")
	}
	// Configured keys give every node the same receipt and audit keys.
	hexKey := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	a, err := LoadKeys(t.TempDir(), hexKey, hexKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadKeys(t.TempDir(), hexKey, hexKey)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Receipt) != string(b.Receipt) || string(a.Audit) != string(b.Audit) || string(a.Audit) == string(a.Receipt) || string(a.Audit) == string(a.IDHash) {
		t.Error("derived keys differ between nodes or repeat each other")
	}
	p, err := NewProtector(k1)
	if err != nil {
		t.Fatal(err)
	}
	n := Synthetic("420199", 3)
	sealed := p.Encrypt([]byte(n))
	plain, err := p.Decrypt(sealed)
	if err != nil || string(plain) != n {
		t.Fatalf("round trip = %q, %v", plain, err)
	}
	if p.Hash(TypeResident, n) != p.Hash(TypeResident, n) || p.Hash(TypeResident, n) == p.Hash(TypePassport, n) {
		t.Error("hash not deterministic per type")
	}
	start := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	m := hmac.New(sha256.New, k1.IDHash)
	fmt.Fprintf(m, "rec\x00%s\x00%s\x00%s\x00%s\x00%d", "V1", TypeResident, n, "A1", start.UnixMilli())
	if want := hex.EncodeToString(m.Sum(nil)[:16]); p.RecordID("V1", TypeResident, n, "A1", start) != want {
		t.Error("record id changed its definition: stored records would no longer deduplicate")
	}
	if _, err := p.Decrypt(sealed[:len(sealed)-4] + "AAAA"); err == nil {
		t.Error("tampered ciphertext opened")
	}
}

func FuzzValidateResident(f *testing.F) {
	f.Add("11010519491231002X")
	f.Add("420102199002301234")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateResident(s, now)
		if err == nil {
			if len(s) != 18 || CheckDigit(s) != s[17] {
				t.Fatalf("accepted %q", s)
			}
			_ = Mask(TypeResident, s)
		}
	})
}
