package klaviyo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestClassificationOfRedirectsAndLostBodies: only a 2xx is delivered; a
// 3xx that the HTTP client does not follow (no Location) is permanent,
// since the request went to the wrong place and a resend goes there too.
// An error answer whose body is cut short is retryable: Klaviyo's reason
// is lost, and unique_id makes a resend harmless; a 2xx stays delivered,
// since the status arrived.
func TestClassificationOfRedirectsAndLostBodies(t *testing.T) {
	for _, status := range []int{300, 304} {
		c, _ := cannedKlaviyo(t, answer{status: status})
		if out := c.CreateEvent(context.Background(), biteEvent()); out.Kind != klaviyo.Permanent || out.Status != status {
			t.Errorf("HTTP %d: kind %v status %d, want permanent", status, out.Kind, out.Status)
		}
	}

	for _, tt := range []struct {
		status int
		want   klaviyo.Kind
	}{{202, klaviyo.Delivered}, {400, klaviyo.Retryable}, {422, klaviyo.Retryable}} {
		status := tt.status
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Promise more than is sent: the server closes the connection
			// after the handler and the client reads an unexpected EOF.
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(status)
			w.Write([]byte(`{"errors":[`))
		}))
		c, err := klaviyo.NewClient("pk_0123456789abcdef0123456789abcdef01", klaviyo.Options{
			BaseURL: srv.URL, EventBuckets: klaviyo.Unlimited, BulkBuckets: klaviyo.Unlimited,
			Now: func() time.Time { return biteNow },
		})
		if err != nil {
			t.Fatal(err)
		}
		out := c.CreateEvent(context.Background(), biteEvent())
		srv.Close()
		if out.Kind != tt.want || out.Status != status || (tt.want == klaviyo.Retryable && !strings.Contains(out.Detail, "body lost")) {
			t.Errorf("HTTP %d with its body cut short: %+v, want %v (naming the lost body when retryable)", status, out, tt.want)
		}
	}
}
