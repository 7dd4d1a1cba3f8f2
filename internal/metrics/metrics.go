// Package metrics owns every Prometheus metric snippetd exports at
// GET /metrics, on its own registry. Other packages never import
// Prometheus: they call the narrow hook interfaces declared here (Renders,
// Deliveries, ClientWaits, BrowserEvents, Phones, CartRestores), which a
// *Registry implements and Nop discards, so a package under test needs no
// metrics at all.
//
// It imports only the Prometheus client; nothing of snippetd.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Renders is the hook of everything that renders snippets (the render API,
// the demo shop): one call per rendered snippet.
type Renders interface {
	// ObserveRender counts one render of snippet that ended with the HTTP
	// status (200, or the status of its error) after d.
	ObserveRender(snippet string, status int, d time.Duration)
}

// Deliveries is the hook of the outbox's delivery loop.
type Deliveries interface {
	// ObserveDelivery counts one request to Klaviyo: endpoint is "single"
	// or "bulk", outcome "delivered", "retryable" or "permanent", status
	// the HTTP status (0 when no response arrived), events how many events
	// the request carried.
	ObserveDelivery(endpoint, outcome string, status, events int)
	// ObserveDeadLetters counts events kept as dead letters.
	ObserveDeadLetters(n int)
	// ObserveRateLimitWait counts one pause of the loop because Klaviyo
	// answered 429, and how long it waits.
	ObserveRateLimitWait(d time.Duration)
}

// ClientWaits is the hook of the Klaviyo client's token buckets.
type ClientWaits interface {
	// ObserveClientWait counts one request that waited for the Klaviyo
	// client's own token buckets (Klaviyo's documented limits) before it
	// was sent, by endpoint path.
	ObserveClientWait(path string, d time.Duration)
}

// BrowserEvents is the hook of the endpoints that take events from
// browsers: the helper (through the demo's local klaviyo.js stand-in) and
// the first-party proxy.
type BrowserEvents interface {
	// ObserveAccepted counts n events from source ("helper", "proxy")
	// that were taken in.
	ObserveAccepted(source string, n int)
	// ObserveRejected counts n events from source refused for reason, a
	// short stable token such as "forbidden_metric", "bad_origin",
	// "too_large", "rate_limited", "malformed", "content_type".
	ObserveRejected(source, reason string, n int)
}

// Phones is the hook of everything that takes phone numbers in (orders,
// backfill, render's identify, helper and proxy identify).
type Phones interface {
	// ObservePhonesDropped counts n phone numbers from source ("orders",
	// "backfill", "render", "proxy") that could not be normalised to E.164
	// and were left out instead of being sent to Klaviyo.
	ObservePhonesDropped(source string, n int)
}

// OutboxDepth is the queue snapshot that /metrics reports at each scrape.
type OutboxDepth struct {
	Pending, Delivered, Dead int64
	// OldestPending is how long the oldest pending event has waited.
	OldestPending time.Duration
}

// Nop discards every observation; it is the default hook of every package.
type Nop struct{}

// ObserveRender does nothing.
func (Nop) ObserveRender(string, int, time.Duration) {}

// ObserveDelivery does nothing.
func (Nop) ObserveDelivery(string, string, int, int) {}

// ObserveDeadLetters does nothing.
func (Nop) ObserveDeadLetters(int) {}

// ObserveRateLimitWait does nothing.
func (Nop) ObserveRateLimitWait(time.Duration) {}

// ObserveClientWait does nothing.
func (Nop) ObserveClientWait(string, time.Duration) {}

// ObserveAccepted does nothing.
func (Nop) ObserveAccepted(string, int) {}

// ObserveRejected does nothing.
func (Nop) ObserveRejected(string, string, int) {}

// ObservePhonesDropped does nothing.
func (Nop) ObservePhonesDropped(string, int) {}

// Registry holds snippetd's metrics on a registry of its own (so that
// nothing registered globally by a dependency leaks into /metrics). It
// implements every hook interface. Create it with New.
type Registry struct {
	reg *prometheus.Registry

	renders        *prometheus.CounterVec
	renderLatency  *prometheus.HistogramVec
	accepted       *prometheus.CounterVec
	acceptedBy     sync.Map // source → accepted's counter (see ObserveAccepted)
	rejected       *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	deliveredEvts  *prometheus.CounterVec
	deadLetters    prometheus.Counter
	rateLimitWaits prometheus.Counter
	rateLimitSecs  prometheus.Counter
	clientWaits    *prometheus.CounterVec
	clientWaitSecs *prometheus.CounterVec
	phonesDropped  *prometheus.CounterVec
	cartRestores   *prometheus.CounterVec // carts.go
}

