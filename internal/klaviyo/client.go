package klaviyo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of a Client.
const (
	// DefaultBaseURL is Klaviyo's API host.
	DefaultBaseURL = "https://a.klaviyo.com"
	// DefaultRevision is the API revision sent in the revision header.
	DefaultRevision = "2026-07-15"
	// PathEvents is the create-event endpoint.
	PathEvents = "/api/events"
	// PathBulkEvents is the bulk create-events endpoint.
	PathBulkEvents = "/api/event-bulk-create-jobs"
)

// Buckets is an endpoint's rate limit: at most Burst requests in any
// second and Steady requests in any minute, counted as Klaviyo counts them
// (see window). A negative value disables that limit; the zero Buckets
// means "Klaviyo's documented default".
type Buckets struct {
	Burst  int
	Steady int
}

// Klaviyo's documented per-account limits.
var (
	// EventBuckets is the limit of POST /api/events: 350/s, 3,500/min.
	EventBuckets = Buckets{Burst: 350, Steady: 3500}
	// BulkBuckets is the limit of POST /api/event-bulk-create-jobs:
	// 10/s, 150/min.
	BulkBuckets = Buckets{Burst: 10, Steady: 150}
	// Unlimited disables client-side limiting (for tests and benchmarks
	// against a fake that enforces its own).
	Unlimited = Buckets{Burst: -1, Steady: -1}
)

// MaxRetryAfter caps a server-given wait, so that a corrupt header cannot
// park the queue for days.
const MaxRetryAfter = time.Hour

// Options configures a Client. Every field has a default.
type Options struct {
	// BaseURL is Klaviyo's base URL (default DefaultBaseURL); tests point
	// it at klaviyotest.
	BaseURL string
	// Revision is the revision header (default DefaultRevision).
	Revision string
	// HTTPClient sends the requests (default: its own transport, no
	// client-level timeout; see Timeout).
	HTTPClient *http.Client
	// Timeout bounds one request, connection to last byte (default 30s).
	Timeout time.Duration
	// EventBuckets and BulkBuckets are the token buckets of the two event
	// endpoints (defaults EventBuckets and BulkBuckets); adjust them when
	// an account's real limits differ.
	EventBuckets, BulkBuckets Buckets
	// Logger receives debug lines about each request (never the key).
	Logger *slog.Logger
	// Now is the clock (tests inject it).
	Now func() time.Time
	// OnLimitWait, when set, is told each time a request waited for the
	// client's own token buckets (path, how long), for the rate-limit
	// metrics.
	OnLimitWait func(path string, d time.Duration)
}

// secret holds the private key. Every way of printing or logging it says
// [redacted], so a stray %+v or slog attribute cannot leak it.
type secret string

const redacted = "[redacted]"

