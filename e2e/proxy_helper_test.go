package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// The helper's proxy build against the real server: SNIPPETD_PROXY=on,
// klaviyo.js blocked, pages on the same origin. Its batches pass the
// proxy's validation and reach Klaviyo's side (the local sink) through the
// outbox, with the Go builder's properties.
func TestHelperThroughProxy(t *testing.T) {
	if browserCtx == nil {
		t.Skipf("e2e: no browser: %v", browserErr)
	}
	// The allowed origin must be known before the server starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	origin := "http://127.0.0.1:" + strconv.Itoa(port)
	key := Klaviyo().Key(t, KlaviyoNotFound)
	env := map[string]string{
		"SNIPPETD_ADDR":            "127.0.0.1:" + strconv.Itoa(port),
		"SNIPPETD_DATA_DIR":        t.TempDir(),
		"SNIPPETD_PUBLIC_KEY":      key,
		"SNIPPETD_PROXY":           "on",
		"SNIPPETD_PROXY_PREFIX":    "/s/",
		"SNIPPETD_ALLOWED_ORIGINS": origin + ",http://www.example.com", // the fixtures' checkout_url
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	site := MountSite(m.Server)

	tab := NewTab(t)
	tab.Navigate(site.Page("proxy", HTML(Loader(t, snippets.LoaderOptions{PublicKey: key, ProxyEndpoint: "/s/"}), "")))
	tab.WaitHelper()
	tab.Eval(`snippetd.identify({"email":"proxy@example.com"}), snippetd.addedToCart(`+seedCart+`,`+seedLine(1)+`), 0`, nil)

	var sent []json.RawMessage
	for deadline := time.Now().Add(actionTimeout); ; time.Sleep(20 * time.Millisecond) {
		for _, r := range m.Sink.Requests() {
			var body struct {
				Data struct {
					Attributes struct {
						Properties json.RawMessage `json:"properties"`
						Metric     struct {
							Data struct {
								Attributes struct {
									Name string `json:"name"`
								} `json:"attributes"`
							} `json:"data"`
						} `json:"metric"`
						Profile struct {
							Data struct {
								Attributes struct {
									Email string `json:"email"`
								} `json:"attributes"`
							} `json:"data"`
						} `json:"profile"`
						Value float64 `json:"value"`
					} `json:"attributes"`
				} `json:"data"`
			}
			if json.Unmarshal(r.Body, &body) == nil && body.Data.Attributes.Metric.Data.Attributes.Name == "Added to Cart" {
				a := body.Data.Attributes
				if a.Profile.Data.Attributes.Email != "proxy@example.com" || a.Value != 29.98 {
					t.Errorf("event profile %q, value %v", a.Profile.Data.Attributes.Email, a.Value)
				}
				sent = append(sent, a.Properties)
			}
		}
		if len(sent) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(sent) != 1 {
		t.Fatalf("Added to Cart reached the sink %d times; sink: %+v", len(sent), m.Sink.Requests())
	}
	c := dec[shop.Cart](t, seedCart)
	var want, got map[string]any
	json.Unmarshal(built(t)(snippets.AddedToCartPushes(c, c.Items[1]))[0], &[]any{nil, nil, &want})
	delete(want, "$value")
	json.Unmarshal(sent[0], &got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("properties delivered (-want +got):\n%s", d)
	}
}
