package carts

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// A restore token is 24 bytes, written as 32 base64url characters:
//
//	key (12) | issued at, unix seconds (4) | MAC (8)
//
// key names one version of one cart: HMAC-SHA256(secret, cart id, lines),
// so the same lines give the same key (and row) however often a cart is
// seen, any change gives a new one, and the key says nothing about the cart
// or the shopper. The MAC, HMAC-SHA256(secret, key|issued), lets a token be
// refused before any database query: a tampered, guessed or other shop's
// token fails it (one guess in 2^64 passes it, and still needs a key that
// exists, one in 2^96), and an authentic token past its TTL is known to be
// expired even after its row is pruned. A random row id alone could do
// neither without a query, and could not tell expired from unknown.
const (
	keyLen    = 12
	macLen    = 8
	tokenLen  = keyLen + 4 + macLen
	secretLen = 32
)

// TokenChars is the length of a token in characters.
var TokenChars = base64.RawURLEncoding.EncodedLen(tokenLen)

// Key names one version of one cart.
type Key [keyLen]byte

// String is the key in hex, as the database stores it.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Secret is the server secret tokens are made with. It prints as
// [redacted].
type Secret struct{ b []byte }

// NewSecret wraps b (32 bytes).
func NewSecret(b []byte) Secret { return Secret{b: b} }

// String hides the secret from logs and %v.
func (Secret) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "[redacted]" }

// key derives the version key of a cart's id and lines (the JSON of its
// items, which is also what is stored).
func (s Secret) key(cartID string, lines []byte) Key {
	m := hmac.New(sha256.New, s.b)
	m.Write([]byte("cart-version\x00"))
	m.Write([]byte(cartID))
	m.Write([]byte{0})
	m.Write(lines)
	var k Key
	copy(k[:], m.Sum(nil))
	return k
}

func (s Secret) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.b)
	m.Write([]byte("restore-token\x00"))
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}

// Mint returns the token of version k issued at t.
func (s Secret) Mint(k Key, t time.Time) string {
	var b [tokenLen]byte
	copy(b[:], k[:])
	binary.BigEndian.PutUint32(b[keyLen:], uint32(t.Unix()))
	copy(b[keyLen+4:], s.mac(b[:keyLen+4]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Verify reads a token: its version key and issue time, or ok false when it
// is malformed or its MAC does not match this secret.
func (s Secret) Verify(tok string) (k Key, issued time.Time, ok bool) {
	if len(tok) != TokenChars {
		return k, issued, false
	}
	var b [tokenLen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(tok))
	if err != nil || n != tokenLen {
		return k, issued, false
	}
	if subtle.ConstantTimeCompare(b[keyLen+4:], s.mac(b[:keyLen+4])) != 1 {
		return k, issued, false
	}
	copy(k[:], b[:keyLen])
	return k, time.Unix(int64(binary.BigEndian.Uint32(b[keyLen:])), 0), true
}
