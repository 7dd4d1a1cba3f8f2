package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/snippetd/snippetd/internal/metrics"
)

// The hook interfaces are satisfied by both implementations.
var (
	_ metrics.Renders       = (*metrics.Registry)(nil)
	_ metrics.Deliveries    = (*metrics.Registry)(nil)
	_ metrics.BrowserEvents = (*metrics.Registry)(nil)
	_ metrics.Renders       = metrics.Nop{}
	_ metrics.Deliveries    = metrics.Nop{}
	_ metrics.BrowserEvents = metrics.Nop{}
	_ metrics.ClientWaits   = (*metrics.Registry)(nil)
	_ metrics.ClientWaits   = metrics.Nop{}
)

func TestRegistryExposesObservations(t *testing.T) {
	m := metrics.New(func(context.Context) (metrics.OutboxDepth, error) {
		return metrics.OutboxDepth{Pending: 3, Delivered: 10, Dead: 1, OldestPending: 1500 * time.Millisecond}, nil
	})
	m.ObserveRender("viewed-product", 200, time.Millisecond)
	m.ObserveRender("viewed-product", 200, 2*time.Millisecond)
	m.ObserveRender("added-to-cart", 422, time.Millisecond)
	m.ObserveDelivery("single", "delivered", 202, 1)
	m.ObserveDelivery("bulk", "retryable", 429, 250)
	m.ObserveDeadLetters(2)
	m.ObserveRateLimitWait(1500 * time.Millisecond)
	m.ObserveRateLimitWait(500 * time.Millisecond)
	m.ObserveAccepted("helper", 4)
	m.ObserveRejected("proxy", "forbidden_metric", 1)
	m.ObserveClientWait("/api/events", 250*time.Millisecond)
	m.ObserveClientWait("/api/events", 250*time.Millisecond)
	m.ObservePhonesDropped("orders", 2)
	m.ObservePhonesDropped("orders", 1)

	want := `
# HELP snippetd_renders_total Snippets rendered, by snippet and HTTP status (200, or the status of the error).
# TYPE snippetd_renders_total counter
snippetd_renders_total{snippet="added-to-cart",status="422"} 1
snippetd_renders_total{snippet="viewed-product",status="200"} 2
# HELP snippetd_klaviyo_requests_total Requests the outbox sent to Klaviyo (or the local sink), by endpoint (single, bulk), outcome and HTTP status (0: no response).
# TYPE snippetd_klaviyo_requests_total counter
snippetd_klaviyo_requests_total{endpoint="bulk",outcome="retryable",status="429"} 1
snippetd_klaviyo_requests_total{endpoint="single",outcome="delivered",status="202"} 1
# HELP snippetd_klaviyo_request_events_total Events carried by the requests to Klaviyo, by endpoint and outcome.
# TYPE snippetd_klaviyo_request_events_total counter
snippetd_klaviyo_request_events_total{endpoint="bulk",outcome="retryable"} 250
snippetd_klaviyo_request_events_total{endpoint="single",outcome="delivered"} 1
# HELP snippetd_outbox_dead_letters_total Events Klaviyo rejected permanently, kept as dead letters.
# TYPE snippetd_outbox_dead_letters_total counter
snippetd_outbox_dead_letters_total 2
# HELP snippetd_rate_limit_waits_total Pauses of the delivery loop because Klaviyo answered 429.
# TYPE snippetd_rate_limit_waits_total counter
snippetd_rate_limit_waits_total 2
# HELP snippetd_rate_limit_wait_seconds_total Time the delivery loop spent waiting after 429 answers.
# TYPE snippetd_rate_limit_wait_seconds_total counter
snippetd_rate_limit_wait_seconds_total 2
# HELP snippetd_browser_events_accepted_total Events from browsers taken in, by source (helper, proxy).
# TYPE snippetd_browser_events_accepted_total counter
snippetd_browser_events_accepted_total{source="helper"} 4
# HELP snippetd_browser_events_rejected_total Events from browsers refused, by source and reason.
# TYPE snippetd_browser_events_rejected_total counter
snippetd_browser_events_rejected_total{reason="forbidden_metric",source="proxy"} 1
# HELP snippetd_klaviyo_client_waits_total Requests that waited for the Klaviyo client's token buckets (Klaviyo's documented rate limits), by endpoint path.
# TYPE snippetd_klaviyo_client_waits_total counter
snippetd_klaviyo_client_waits_total{path="/api/events"} 2
# HELP snippetd_klaviyo_client_wait_seconds_total Time requests waited for the Klaviyo client's token buckets, by endpoint path.
# TYPE snippetd_klaviyo_client_wait_seconds_total counter
snippetd_klaviyo_client_wait_seconds_total{path="/api/events"} 0.5
# HELP snippetd_phone_numbers_dropped_total Phone numbers that could not be normalised to E.164 (no country to read a national number in, impossible length) and were left out of the profile, by source.
# TYPE snippetd_phone_numbers_dropped_total counter
snippetd_phone_numbers_dropped_total{source="orders"} 3
# HELP snippetd_outbox_events Events in the outbox, by state (pending, delivered, dead).
# TYPE snippetd_outbox_events gauge
snippetd_outbox_events{state="dead"} 1
snippetd_outbox_events{state="delivered"} 10
snippetd_outbox_events{state="pending"} 3
# HELP snippetd_outbox_oldest_pending_age_seconds How long the oldest pending event has waited (0 when none).
# TYPE snippetd_outbox_oldest_pending_age_seconds gauge
snippetd_outbox_oldest_pending_age_seconds 1.5
`
	names := []string{"snippetd_renders_total", "snippetd_klaviyo_requests_total", "snippetd_klaviyo_request_events_total",
		"snippetd_outbox_dead_letters_total", "snippetd_rate_limit_waits_total", "snippetd_rate_limit_wait_seconds_total",
		"snippetd_browser_events_accepted_total", "snippetd_browser_events_rejected_total", "snippetd_outbox_events",
		"snippetd_outbox_oldest_pending_age_seconds", "snippetd_klaviyo_client_waits_total", "snippetd_klaviyo_client_wait_seconds_total",
		"snippetd_phone_numbers_dropped_total"}
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.Gatherer(), "snippetd_render_duration_seconds"); err != nil || n != 2 {
		t.Errorf("render latency series = %d, %v; want 2 (one per snippet)", n, err)
	}
	problems, err := testutil.GatherAndLint(m.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "snippetd_") {
			t.Errorf("promlint: %s", promlintString(p))
		}
	}
}

func promlintString(p promlint.Problem) string { return p.Metric + ": " + p.Text }

func TestHandlerServesTextFormat(t *testing.T) {
	m := metrics.New(nil)
	m.ObserveRender("loader", 200, time.Microsecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), `snippetd_renders_total{snippet="loader",status="200"} 1`) {
		t.Fatalf("status %d, body lacks the render counter:\n%s", rec.Code, body)
	}
	if !strings.Contains(string(body), "go_goroutines") {
		t.Error("Go runtime metrics missing")
	}
}

func TestOutboxDepthErrorFailsScrapeVisibly(t *testing.T) {
	m := metrics.New(func(context.Context) (metrics.OutboxDepth, error) {
		return metrics.OutboxDepth{}, errors.New("database is locked")
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "database is locked") {
		t.Fatalf("status %d body %q; want 500 naming the error", rec.Code, rec.Body.String())
	}
}