func (secret) String() string                { return redacted }
func (secret) GoString() string              { return redacted }
func (secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// Client sends events to Klaviyo's server-side API with a private key. It
// implements Sender: one request per call, classified, with the wait
// Klaviyo asked for; when and whether to retry is the caller's choice (the
// outbox's). It is safe for concurrent use.
//
// Its state sits behind a pointer so that printing a Client value (even
// with %+v or %#v, which bypass String on unexported fields) shows an
// address, never the key.
type Client struct {
	*client
}

type client struct {
	keyMu    sync.RWMutex
	key      secret
	baseURL  string
	revision string
	hc       *http.Client
	timeout  time.Duration
	logger   *slog.Logger
	now      func() time.Time
	onWait   func(path string, d time.Duration)

	mu       sync.Mutex
	limiters map[string][2]*window
	last     map[string]RateLimit
}

// RateLimit is what Klaviyo's RateLimit-* headers said on the last answer.
type RateLimit struct {
	Limit     int
	Remaining int
	Reset     time.Duration
}

// NewClient returns a Client for the private key. It fails on a key that
// cannot be a Klaviyo private key (see CheckPrivateKey) or a base URL that
// is not http(s).
func NewClient(privateKey string, o Options) (*Client, error) {
	if err := CheckPrivateKey(privateKey); err != nil {
		return nil, fmt.Errorf("klaviyo: private key: %w", err)
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
		return nil, fmt.Errorf("klaviyo: base URL %q must start with http:// or https://", o.BaseURL)
	}
	if o.Revision == "" {
		o.Revision = DefaultRevision
	}
	if !ValidRevision(o.Revision) {
		return nil, fmt.Errorf("klaviyo: revision %q: want YYYY-MM-DD[.suffix]", o.Revision)
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		o.HTTPClient = &http.Client{Transport: tr}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &client{
		key: secret(privateKey), baseURL: strings.TrimRight(o.BaseURL, "/"), revision: o.Revision,
		hc: o.HTTPClient, timeout: o.Timeout, logger: o.Logger, now: o.Now, onWait: o.OnLimitWait,
		limiters: map[string][2]*window{}, last: map[string]RateLimit{},
	}
	if o.EventBuckets == (Buckets{}) {
		o.EventBuckets = EventBuckets
	}
	if o.BulkBuckets == (Buckets{}) {
		o.BulkBuckets = BulkBuckets
	}
	c.SetBuckets(PathEvents, o.EventBuckets)
	c.SetBuckets(PathBulkEvents, o.BulkBuckets)
	c.setConsentBuckets()
	return &Client{c}, nil
}

var revisionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9_-]+)?$`)

// ValidRevision reports whether r has Klaviyo's revision format
// YYYY-MM-DD[.suffix].
func ValidRevision(r string) bool { return revisionRE.MatchString(r) }

// Format prints String for every verb, so %x or %d cannot dump fields.
func (c Client) Format(f fmt.State, verb rune) { io.WriteString(f, c.String()) }

// String describes the client without its key.
func (c Client) String() string {
	return fmt.Sprintf("klaviyo.Client{base=%s revision=%s key=%s}", c.baseURL, c.revision, redacted)
}

// GoString is String, so %#v cannot print the key either.
func (c Client) GoString() string { return c.String() }

// LogValue logs the client without its key.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base", c.baseURL), slog.String("revision", c.revision), slog.String("key", redacted))
}

// SetBuckets sets the token buckets of one endpoint path (PathEvents,
// PathBulkEvents, or any other path sent with Post). Safe at any time.
func (c *client) SetBuckets(path string, l Buckets) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p [2]*window
	if l.Burst > 0 {
		p[0] = newWindow(l.Burst, time.Second)
	}
	if l.Steady > 0 {
		p[1] = newWindow(l.Steady, time.Minute)
	}
	c.limiters[path] = p
}

// LastRateLimit returns what the RateLimit-* headers said on the last
// answer from path.
func (c *client) LastRateLimit(path string) RateLimit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[path]
}

// wait takes a place in both windows of path, waiting as needed; the
// returned function gives them back when the request has ended.
func (c *client) wait(ctx context.Context, path string) (func(), error) {
	c.mu.Lock()
	p := c.limiters[path]
	c.mu.Unlock()
	start := time.Now()
	var releases []func()
	done := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, l := range p {
		if l != nil {
			r, err := l.acquire(ctx)
			if err != nil {
				done()
				return nil, err
			}
			releases = append(releases, r)
		}
	}
	if d := time.Since(start); c.onWait != nil && d >= time.Millisecond {
		c.onWait(path, d)
	}
	return done, nil
}

// CreateEvent sends one encoded event with POST /api/events.
func (c *client) CreateEvent(ctx context.Context, e Encoded) Outcome {
	return c.Post(ctx, PathEvents, e.Body())
}

// BulkCreateEvents sends encoded events with POST
// /api/event-bulk-create-jobs, one entry per profile (see BulkBody).
func (c *client) BulkCreateEvents(ctx context.Context, events []Encoded) Outcome {
	body, err := BulkRequest(events)
	if err != nil {
		return Outcome{Kind: Permanent, Detail: "not sent: " + err.Error()}
	}
	return c.Post(ctx, PathBulkEvents, body)
}

// BulkRequest is BulkBody for a batch within Klaviyo's limits: 1 to 1,000
// events, at most 5 MB encoded. Keeping events of one profile, metric and
// unique_id apart is the caller's job (the outbox plans its batches so).
func BulkRequest(events []Encoded) ([]byte, error) {
	if len(events) == 0 || len(events) > MaxBulkEvents {
		return nil, fmt.Errorf("a bulk request holds 1 to %d events, not %d", MaxBulkEvents, len(events))
	}
	body, err := BulkBody(events)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxPayloadBytes {
		return nil, fmt.Errorf("the batch encodes to %d bytes, more than Klaviyo's %d; split it", len(body), MaxPayloadBytes)
	}
	return body, nil
}

// Post sends one JSON:API body to path (after the path's rate limiter, if
// any) and classifies the answer. Other server-side endpoints (the catalog
// jobs) use it too.
func (c *client) Post(ctx context.Context, path string, body []byte) Outcome {
	out, _ := c.Do(ctx, http.MethodPost, path, body)
	return out
}

// Do sends one request with the key, revision and JSON:API content type,
// and returns the classified outcome with the response body (for
// endpoints that answer with a document).
func (c *client) Do(ctx context.Context, method, path string, body []byte) (Outcome, []byte) {
	release, err := c.wait(ctx, path)
	if err != nil {
		return Outcome{Kind: Retryable, Detail: "not sent: " + err.Error()}, nil
	}
	defer release()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, method, c.baseURL+path, rd)
	if err != nil {
		return Outcome{Kind: Permanent, Detail: c.scrub("not sent: " + err.Error())}, nil
	}
	req.Header.Set("Authorization", "Klaviyo-API-Key "+c.privateKey())
	req.Header.Set("revision", c.revision)
	req.Header.Set("Accept", "application/vnd.api+json")
	req.Header.Set("User-Agent", "snippetd")
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		out := Outcome{Kind: Retryable, Detail: c.scrub(transportDetail(err))}
		c.logger.Debug("klaviyo request failed", "path", path, "err", out.Detail, "retry_after", out.RetryAfter)
		return out, nil
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The status arrived; a broken body after a 2xx does not undo it.
		err = nil
	}
	out := c.classify(path, resp, respBody, err)
	c.logger.Debug("klaviyo request", "path", path, "status", resp.StatusCode, "kind", out.Kind, "took", c.now().Sub(start), "retry_after", out.RetryAfter)
	return out, respBody
}

// maxDetail bounds the error text kept with an outcome.
const maxDetail = 4096

var expectedRE = regexp.MustCompile(`Expected available in (\d+) seconds?`)

// classify turns a response into an Outcome.
func (c *client) classify(path string, resp *http.Response, body []byte, readErr error) Outcome {
	rl := parseRateLimit(resp.Header)
	c.mu.Lock()
	c.last[path] = rl
	c.mu.Unlock()
	st := resp.StatusCode
	out := Outcome{Status: st, RateLimit: rl}
	detail := strings.TrimSpace(string(body))
	if len(detail) > maxDetail {
		detail = detail[:maxDetail] + "…"
	}
	if detail == "" {
		detail = fmt.Sprintf("HTTP %d %s", st, http.StatusText(st))
	}
	switch {
	case readErr != nil:
		out.Kind = Retryable
		out.Detail = c.scrub(fmt.Sprintf("HTTP %d, body lost: %v", st, readErr))
	case st >= 200 && st < 300:
		out.Kind = Delivered
	case st == http.StatusTooManyRequests || st == http.StatusRequestTimeout || st >= 500:
		// 429, 408 and every 5xx (Klaviyo's SDKs name 503, 504 and 524;
		// 500 and 502 are retried too because unique_id makes a resend
		// harmless and the outbox caps attempts).
		out.Kind = Retryable
		out.Detail = c.scrub(detail)
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			out.RetryAfter = d
		} else if m := expectedRE.FindStringSubmatch(string(body)); m != nil {
			out.RetryAfter, _ = secondsWait(m[1])
		}
	default:
		out.Kind = Permanent
		out.Detail = c.scrub(detail)
	}
	if out.Kind != Delivered {
		out.Errors = parseAPIErrors(body)
		for i := range out.Errors {
			out.Errors[i].Detail = c.scrub(out.Errors[i].Detail)
			out.Errors[i].Title = c.scrub(out.Errors[i].Title)
		}
	}
	return out
}

func parseRateLimit(h http.Header) RateLimit {
	first := func(k string) int {
		v := h.Get(k)
		if i := strings.IndexAny(v, ",;"); i >= 0 {
			v = v[:i]
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return -1
		}
		return n
	}
	rl := RateLimit{Limit: first("RateLimit-Limit"), Remaining: first("RateLimit-Remaining")}
	if r := first("RateLimit-Reset"); r >= 0 {
		rl.Reset = time.Duration(r) * time.Second
	}
	return rl
}

// transportDetail describes a transport error for the outcome.
func transportDetail(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "canceled: " + err.Error()
	}
	return "connection error: " + err.Error()
}

// SetKey replaces the private key (an operator fixed a wrong or revoked
// one); requests that start afterwards carry it. It refuses a key that
// cannot be a private key and keeps the old one.
func (c *client) SetKey(privateKey string) error {
	if err := CheckPrivateKey(privateKey); err != nil {
		return fmt.Errorf("klaviyo: private key: %w", err)
	}
	c.keyMu.Lock()
	c.key = secret(privateKey)
	c.keyMu.Unlock()
	return nil
}

func (c *client) privateKey() string {
	c.keyMu.RLock()
	defer c.keyMu.RUnlock()
	return string(c.key)
}

// scrub removes the key from text bound for an Outcome or a log.
func (c *client) scrub(s string) string { return scrubKey(s, c.privateKey()) }

// scrubWindow is the shortest run of the key that scrubKey treats as an echo
// of it: long enough that ordinary text does not match a random key by
// chance, short enough that a truncated or partly masked echo is caught.
const scrubWindow = 8

// scrubKey replaces every echo of key in s with [redacted]: the whole key,
// any run of at least scrubWindow of its characters (an upstream that
// truncates or masks part of it), in any letter case (an upstream that
// upper-cases or lower-cases what it quotes). A key shorter than the
// window is matched whole, ignoring case.
func scrubKey(s, key string) string {
	if key == "" || s == "" {
		return s
	}
	w := min(scrubWindow, len(key))
	ls, lk := asciiLower(s), asciiLower(key)
	var hit []bool // bytes of s inside an echo
	for i := 0; i+w <= len(lk); i++ {
		win := lk[i : i+w]
		for from := 0; from+w <= len(ls); {
			j := strings.Index(ls[from:], win)
			if j < 0 {
				break
			}
			if hit == nil {
				hit = make([]bool, len(s))
			}
			for k := from + j; k < from+j+w; k++ {
				hit[k] = true
			}
			from += j + 1
		}
	}
	if hit == nil {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !hit[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(redacted)
		for i < len(s) && hit[i] {
			i++
		}
	}
	return b.String()
}

// asciiLower lower-cases ASCII letters only, so that byte offsets in the
// result are those of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
