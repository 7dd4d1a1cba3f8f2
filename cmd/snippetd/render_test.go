package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/render"
)

const identifyBody = `{"customer":{"email":"shopper@example.com","first_name":"</script>"}}`

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRenderCLI(t *testing.T) {
	ctx := templ.WithNonce(context.Background(), "n0")
	want, err := render.Renderer{}.Render(ctx, render.Identify, []byte(identifyBody))
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, identifyBody, "render", "identify", "--nonce", "n0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if diff := cmp.Diff(string(want.HTML)+"\n", out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}

	in := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(in, []byte(identifyBody), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "render", "identify", "--in", in, "--json", "--nonce", "n0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantJSON, _ := json.Marshal(want)
	if diff := cmp.Diff(string(wantJSON)+"\n", out); diff != "" {
		t.Errorf("--json stdout (-want +got):\n%s", diff)
	}

	code, out, errOut = runCLI(t, `{"snippets":[{"type":"loader","public_key":"AbC123"}]}`, "render", "batch")
	if code != 0 || !strings.Contains(out, "https://static.klaviyo.com/onsite/js/AbC123/klaviyo.js") {
		t.Errorf("batch: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, ``, "render", "loader", "--public-key", "Xyz789")
	if code != 0 || !strings.Contains(out, "/onsite/js/Xyz789/klaviyo.js") {
		t.Errorf("loader: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestRenderCLIErrors(t *testing.T) {
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"no snippet", "", []string{"render"}, 1, "name a snippet"},
		{"unknown snippet", "{}", []string{"render", "checkout"}, 1, `unknown snippet "checkout"`},
		{"validation", `{"product":{"id":"1","name":"n","price":-1}}`, []string{"render", "viewed-product"}, 1, "product.price: must not be negative"},
		{"invalid UTF-8", "{\"customer\":{\"email\":\"\xff@x\"}}", []string{"render", "identify"}, 1, "not valid UTF-8"},
		{"missing file", "", []string{"render", "identify", "--in", "/nonexistent/body.json"}, 1, "no such file"},
		{"bad flag", "", []string{"render", "identify", "--bogus"}, 1, "flag provided but not defined"},
		{"extra argument", "", []string{"render", "identify", "extra"}, 1, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and stderr containing %q", code, out, errOut, tt.code, tt.stderr)
			}
		})
	}
	code, out, _ := runCLI(t, "", "render", "-h")
	if code != 0 || out != "" {
		t.Errorf("render -h: exit %d", code)
	}
}

// runCLICtx is runCLI with a context and no stdin, for commands that may
// run until the context ends.
func runCLICtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestRenderCLIBrowse renders the two browse events from the command line
// as the renderer does, and names their fields in errors.
func TestRenderCLIBrowse(t *testing.T) {
	for name, body := range map[string]string{
		render.ViewedCategory: `{"category":{"id":"mugs","name":"Mugs </script>","url":"https://shop.example/c/mugs","product_ids":["1","2"]}}`,
		render.SearchedSite:   `{"search":{"term":"blue <!-- mug","results_count":12,"product_ids":["2"]}}`,
	} {
		want, err := render.Renderer{}.Render(context.Background(), name, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, body, "render", name)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		if diff := cmp.Diff(string(want.HTML)+"\n", out); diff != "" {
			t.Errorf("%s stdout (-want +got):\n%s", name, diff)
		}
	}
	code, _, errOut := runCLI(t, `{"search":{"results_count":1}}`, "render", render.SearchedSite)
	if code != 1 || !strings.Contains(errOut, "search.term: is required") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "render", "-h")
	if code != 0 || !strings.Contains(errOut, "viewed-category, searched-site") {
		t.Errorf("render -h: exit %d, usage %q does not list the browse snippets", code, errOut)
	}
}
