// Package identity protects identity-document numbers: it validates resident
// ID numbers (GB 11643), masks numbers for display, and turns a number into
// the keyed hash used for exact lookup plus the AES-GCM ciphertext used for a
// logged reveal. The keys come from configuration or from files generated
// once into the data folder, never from code.
//
// A foundation of netpulse (README, Layout): every layer may use it, and it
// uses none of them.
package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Document types accepted in access records.
const (
	TypeResident = "resident_id"
	TypePassport = "passport"
	TypeOther    = "other"
)

var checkWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkChars = "10X98765432"

// provinces are the first two digits of GB/T 2260 administrative codes.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true,
}

// Validation failures of a resident ID number, distinct so that callers can
// tell the operator exactly what is wrong.
var (
	ErrFormat     = errors.New("must be 17 digits followed by a digit or X")
	ErrArea       = errors.New("unknown province code")
	ErrBirthDate  = errors.New("birth date is not a real date")
	ErrCheckDigit = errors.New("check digit does not match (GB 11643)")
)

// CheckDigit computes the GB 11643 check character of the first 17 digits.
func CheckDigit(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * checkWeights[i]
	}
	return checkChars[sum%11]
}

// ValidateResident checks an 18-character resident ID number; now bounds the
// birth date (nobody is born in the future).
func ValidateResident(n string, now time.Time) error {
	if len(n) != 18 {
		return ErrFormat
	}
	for i := 0; i < 17; i++ {
		if n[i] < '0' || n[i] > '9' {
			return ErrFormat
		}
	}
	last := n[17]
	if !(last >= '0' && last <= '9') && last != 'X' {
		return ErrFormat
	}
	if !provinces[n[:2]] {
		return ErrArea
	}
	birth, err := time.Parse("20060102", n[6:14])
	if err != nil || birth.Year() < 1900 || birth.After(now) {
		return ErrBirthDate
	}
	if CheckDigit(n) != last {
		return ErrCheckDigit
	}
	return nil
}

// Normalize canonicalises a number as typed: trimmed, upper case (a lower
// case x check character is common in hand-typed resident numbers).
func Normalize(n string) string { return strings.ToUpper(strings.TrimSpace(n)) }

// Mask hides the middle of a number: resident numbers keep the area code
// and the last four characters (420106********123X); others keep two at
// each end.
func Mask(idType, n string) string {
	if idType == TypeResident && len(n) == 18 {
		return n[:6] + "********" + n[14:]
	}
	if len(n) <= 4 {
		return strings.Repeat("*", len(n))
	}
	return n[:2] + strings.Repeat("*", len(n)-4) + n[len(n)-2:]
}

// Keys is the key material for personal data and signatures.
type Keys struct {
	IDHash  []byte // HMAC key for lookup hashes and record ids
	IDEnc   []byte // AES-256-GCM key for identity numbers at rest
	Receipt []byte // HMAC key for intake receipts
	Audit   []byte // HMAC key for the audit hash chain
}

// LoadKeys takes the hash and encryption keys from hex configuration values
// or, when a value is empty, from DATA/keys/<name>.key, generating that file
// (mode 0600) on first use. When the hash key is configured, the receipt and
// audit keys are derived from it, so that every node of a cluster signs and
// chains alike from configuration alone; otherwise they too live in files.
func LoadKeys(dataDir, idHashHex, idEncHex string) (Keys, error) {
	var k Keys
	var err error
	if k.IDHash, err = loadKey(dataDir, "id-hash", idHashHex); err != nil {
		return k, err
	}
	if k.IDEnc, err = loadKey(dataDir, "id-enc", idEncHex); err != nil {
		return k, err
	}
	if idHashHex != "" {
		k.Receipt, k.Audit = derive(k.IDHash, "netpulse receipt key v1"), derive(k.IDHash, "netpulse audit key v1")
		return k, nil
	}
	if k.Receipt, err = loadKey(dataDir, "receipt", ""); err != nil {
		return k, err
	}
	if k.Audit, err = loadKey(dataDir, "audit", ""); err != nil {
		return k, err
	}
	return k, nil
}

