package httpx

import "testing"

// TestTokenMatches: only the configured token itself matches; an empty
// configuration matches nothing, not even an empty token (a write API
// with no token set must stay closed), and near misses (a prefix, an
// extension, one character's case) do not match.
func TestTokenMatches(t *testing.T) {
	const want = "s3cret-token"
	for _, tt := range []struct {
		want, tok string
		match     bool
	}{
		{want, want, true},
		{want, "s3cret-tokeN", false},
		{want, "s3cret", false},
		{want, want + "-and-more", false},
		{want, "", false},
		{"", "", false},
		{"", want, false},
	} {
		if got := TokenMatches(tt.want, tt.tok); got != tt.match {
			t.Errorf("TokenMatches(%q, %q) = %v, want %v", tt.want, tt.tok, got, tt.match)
		}
	}
}
