package vpn

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/curve25519"
)

// hidden is what a secret key prints as, whichever way it is printed.
const hidden = "(hidden)"

// PrivateKey is a Curve25519 private key. It never prints its value: String,
// GoString, every fmt verb, slog and text marshalling all give "(hidden)".
// Base64 and Hex are the explicit ways to reveal it.
type PrivateKey [32]byte

// PublicKey is a Curve25519 public key; it prints as base64, as wg does.
type PublicKey [32]byte

// PresharedKey is a peer's optional symmetric key; it is hidden like a
// PrivateKey.
type PresharedKey [32]byte

// GeneratePrivateKey returns a new random, clamped private key (like wg genkey).
func GeneratePrivateKey() (PrivateKey, error) {
	var k PrivateKey
	if _, err := rand.Read(k[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("vpn: generate private key: %w", err)
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// Public derives the public key.
func (k PrivateKey) Public() PublicKey {
	var p PublicKey
	// X25519 only fails for a low-order peer point; the base point is not one.
	out, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		panic("vpn: curve25519 with the base point failed: " + err.Error())
	}
	copy(p[:], out)
	return p
}

// Hex reveals the key in lower-case hex, the form wireguard-go's UAPI takes.
func (k PrivateKey) Hex() string { return hex.EncodeToString(k[:]) }

// Base64 reveals the key in the wg-quick form, for writing config files.
func (k PrivateKey) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

func (k PrivateKey) String() string               { return hidden }
func (k PrivateKey) GoString() string             { return hidden }
func (k PrivateKey) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(hidden)) }
func (k PrivateKey) LogValue() slog.Value         { return slog.StringValue(hidden) }
func (k PrivateKey) MarshalText() ([]byte, error) { return []byte(hidden), nil }

// Hex reveals the key in lower-case hex, the form wireguard-go's UAPI takes.
func (k PresharedKey) Hex() string { return hex.EncodeToString(k[:]) }

// Base64 reveals the key in the wg-quick form, for writing config files.
func (k PresharedKey) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

func (k PresharedKey) String() string               { return hidden }
func (k PresharedKey) GoString() string             { return hidden }
func (k PresharedKey) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(hidden)) }
func (k PresharedKey) LogValue() slog.Value         { return slog.StringValue(hidden) }
func (k PresharedKey) MarshalText() ([]byte, error) { return []byte(hidden), nil }

// String gives the base64 form used in wg-quick files.
func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Hex gives the lower-case hex form wireguard-go's UAPI takes.
func (k PublicKey) Hex() string { return hex.EncodeToString(k[:]) }

// MarshalText gives the base64 form.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// ParsePublicKey reads a base64 public key as wg-quick files write it.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := decodeKey(s)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey(b), nil
}

var errBadBase64 = errors.New("bad base64")

// decodeKey decodes a base64 key. Its errors never quote the input: the same
// code reads private keys.
func decodeKey(s string) ([32]byte, error) {
	var k [32]byte
	if s == "" {
		return k, errors.New("missing value")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return k, errBadBase64
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("key must be 32 bytes, got %d", len(b))
	}
	copy(k[:], b)
	return k, nil
}