// derive is a one-step HKDF-Expand: distinct purposes get independent keys.
func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	m.Write([]byte{1})
	return m.Sum(nil)
}

func loadKey(dataDir, name, hexValue string) ([]byte, error) {
	if hexValue != "" {
		b, err := hex.DecodeString(strings.TrimSpace(hexValue))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("key %s: want 64 hex characters (32 bytes)", name)
		}
		return b, nil
	}
	dir := filepath.Join(dataDir, "keys")
	path := filepath.Join(dir, name+".key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("key file %s: want 64 hex characters", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key folder %s: %w", dir, err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate key %s: %w", name, err)
	}
	// O_EXCL: if two starts race, one wins and the other reads its key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadKey(dataDir, name, "")
	}
	if err != nil {
		return nil, fmt.Errorf("create key %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync key %s: %w", path, err)
	}
	return k, f.Close()
}

// Protector hashes and encrypts identity numbers. It is safe for
// concurrent use.
type Protector struct {
	hashKey []byte
	aead    cipher.AEAD
	macs    sync.Pool // keyed HMACs: keying costs as much as hashing a short number
}

func (p *Protector) mac() hash.Hash {
	if m, ok := p.macs.Get().(hash.Hash); ok {
		m.Reset()
		return m
	}
	return hmac.New(sha256.New, p.hashKey)
}

// NewProtector builds a Protector from k.
func NewProtector(k Keys) (*Protector, error) {
	block, err := aes.NewCipher(k.IDEnc)
	if err != nil {
		return nil, fmt.Errorf("identity cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("identity cipher: %w", err)
	}
	return &Protector{hashKey: k.IDHash, aead: aead}, nil
}

// Hash is the lookup hash of a document: equal documents hash equally, and
// without the key the hash reveals nothing about the number.
func (p *Protector) Hash(idType, number string) string {
	m := p.mac()
	defer p.macs.Put(m)
	var buf [96]byte
	b := append(append(append(append(buf[:0], "id\x00"...), idType...), 0), number...)
	m.Write(b)
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// RecordID is the deterministic id of one access record, so that a resent
// record lands on the same row. It is keyed because it is derived from the
// identity number.
func (p *Protector) RecordID(venue, idType, number, place string, start time.Time) string {
	m := p.mac()
	defer p.macs.Put(m)
	var buf [256]byte
	b := append(buf[:0], "rec\x00"...)
	for _, s := range [...]string{venue, idType, number, place} {
		b = append(append(b, s...), 0)
	}
	m.Write(strconv.AppendInt(b, start.UnixMilli(), 10))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:16])
}

// Encrypt seals a value (an identity number, or a quarantined row) with a
// random nonce; the output is base64 of nonce||ciphertext.
func (p *Protector) Encrypt(plain []byte) string {
	nonce := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(plain)+p.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS entropy source is gone
	}
	return base64.StdEncoding.EncodeToString(p.aead.Seal(nonce, nonce, plain, nil))
}

// Decrypt opens a value sealed by Encrypt.
func (p *Protector) Decrypt(sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	ns := p.aead.NonceSize()
	if len(b) < ns {
		return nil, errors.New("decrypt: value too short")
	}
	out, err := p.aead.Open(nil, b[:ns], b[ns:], nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return out, nil
}

// Synthetic returns a valid resident number for demo data. Pass an area
// code that is not assigned to any county (the demo uses 420199, a free code
// under Wuhan) so that no number can belong to a real person; the sequence
// field is kept in 990-999 as a second visible marker. n picks the variant.
func Synthetic(area string, n int) string {
	birth := time.Date(1965, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (n*37)%14600)
	s := fmt.Sprintf("%s%s99%d", area, birth.Format("20060102"), n%10)
	return s + string(CheckDigit(s))
}
