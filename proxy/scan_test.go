package proxy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/jsonscan"
)

// scanCases are properties objects the fast scanner must either accept
// exactly as the walker does, or hand to the walker.
var scanCases = []string{
	`{}`, `{"a":1}`, `{ "a" : [1, 2.5, -0.25, true, false, null, "x"] }`,
	`{"ProductName":"Mug","ProductID":"p1","Price":12.5,"Categories":["a","b"],"x":{"y":{"z":[{}]}}}`,
	`{"a":1e3}`, `{"a":1e400}`, `{"a":-1E-2}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
	`{"a":"\u00e9\n\"q\""}`, `{"a":"\ud83d\ude00"}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`,
	`{"a":1,"a":2}`, `{"a":1,}`, `{"a" 1}`, `{"a":1} x`, `{"a":1}   `, `{"a":[1,]}`, `{"a":[}`,
	`{"` + strings.Repeat("k", 80) + `":1}`, `{"` + strings.Repeat("k", 90) + `":1}`, `{"` + strings.Repeat("k", 257) + `":1}`,
	`{"a":"` + strings.Repeat("s", 40) + `"}`, `{"a":"` + strings.Repeat("s", 101) + `"}`,
	`{"a":[` + strings.Repeat("1,", 11) + `1]}`, `{"a":[` + strings.Repeat("1,", 9) + `1]}`,
	`{"a":{"b":{"c":{"d":1}}}}`, `{"a":[[[[1]]]]}`, `{"a":[[[1]]]}`,
	`{"a":` + strings.Repeat("9", 301) + `}`, `{"a":` + strings.Repeat("9", 299) + `.5}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":true`, `{`, `{"a":"é"}`,
}

// scanLimits are small limits so the cases reach every bound.
var scanLimits = EventLimits{MaxProperties: 3, MaxDepth: 4, MaxArray: 10, MaxString: 100}

// checkScanAgrees fails when the scanner accepts what the walker refuses,
// or compacts differently.
func checkScanAgrees(t *testing.T, v *Validator, raw []byte) {
	t.Helper()
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	if !jsonscan.Scan(raw, v.scanLimits()).OK {
		return
	}
	want, err := v.walkProperties(raw, "p")
	if err != nil {
		t.Fatalf("scanner accepted %q, walker refused: %v", raw, err)
	}
	got, err := v.validateProperties(raw, "p")
	if err != nil {
		t.Fatalf("validateProperties(%q) = %v after the scanner accepted it", raw, err)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("validateProperties(%q) = %s, walker compacts to %s", raw, got, want)
	}
}

// TestScanAgreesWithWalker checks the fast path against the walker on the
// cases, and that it takes the fast path on the ordinary ones (so the
// fast path is not silently dead).
func TestScanAgreesWithWalker(t *testing.T) {
	v := NewValidator(nil, scanLimits)
	fast := 0
	for _, c := range scanCases {
		checkScanAgrees(t, v, []byte(c))
		if jsonscan.Scan([]byte(c), v.scanLimits()).OK {
			fast++
		}
	}
	for _, c := range []string{`{}`, `{"a":1}`, `{"a":"\u00e9\n\"q\""}`, `{"a":{"b":{"c":{"d":1}}}}`} {
		if !jsonscan.Scan([]byte(c), v.scanLimits()).OK {
			t.Errorf("scanner hands %s to the walker; want the fast path", c)
		}
	}
	if fast == 0 {
		t.Fatal("no case took the fast path")
	}
}

// FuzzScanAgrees holds the scanner to the walker's answers on any input.
//
//	go test ./proxy -run '^$' -fuzz FuzzScanAgrees -fuzztime 60s
func FuzzScanAgrees(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	v := NewValidator(nil, scanLimits)
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkScanAgrees(t, v, raw)
	})
}

// TestScanNoAllocs pins the point of the scanner: checking an ordinary,
// compact properties object allocates nothing.
func TestScanNoAllocs(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	raw := []byte(`{"ProductName":"Mug","ProductID":"p1","Price":12.5,"Categories":["a","b"]}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := v.validateProperties(raw, "p"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("validateProperties allocates %v times per call; want 0", n)
	}
}
