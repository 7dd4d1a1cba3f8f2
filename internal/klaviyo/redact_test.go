package klaviyo_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestUpstreamKeyEchoRedacted: an upstream that quotes the private key
// back changed in case, cut short or with a part masked must not get any
// recognisable run of it into the outcome (which the outbox stores and the
// inspector shows) or the logs.
func TestUpstreamKeyEchoRedacted(t *testing.T) {
	key := klaviyotest.PrivateKey
	echoes := map[string]string{
		"exact":      key,
		"upper":      strings.ToUpper(key),
		"mixed case": strings.ToUpper(key[:10]) + key[10:],
		"prefix":     key[:12] + "...",
		"suffix":     "..." + key[len(key)-10:],
		"masked":     key[:9] + "****" + key[13:],
	}
	for name, echo := range echoes {
		t.Run(name, func(t *testing.T) {
			for _, status := range []int{400, 503} {
				up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(status)
					io.WriteString(w, `{"errors":[{"status":400,"code":"invalid","detail":"API key `+echo+` is not valid"}]}`)
				}))
				var logs bytes.Buffer
				c, err := klaviyo.NewClient(key, klaviyo.Options{BaseURL: up.URL, EventBuckets: klaviyo.Unlimited, BulkBuckets: klaviyo.Unlimited,
					Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				if err != nil {
					t.Fatal(err)
				}
				enc, err := klaviyo.Encode(sampleEvent("1"), time.Now())
				if err != nil {
					t.Fatal(err)
				}
				out := c.CreateEvent(context.Background(), enc)
				up.Close()
				for _, where := range []string{out.Detail, logs.String()} {
					lw := strings.ToLower(where)
					for i := 0; i+8 <= len(key); i++ {
						if strings.Contains(lw, strings.ToLower(key[i:i+8])) {
							t.Fatalf("status %d: %q of the key survives in %q", status, key[i:i+8], where)
						}
					}
				}
				if !strings.Contains(out.Detail, "[redacted]") || !strings.Contains(out.Detail, "is not valid") {
					t.Errorf("status %d: detail %q, want the rest of the body with the echo redacted", status, out.Detail)
				}
			}
		})
	}
}