// New returns a Registry with every metric registered, plus the Go runtime
// and process collectors. depth, when not nil, is called at each scrape
// for the outbox gauges.
func New(depth func(context.Context) (OutboxDepth, error)) *Registry {
	m := &Registry{reg: prometheus.NewRegistry()}
	m.renders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_renders_total",
		Help: "Snippets rendered, by snippet and HTTP status (200, or the status of the error).",
	}, []string{"snippet", "status"})
	m.renderLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "snippetd_render_duration_seconds",
		Help:    "Time to decode, validate and render one snippet request.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
	}, []string{"snippet"})
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_browser_events_accepted_total",
		Help: "Events from browsers taken in, by source (helper, proxy).",
	}, []string{"source"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_browser_events_rejected_total",
		Help: "Events from browsers refused, by source and reason.",
	}, []string{"source", "reason"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_klaviyo_requests_total",
		Help: "Requests the outbox sent to Klaviyo (or the local sink), by endpoint (single, bulk), outcome and HTTP status (0: no response).",
	}, []string{"endpoint", "outcome", "status"})
	m.deliveredEvts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_klaviyo_request_events_total",
		Help: "Events carried by the requests to Klaviyo, by endpoint and outcome.",
	}, []string{"endpoint", "outcome"})
	m.deadLetters = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "snippetd_outbox_dead_letters_total",
		Help: "Events Klaviyo rejected permanently, kept as dead letters.",
	})
	m.rateLimitWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "snippetd_rate_limit_waits_total",
		Help: "Pauses of the delivery loop because Klaviyo answered 429.",
	})
	m.rateLimitSecs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "snippetd_rate_limit_wait_seconds_total",
		Help: "Time the delivery loop spent waiting after 429 answers.",
	})
	m.clientWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_klaviyo_client_waits_total",
		Help: "Requests that waited for the Klaviyo client's token buckets (Klaviyo's documented rate limits), by endpoint path.",
	}, []string{"path"})
	m.clientWaitSecs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_klaviyo_client_wait_seconds_total",
		Help: "Time requests waited for the Klaviyo client's token buckets, by endpoint path.",
	}, []string{"path"})
	m.phonesDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_phone_numbers_dropped_total",
		Help: "Phone numbers that could not be normalised to E.164 (no country to read a national number in, impossible length) and were left out of the profile, by source.",
	}, []string{"source"})
	m.reg.MustRegister(m.phonesDropped, m.clientWaits, m.clientWaitSecs, m.renders, m.renderLatency, m.accepted, m.rejected, m.deliveries,
		m.deliveredEvts, m.deadLetters, m.rateLimitWaits, m.rateLimitSecs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerCarts()
	if depth != nil {
		m.reg.MustRegister(&outboxCollector{depth: depth})
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer exposes the registry to tests (prometheus/testutil).
func (m *Registry) Gatherer() prometheus.Gatherer { return m.reg }

// ObserveRender implements Renders.
func (m *Registry) ObserveRender(snippet string, status int, d time.Duration) {
	m.renders.WithLabelValues(snippet, strconv.Itoa(status)).Inc()
	m.renderLatency.WithLabelValues(snippet).Observe(d.Seconds())
}

// ObserveDelivery implements Deliveries.
func (m *Registry) ObserveDelivery(endpoint, outcome string, status, events int) {
	m.deliveries.WithLabelValues(endpoint, outcome, strconv.Itoa(status)).Inc()
	m.deliveredEvts.WithLabelValues(endpoint, outcome).Add(float64(events))
}

// ObserveDeadLetters implements Deliveries.
func (m *Registry) ObserveDeadLetters(n int) { m.deadLetters.Add(float64(n)) }

// ObserveRateLimitWait implements Deliveries.
func (m *Registry) ObserveRateLimitWait(d time.Duration) {
	m.rateLimitWaits.Inc()
	m.rateLimitSecs.Add(d.Seconds())
}

// ObserveClientWait implements ClientWaits.
func (m *Registry) ObserveClientWait(path string, d time.Duration) {
	m.clientWaits.WithLabelValues(path).Inc()
	m.clientWaitSecs.WithLabelValues(path).Add(d.Seconds())
}

// ObserveAccepted implements BrowserEvents. The counter of each source is
// looked up once: WithLabelValues hashes and looks up its labels on every
// call, and the proxy calls this for every request it accepts.
func (m *Registry) ObserveAccepted(source string, n int) {
	c, ok := m.acceptedBy.Load(source)
	if !ok {
		c, _ = m.acceptedBy.LoadOrStore(source, m.accepted.WithLabelValues(source))
	}
	c.(prometheus.Counter).Add(float64(n))
}

// ObserveRejected implements BrowserEvents.
func (m *Registry) ObserveRejected(source, reason string, n int) {
	m.rejected.WithLabelValues(source, reason).Add(float64(n))
}

// ObservePhonesDropped implements Phones.
func (m *Registry) ObservePhonesDropped(source string, n int) {
	m.phonesDropped.WithLabelValues(source).Add(float64(n))
}

// outboxCollector reads the outbox's depth at scrape time, so the gauges
// are never stale and cost nothing between scrapes.
type outboxCollector struct {
	depth func(context.Context) (OutboxDepth, error)
}

var (
	depthDesc  = prometheus.NewDesc("snippetd_outbox_events", "Events in the outbox, by state (pending, delivered, dead).", []string{"state"}, nil)
	oldestDesc = prometheus.NewDesc("snippetd_outbox_oldest_pending_age_seconds", "How long the oldest pending event has waited (0 when none).", nil, nil)
)

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- oldestDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d.Delivered), "delivered")
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d.Dead), "dead")
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, d.OldestPending.Seconds())
}
