package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/render"
)

// TestClientExamples runs the non-Go client examples in examples/ against
// a started server: each prints the Added to Cart partial for
// examples/cart.json, which must be exactly what the renderer makes, and
// gets 202 for its order, which must reach (the fake) Klaviyo. An example
// whose runtime is not installed is skipped, saying which.
func TestClientExamples(t *testing.T) {
	cart, err := os.ReadFile("../../examples/cart.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := render.Renderer{}.Render(context.Background(), "added-to-cart", cart)
	if err != nil {
		t.Fatal(err)
	}
	fake := klaviyotest.NewServer(t)
	const token = "example-token"
	in := start(t, "examples server", freeAddr(t), map[string]string{
		"SNIPPETD_DATA_DIR": t.TempDir(), "SNIPPETD_API_TOKEN": token,
		"SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL,
	})
	for _, ex := range []struct {
		runtime, file, orderID string
	}{
		{"node", "examples/node/client.mjs", "node-1001"},
		{"python3", "examples/python/client.py", "python-1001"},
	} {
		t.Run(ex.runtime, func(t *testing.T) {
			if _, err := exec.LookPath(ex.runtime); err != nil {
				t.Skipf("%s is not on PATH: install it to run %s", ex.runtime, ex.file)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, ex.runtime, filepath.FromSlash(ex.file))
			cmd.Dir = "../.."
			cmd.Env = append(os.Environ(), "SNIPPETD_URL="+in.url, "SNIPPETD_API_TOKEN="+token)
			out, err := cmd.Output()
			if err != nil {
				stderr := ""
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", ex.runtime, ex.file, err, out, stderr)
			}
			html, rest, ok := strings.Cut(string(out), "\n")
			if !ok || html != string(want.HTML) {
				t.Errorf("%s printed the snippet\n%s\nwant\n%s", ex.file, html, want.HTML)
			}
			if !regexp.MustCompile(`(?m)^order ` + ex.orderID + `: HTTP 202 \{"order_id":"` + ex.orderID + `"`).MatchString(rest) {
				t.Errorf("%s: want 202 for order %s, got:\n%s", ex.file, ex.orderID, rest)
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if ids := placedOrders(fake); ids[ex.orderID] {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("order %s never reached Klaviyo; it has %v", ex.orderID, ids)
				}
			}
		})
	}
}

func placedOrders(fake *klaviyotest.Server) map[string]bool {
	ids := map[string]bool{}
	for _, e := range fake.EventsFor("Placed Order") {
		ids[e.UniqueID] = true
	}
	return ids
}
