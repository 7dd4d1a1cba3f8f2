package jsonscan

import (
	"encoding/json"
	"testing"
)

// TestNumber holds Number to encoding/json's grammar: it accepts a prefix
// exactly when that prefix is a valid JSON number, and ends where the
// number does.
func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		in  string
		end int // -1: no number
	}{
		{"0", 1}, {"-0", 2}, {"12.5", 4}, {"1e9", 3}, {"1E+09,", 5}, {"-3.25e-2}", 8},
		{"0123", 1}, {"12.", -1}, {"-", -1}, {".5", -1}, {"1e", -1}, {"1e+", -1}, {"", -1}, {"x1", -1}, {"7 ", 1},
	} {
		end, ok := Number([]byte(tt.in), 0)
		if !ok {
			end = -1
		}
		if end != tt.end {
			t.Errorf("Number(%q) = %d, want %d", tt.in, end, tt.end)
		}
		if ok && !json.Valid([]byte(tt.in[:end])) {
			t.Errorf("Number(%q) accepted %q, which encoding/json refuses", tt.in, tt.in[:end])
		}
	}
	if end, ok := Number([]byte(`{"p":12.5}`), 5); !ok || end != 9 {
		t.Errorf("Number at offset 5 = %d, %v, want 9", end, ok)
	}
}
