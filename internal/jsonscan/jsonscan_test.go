package jsonscan

import "testing"

func TestScan(t *testing.T) {
	l := Limits{MaxProperties: 2, MaxDepth: 2, MaxArray: 2, MaxString: 9, MaxKey: 6}
	tests := []struct {
		in   string
		want Result
	}{
		{`{"a":1,"b":[true,null]}`, Result{OK: true}},
		{` {"a": "x"} `, Result{OK: true, Spaced: true}},
		{"  ", Result{Blank: true, Spaced: true}},
		{`{"a":1,"b":2,"c":3}`, Result{}}, // too many keys
		{`{"a":{"b":{}}}`, Result{}},      // too deep
		{`{"a":[1,2,3]}`, Result{}},       // array too long
		{`{"a":"0123"}`, Result{}},        // string may decode past 9 bytes
		{`{"abc":1}`, Result{}},           // key may decode past 6 bytes
		{`{"a":1e3}`, Result{}},           // exponent left to the slow path
		{`{"a":01}`, Result{}},            // not JSON
		{`{"a":"\x"}`, Result{}},          // bad escape
		{`[1]`, Result{}},                 // not an object
		{`{"a":1} x`, Result{}},           // trailing data
	}
	for _, tt := range tests {
		if got := Scan([]byte(tt.in), l); got != tt.want {
			t.Errorf("Scan(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	l.Exponents = true
	if !Scan([]byte(`{"a":-1.5E+3}`), l).OK {
		t.Error("exponent refused with Exponents set")
	}
}
