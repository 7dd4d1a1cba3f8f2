package httpx

import (
	"crypto/sha256"
	"crypto/subtle"
)

// TokenMatches reports whether tok is the configured bearer token want; an
// empty want matches nothing. Both sides are hashed first so that the
// comparison takes the same time whatever the length or content of tok: a
// byte-wise constant-time compare of unequal lengths returns early and
// leaks the token's length.
func TokenMatches(want, tok string) bool {
	if want == "" || tok == "" {
		return false
	}
	a := sha256.Sum256([]byte(tok))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
