package jsonw

import (
	"encoding/json"
	"testing"
)

// TestAppendStringMatchesEncodingJSON checks the escaping against
// encoding/json's own (HTML-safe) output, byte for byte.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted" \ back`, "</script><!--", "a & b > c",
		"line\nbreak\ttab\r\x00\x1f\b\f", "\u2028\u2029", "été 😀", "bad \xff utf8",
	} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("</script>\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}
