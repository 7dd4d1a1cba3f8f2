package web

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/google/go-cmp/cmp"
)

// declarations is the published type file for window.snippetd.
const declarations = "snippetd.d.ts"

// TestDeclarationsMatchHelper: the methods snippetd.d.ts declares on
// window.snippetd are exactly the helper's api object, its queued-call
// union names every method but push, and its data interfaces have the
// fields (and optionality) of helper/types.ts.
func TestDeclarationsMatchHelper(t *testing.T) {
	dts := readFile(t, declarations)
	helper := readFile(t, "helper/helper.ts")
	types := readFile(t, "helper/types.ts")

	apiBlock := between(t, helper, "const api: { [k: string]: Fn } = {", "\n};")
	var want []string
	for _, m := range regexp.MustCompile(`(?m)^  (\w+):`).FindAllStringSubmatch(apiBlock, -1) {
		want = append(want, m[1])
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^    (\w+)\(`).FindAllStringSubmatch(between(t, dts, "interface API {", "\n  }"), -1) {
		got = append(got, m[1])
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) < 5 {
		t.Fatalf("found %d methods in helper.ts's api object: %v", len(want), want)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("window.snippetd methods (-helper.ts +%s):\n%s", declarations, d)
	}
	var calls []string
	for _, m := range regexp.MustCompile(`\| \["(\w+)"`).FindAllStringSubmatch(between(t, dts, "type Call =", ";\n"), -1) {
		calls = append(calls, m[1])
	}
	slices.Sort(calls)
	if d := cmp.Diff(slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "push" }), calls); d != "" {
		t.Errorf("queued calls (-methods +Call):\n%s", d)
	}
	for _, name := range []string{"Product", "LineItem", "Cart", "Customer", "Category", "Search"} {
		if d := cmp.Diff(fields(t, types, "export interface "+name+" {"), fields(t, dts, "  interface "+name+" {")); d != "" {
			t.Errorf("%s fields (-helper/types.ts +%s):\n%s", name, declarations, d)
		}
	}
}

// TestDeclarationsParse: esbuild's TypeScript parser takes the
// declarations and the usage example without an error.
func TestDeclarationsParse(t *testing.T) {
	for _, f := range []string{declarations, "testdata/dts/usage.ts"} {
		res := api.Transform(readFile(t, f), api.TransformOptions{Loader: api.LoaderTS, Sourcefile: f, LogLevel: api.LogLevelSilent})
		if len(res.Errors) > 0 {
			t.Errorf("%s: %s", f, strings.Join(api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage}), ""))
		}
	}
}

// TestDeclarationsTypeCheck: tsc (strict) accepts a storefront's use of
// every method and the pre-load queue, and refuses each wrong call in
// testdata/dts/bad.ts.
func TestDeclarationsTypeCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("type check installs TypeScript; skipped in -short")
	}
	tsc := typescript(t)
	check := func(file string) (string, error) {
		out, err := exec.Command("node", tsc, "--noEmit", "--strict", "--target", "ES2017", "--lib", "ES2017,DOM", file).CombinedOutput()
		return string(out), err
	}
	if out, err := check("testdata/dts/usage.ts"); err != nil {
		t.Errorf("tsc usage.ts: %v\n%s", err, out)
	}
	out, err := check("testdata/dts/bad.ts")
	wantErrors := strings.Count(readFile(t, "testdata/dts/bad.ts"), "\ns.")
	lines := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^testdata/dts/bad\.ts\((\d+),\d+\): error`).FindAllStringSubmatch(out, -1) {
		lines[m[1]] = true
	}
	if err == nil || len(lines) != wantErrors {
		t.Errorf("tsc bad.ts: errors on %d lines, want %d (one per call):\n%s", len(lines), wantErrors, out)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// between is the text of s after start up to the next end.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("%q not found", start)
	}
	block, _, ok := strings.Cut(rest, end)
	if !ok {
		t.Fatalf("no %q after %q", end, start)
	}
	return block
}

// fields lists the fields of the interface opening with start, as
// "name" or "name?".
func fields(t *testing.T, s, start string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+\??):`).FindAllStringSubmatch(between(t, s, start, "}"), -1) {
		out = append(out, m[1])
	}
	return out
}
