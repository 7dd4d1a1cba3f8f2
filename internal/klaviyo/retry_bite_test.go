package klaviyo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// biteNow is the client's clock in these tests, so that an HTTP-date
// Retry-After has a known distance.
var biteNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func biteEvent() klaviyo.Encoded {
	e, err := klaviyo.Encode(klaviyo.Event{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"},
		Properties: json.RawMessage(`{"value":1}`), Time: biteNow, UniqueID: "bite-1"}, biteNow)
	if err != nil {
		panic(err)
	}
	return e
}

// answer is one canned Klaviyo response.
type answer struct {
	status     int
	retryAfter string // Retry-After header, "" for none
	body       string
}

// cannedKlaviyo serves every request with a and counts the requests. A
// plain server rather than the fake, so that each header and body is
// exactly what the row says.
func cannedKlaviyo(t *testing.T, a answer) (*klaviyo.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/vnd.api+json")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(srv.Close)
	c, err := klaviyo.NewClient("pk_bite_test_key_0001", klaviyo.Options{
		BaseURL: srv.URL, EventBuckets: klaviyo.Unlimited, BulkBuckets: klaviyo.Unlimited,
		Now: func() time.Time { return biteNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

// klaviyoError is an error document as Klaviyo sends it (JSON:API).
func klaviyoError(status int, code, detail, pointer string) string {
	return fmt.Sprintf(`{"errors":[{"id":"e7a1c1f2-0b9e-4d6c-9f5e-1f2a3b4c5d6e","status":%d,"code":%q,"title":"Invalid input.","detail":%q,"source":{"pointer":%q},"meta":{}}]}`,
		status, code, detail, pointer)
}

// TestClassificationByStatus: a client error means the request itself is
// wrong and resending cannot help, so 4xx other than 408 and 429 is
// permanent and keeps Klaviyo's error document for the dead-letter view;
// 408, 429 and every 5xx are retryable.
func TestClassificationByStatus(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   klaviyo.Kind
	}{
		{400, klaviyo.Permanent}, {403, klaviyo.Permanent}, {404, klaviyo.Permanent},
		{405, klaviyo.Permanent}, {409, klaviyo.Permanent}, {413, klaviyo.Permanent},
		{415, klaviyo.Permanent}, {422, klaviyo.Permanent},
		{408, klaviyo.Retryable}, {429, klaviyo.Retryable}, {500, klaviyo.Retryable},
		{502, klaviyo.Retryable}, {503, klaviyo.Retryable}, {504, klaviyo.Retryable},
		{524, klaviyo.Retryable},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			body := klaviyoError(tt.status, fmt.Sprintf("code_%d", tt.status), fmt.Sprintf("detail of the %d answer", tt.status), "/data/attributes/metric")
			c, _ := cannedKlaviyo(t, answer{status: tt.status, body: body})
			out := c.CreateEvent(context.Background(), biteEvent())
			if out.Kind != tt.want || out.Status != tt.status {
				t.Fatalf("HTTP %d: kind %v status %d, want %v", tt.status, out.Kind, out.Status, tt.want)
			}
			if out.Detail != body {
				t.Errorf("HTTP %d: detail %q, want Klaviyo's error document %q", tt.status, out.Detail, body)
			}
			if out.Kind == klaviyo.Permanent && out.RetryAfter != 0 {
				t.Errorf("HTTP %d: permanent outcome carries a wait %s", tt.status, out.RetryAfter)
			}

		})
	}
}

// TestBulkPermanentKeepsKlaviyoError: the bulk endpoint's 400 (a batch
// Klaviyo refuses as a whole) is permanent too, with the document kept.
func TestBulkPermanentKeepsKlaviyoError(t *testing.T) {
	for _, status := range []int{400, 422} {
		body := klaviyoError(status, "invalid", "Duplicate events in the same job", "/data/attributes/events-bulk-create/data/0")
		c, n := cannedKlaviyo(t, answer{status: status, body: body})
		out := c.BulkCreateEvents(context.Background(), []klaviyo.Encoded{biteEvent()})
		if out.Kind != klaviyo.Permanent || out.Status != status || out.Detail != body || n.Load() != 1 {
			t.Errorf("bulk HTTP %d: %+v after %d requests", status, out, n.Load())
		}
	}
}

// TestRetryAfterSources: the wait comes from the Retry-After header
// (seconds or an HTTP date), else from the "Expected available in N
// seconds" text of Klaviyo's throttle body. When both are present and
// disagree the header wins: it is the standard, machine-readable signal,
// set for the response as a whole, while the body is a human message
// whose wording Klaviyo may change. Every server-given wait is capped at
// MaxRetryAfter, including numbers too large for a Duration.
func TestRetryAfterSources(t *testing.T) {
	throttle := func(n string) string {
		return `{"errors":[{"id":"x","status":429,"code":"throttled","title":"Request was throttled.","detail":"Request was throttled. Expected available in ` + n + ` seconds.","source":{"pointer":"/data/"}}]}`
	}
	plain := `{"errors":[{"id":"x","status":503,"code":"unavailable","title":"Service unavailable","detail":"try later"}]}`
	date := func(d time.Duration) string { return biteNow.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name string
		a    answer
		want time.Duration
	}{
		{"header alone", answer{429, "7", plain}, 7 * time.Second},
		{"header alone on 503", answer{503, "12", plain}, 12 * time.Second},
		{"header with spaces", answer{429, " 9 ", plain}, 9 * time.Second},
		{"header zero", answer{429, "0", throttle("30")}, 0},
		{"body alone", answer{429, "", throttle("4")}, 4 * time.Second},
		{"body alone, one second", answer{429, "", strings.Replace(throttle("1"), "seconds", "second", 1)}, time.Second},
		{"header wins over a longer body", answer{429, "2", throttle("30")}, 2 * time.Second},
		{"header wins over a shorter body", answer{429, "45", throttle("3")}, 45 * time.Second},
		{"HTTP date", answer{429, date(90 * time.Second), plain}, 90 * time.Second},
		{"HTTP date wins over the body", answer{503, date(20 * time.Second), throttle("5")}, 20 * time.Second},
		{"HTTP date in the past", answer{429, date(-time.Minute), throttle("5")}, 0},
		{"unreadable header falls back to the body", answer{429, "soon", throttle("6")}, 6 * time.Second},
		{"negative header falls back to the body", answer{429, "-3", throttle("8")}, 8 * time.Second},
		{"header capped", answer{429, "7200", plain}, klaviyo.MaxRetryAfter},
		{"header just under the cap", answer{429, "3599", plain}, 3599 * time.Second},
		{"header at the cap", answer{429, "3600", plain}, klaviyo.MaxRetryAfter},
		{"header beyond a Duration", answer{429, "99999999999", plain}, klaviyo.MaxRetryAfter},
		{"header wrapping a Duration negative", answer{429, "9223372037", plain}, klaviyo.MaxRetryAfter},
		{"header beyond an int", answer{429, "99999999999999999999999", throttle("5")}, klaviyo.MaxRetryAfter},
		{"HTTP date capped", answer{429, date(3 * time.Hour), plain}, klaviyo.MaxRetryAfter},
		{"body capped", answer{429, "", throttle("7200")}, klaviyo.MaxRetryAfter},
		{"body beyond a Duration", answer{429, "", throttle("99999999999")}, klaviyo.MaxRetryAfter},
		{"body wrapping a Duration negative", answer{429, "", throttle("9223372037")}, klaviyo.MaxRetryAfter},
		{"body beyond an int", answer{429, "", throttle("99999999999999999999999")}, klaviyo.MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := cannedKlaviyo(t, tt.a)
			out := c.CreateEvent(context.Background(), biteEvent())
			if out.Kind != klaviyo.Retryable || out.RetryAfter != tt.want {
				t.Errorf("kind %v wait %s, want retryable after %s (%+v)", out.Kind, out.RetryAfter, tt.want, tt.a)
			}
		})
	}
}
