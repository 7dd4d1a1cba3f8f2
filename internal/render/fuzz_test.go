package render

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/internal/apperr"
)

// checkResult is what every render must satisfy: a field-safe error code
// for failures (never internal), and for successes a partial made of
// script elements carrying the nonce whose pushes are exactly the result's,
// and a JSON form as encoding/json would write it.
func checkResult(t *testing.T, res Result, err error) {
	t.Helper()
	if err != nil {
		switch apperr.ErrorCode(err) {
		case apperr.EBADREQUEST, apperr.EINVALID, apperr.ENOTFOUND:
		default:
			t.Fatalf("error %v has code %q", err, apperr.ErrorCode(err))
		}
		if apperr.ErrorMessage(err) == "" {
			t.Fatal("empty error message")
		}
		return
	}
	html := string(res.HTML)
	if strings.Count(html, "<script") != strings.Count(html, `nonce="fz"`) || strings.Count(html, "<script") != strings.Count(html, "</script>") {
		t.Fatalf("partial is not only script elements with the nonce: %s", html)
	}
	rest := html
	for _, p := range res.Pushes {
		call := "klaviyo.push(" + string(p) + ");"
		i := strings.Index(rest, call)
		if i < 0 {
			t.Fatalf("push %s not in the partial (in order): %s", p, html)
		}
		rest = rest[i+len(call):]
		if !json.Valid(p) {
			t.Fatalf("push %s is not JSON", p)
		}
		if strings.Contains(string(p), "<") || strings.Contains(string(p), "\u2028") {
			t.Fatalf("push %s is not script-safe", p)
		}
	}
	// The JSON form frames the pushes without reading them: it must be what
	// encoding/json makes of the same partial and pushes.
	raw := make([]json.RawMessage, len(res.Pushes))
	for i, p := range res.Pushes {
		raw[i] = json.RawMessage(p)
	}
	want, err := json.Marshal(struct {
		HTML   string            `json:"html"`
		Pushes []json.RawMessage `json:"pushes"`
	}{string(res.HTML), raw})
	if err != nil {
		t.Fatalf("JSON form: %v", err)
	}
	if got := res.AppendJSON(nil); string(got) != string(want) {
		t.Fatalf("JSON form\n got %s\nwant %s", got, want)
	}
}

// FuzzRenderRequest feeds arbitrary bodies to each snippet's decoder.
//
//	go test ./render -run '^$' -fuzz FuzzRenderRequest -fuzztime 3m
func FuzzRenderRequest(f *testing.F) {
	for i, name := range Names {
		f.Add(uint8(i), []byte(okBodies[name]))
	}
	f.Add(uint8(2), []byte(`{"cart":{"id":"c","items":[{"product":{"id":"p","name":"</script>","price":1e2},"quantity":3}]},"added":{"product":{"id":"p","name":"x","price":0.005},"quantity":1}}`))
	f.Add(uint8(3), []byte(`{"cart":{"id":"c","items":[{"product":{"id":"p","name":"n","price":-1},"quantity":1}]},"time":"2026-13-01T00:00:00Z"}`))
	f.Add(uint8(4), []byte("{\"customer\":{\"email\":\"\xff\"}}"))
	f.Add(uint8(5), []byte(`{}`))
	rd := Renderer{PublicKey: "AbC123", Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	ctx := templ.WithNonce(context.Background(), "fz")
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := "unknown"
		if int(which) < len(Names) {
			name = Names[which]
		}
		res, err := rd.Render(ctx, name, body)
		checkResult(t, res, err)
	})
}

// FuzzRenderBatch feeds arbitrary bodies to the batch decoder.
//
//	go test ./render -run '^$' -fuzz FuzzRenderBatch -fuzztime 3m
func FuzzRenderBatch(f *testing.F) {
	var items []string
	for _, name := range Names {
		items = append(items, `{"type":"`+name+`",`+strings.TrimPrefix(okBodies[name], "{"))
	}
	f.Add([]byte(`{"snippets":[` + strings.Join(items, ",") + `]}`))
	f.Add([]byte(`{"snippets":[{"type":"identify","product":{}}]}`))
	f.Add([]byte(`{"snippets":[1,{"type":null}]}`))
	rd := Renderer{PublicKey: "AbC123", Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	ctx := templ.WithNonce(context.Background(), "fz")
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := rd.RenderBatch(ctx, body)
		checkResult(t, res, err)
	})
}
