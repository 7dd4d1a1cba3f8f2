package httpapi

import "testing"

func TestTokenOK(t *testing.T) {
	s := &Server{APIToken: "s3cret-token"}
	tests := []struct {
		tok  string
		want bool
	}{
		{"s3cret-token", true},
		{"s3cret-tokeN", false},
		{"s3cret", false},
		{"s3cret-token-and-more", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := s.tokenOK(tt.tok); got != tt.want {
			t.Errorf("tokenOK(%q) = %v, want %v", tt.tok, got, tt.want)
		}
	}
	if (&Server{}).tokenOK("") {
		t.Error("an empty configured token accepted an empty bearer token")
	}
}
