package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestRenderCLIRefusesPathFormURLs: URLs that net/url reads as a path on
// this origin but a browser resolves to another host (a backslash read as
// a slash, tabs and newlines dropped) are refused for every URL the loader
// writes into a script element or hands the helper.
func TestRenderCLIRefusesPathFormURLs(t *testing.T) {
	hostile := []string{
		`/\evil.example/x.js`,
		`//evil.example/x.js`,
		`\\evil.example/x.js`,
		"/\t/evil.example/x.js",
		"/\n/evil.example/x.js",
		"/\r/evil.example/x.js",
		`https://shop.example\@evil.example/x.js`,
		"https://evil.example\t/x.js",
	}
	for _, u := range hostile {
		q, _ := json.Marshal(u)
		for _, c := range []struct{ body, field string }{
			{`{"public_key":"AbC123","klaviyo_js_url":` + string(q) + `}`, "klaviyo_js_url"},
			{`{"public_key":"AbC123","helper":true,"helper_base":` + string(q) + `}`, "helper_src"},
			{`{"public_key":"AbC123","helper":true,"proxy_endpoint":` + string(q) + `}`, "proxy_endpoint"},
		} {
			code, out, errOut := runCLI(t, c.body, "render", "loader")
			if code == 0 || !strings.Contains(errOut, c.field) || out != "" {
				t.Errorf("%s: exit %d, stderr %q, stdout %q; want a refusal naming %s", c.body, code, errOut, out, c.field)
			}
		}
	}
	// The legitimate forms still render.
	for _, body := range []string{
		`{"public_key":"AbC123","klaviyo_js_url":"/kp/k.js"}`,
		`{"public_key":"AbC123","klaviyo_js_url":"https://cdn.example/k.js?x=1"}`,
		`{"helper":true,"helper_base":"https://cdn.example/","proxy_endpoint":"/kp/"}`,
	} {
		if code, _, errOut := runCLI(t, body, "render", "loader", "--public-key", "AbC123"); code != 0 {
			t.Errorf("%s: exit %d: %s", body, code, errOut)
		}
	}
}

// TestBackfillChangedOrderIsAConflict: re-running a backfill whose file
// changed an order an earlier run enqueued reports a conflict naming the
// order and exits non-zero (the orders API answers 409 for the same
// thing); unchanged orders are still skipped as already enqueued.
func TestBackfillChangedOrderIsAConflict(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "orders.jsonl")
	write := func(price string) {
		var b strings.Builder
		for i := range 3 {
			p := "5"
			if i == 1 {
				p = price
			}
			fmt.Fprintf(&b, `{"id":"C-%d","placed_at":"2025-03-01T10:00:00Z","currency":"USD","customer":{"email":"c%d@example.com"},"items":[{"quantity":1,"product":{"id":"p%d","name":"P","price":%s}}]}`+"\n", i, i, i, p)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SNIPPETD_DATA_DIR", filepath.Join(dir, "data"))
	t.Setenv("SNIPPETD_KLAVIYO_URL", fake.URL)
	t.Setenv("SNIPPETD_PRIVATE_KEY", klaviyotest.PrivateKey)
	backfill := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"backfill", "--orders", file}, args...), nil, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	write("5")
	if code, out := backfill("--no-wait"); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	if code, out := backfill("--no-wait"); code != 0 || !strings.Contains(out, "already enqueued: 3") {
		t.Fatalf("unchanged re-run: exit %d\n%s", code, out)
	}
	write("7")
	for _, args := range [][]string{{"--dry-run"}, {"--no-wait"}} {
		code, out := backfill(args...)
		if code == 0 || !strings.Contains(out, "order C-1: conflict") || !strings.Contains(out, "already enqueued: 2") {
			t.Errorf("%v with a changed order: exit %d, want non-zero and a conflict on C-1\n%s", args, code, out)
		}
	}
}
