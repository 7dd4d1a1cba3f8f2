// Package klaviyotest is a strict fake Klaviyo for tests and demos. It
// answers the endpoints snippetd uses (server events and bulk jobs, client
// events, profiles and bulk events, catalog items and their bulk jobs) the
// way Klaviyo documents them: it checks the private key or company_id, the
// revision header, the content type and every request body against
// Klaviyo's OpenAPI slices, enforces the rules the schemas cannot express
// (a profile identifier, no repeated unique_id in a bulk request, the size
// limits), enforces per-endpoint rate limits with Klaviyo's real 429 body,
// dedupes events by (profile, metric, unique_id) like Klaviyo, and records
// what it accepted. It can be told to fail: 429 with or without
// Retry-After, 5xx, slow answers, dropped connections, or being down.
//
// It imports nothing of snippetd, so its checks are independent of the
// client it tests.
package klaviyotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default credentials the fake accepts; change them with SetKeys.
const (
	// PrivateKey is the private API key the fake accepts by default.
	PrivateKey = "pk_snippetd_fake_0123456789abcdef"
	// CompanyID is the public key (company_id) the fake accepts by default.
	CompanyID = "SnPd01"
	// NewestRevision is the latest revision the fake knows; later ones are
	// rejected like Klaviyo rejects revisions that do not exist yet.
	NewestRevision = "2026-07-15"
	// BackfillRevision is the first revision that knows `backfill`.
	BackfillRevision = "2026-04-15"
	// OldestRevision: every 2022-2024 revision is retired.
	OldestRevision = "2025-01-15"
)

// Endpoint paths, also the keys of SetLimits and StatsFor.
const (
	PathEvents            = "/api/events"
	PathBulkEvents        = "/api/event-bulk-create-jobs"
	PathClientEvents      = "/client/events"
	PathClientBulkEvents  = "/client/event-bulk-create"
	PathClientProfiles    = "/client/profiles"
	PathCatalogItems      = "/api/catalog-items"
	PathCatalogBulkCreate = "/api/catalog-item-bulk-create-jobs"
	PathCatalogBulkUpdate = "/api/catalog-item-bulk-update-jobs"
	PathCatalogBulkDelete = "/api/catalog-item-bulk-delete-jobs"

	PathCatalogVariantBulkCreate = "/api/catalog-variant-bulk-create-jobs"
	PathCatalogVariantBulkUpdate = "/api/catalog-variant-bulk-update-jobs"
	PathCatalogVariantBulkDelete = "/api/catalog-variant-bulk-delete-jobs"
	PathClientBackInStock        = "/client/back-in-stock-subscriptions"
)

// Limits is an endpoint's rate limit: Burst requests per second and Steady
// requests per minute, each a token bucket. Zero disables a bucket.
type Limits struct {
	Burst  int
	Steady int
}

// DefaultLimits are Klaviyo's documented limits per endpoint.
var DefaultLimits = map[string]Limits{
	PathEvents:            {350, 3500},
	PathBulkEvents:        {10, 150},
	PathClientEvents:      {350, 3500},
	PathClientBulkEvents:  {10, 150},
	PathClientProfiles:    {350, 3500},
	PathCatalogItems:      {75, 700},
	PathCatalogBulkCreate: {75, 700},
	PathCatalogBulkUpdate: {75, 700},
	PathCatalogBulkDelete: {75, 700},

	PathCatalogVariantBulkCreate: {75, 750},
	PathCatalogVariantBulkUpdate: {75, 750},
	PathCatalogVariantBulkDelete: {75, 750},
	PathClientBackInStock:        {350, 3500},
}

// TB is the part of testing.TB the fake uses; *testing.T satisfies it.
type TB interface {
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Helper()
}

// Event is one event the fake accepted.
type Event struct {
	// Path is the endpoint that carried it (PathEvents, PathBulkEvents, ...).
	Path string
	// ProfileKey is the strongest identifier, such as "email:a@b.c".
	ProfileKey string
	// Profile is the profile's attributes as sent.
	Profile map[string]any
	Metric  string
	// UniqueID as sent ("" when absent).
	UniqueID      string
	Time          string
	Value         json.Number
	ValueCurrency string
	Properties    map[string]any
	Backfill      bool
	// Request is the index of the request in Requests().
	Request int
	// Raw is the whole JSON:API request body that carried the event.
	Raw json.RawMessage
}

// Profile is one profile accepted by POST /client/profiles.
type Profile struct {
	Key        string
	Attributes map[string]any
	Raw        json.RawMessage
}

// Request is one request the fake received, with what it answered.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	// Status is the status answered; 0 when the connection was dropped.
	Status int
	// Fault names the injected fault that answered, if any.
	Fault string
	At    time.Time
}

// Stats counts requests by what happened to them.
type Stats struct {
	Requests int
	// Accepted got a 2xx.
	Accepted int
	// Throttled got a 429 from the rate limiter (not an injected one).
	Throttled int
	// Rejected got a 4xx for a bad request (auth, revision, body).
	Rejected int
	// Faults were answered by an injected fault.
	Faults int
	// Events counts events recorded (after dedupe); Duplicates those
	// dropped because Klaviyo had already kept one with the same key.
	Events     int
	Duplicates int
}

// Server is a running fake Klaviyo. Its URL is the base URL to give the
// client (SNIPPETD_KLAVIYO_URL).
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:41234.
	URL string

	ts      *httptest.Server
	hs      *http.Server
	ln      net.Listener
	schemas *Schemas

	mu          sync.Mutex
	logf        func(string, ...any)
	now         func() time.Time
	privateKey  string
	companyID   string
	limits      map[string]Limits
	buckets     map[string][2]*rate.Limiter
	faults      []*faultRule
	reject      *Rejection // see Reject
	down        bool
	requests    []Request
	events      []Event
	seen        map[string]bool
	profiles    []Profile
	catalog     map[string]map[string]any
	catalogKeys []string
	variants    map[string]CatalogVariant
	bis         []BackInStock
	jobs        map[string]map[string]any
	consent     consentState
	stats       map[string]*Stats
	idSeq       int
	// strict counts arrivals in sliding windows (see SetStrictLimits).
	strict   bool
	arrivals map[string][]time.Time
	// changed is closed (and replaced) whenever a request finishes, to
	// wake WaitEvents.
	changed chan struct{}
}

// NewServer starts a fake Klaviyo on a free loopback port for a test and
// closes it when the test ends. Its messages go to tb.Logf; OpenAPI slices
// that do not load fail the test.
func NewServer(tb TB) *Server {
	tb.Helper()
	s, err := newServer(tb.Logf)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	tb.Cleanup(s.Close)
	return s
}

// Start runs a fake Klaviyo on addr (such as "127.0.0.1:0" or ":9090") as a
// real listener, for a separately-run binary or a demo. logf receives its
// messages (nil: standard error). Call Close when done.
func Start(addr string, logf func(string, ...any)) (*Server, error) {
	if logf == nil {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "klaviyotest: "+f+"\n", a...) }
	}
	s, err := newServer(logf)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.hs.Serve(ln)
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.URL = "http://" + net.JoinHostPort(host, port)
	return s, nil
}

func newServer(logf func(string, ...any)) (*Server, error) {
	sch, err := LoadSchemas()
	if err != nil {
		return nil, err
	}
	s := &Server{
		schemas:    sch,
		logf:       logf,
		now:        time.Now,
		privateKey: PrivateKey,
		companyID:  CompanyID,
		limits:     map[string]Limits{},
		buckets:    map[string][2]*rate.Limiter{},
		seen:       map[string]bool{},
		catalog:    map[string]map[string]any{},
		variants:   map[string]CatalogVariant{},
		jobs:       map[string]map[string]any{},
		stats:      map[string]*Stats{},
		changed:    make(chan struct{}),
	}
	for p, l := range DefaultLimits {
		s.limits[p] = l
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.CloseClientConnections()
		s.ts.Close()
	}
	if s.hs != nil {
		s.hs.Close()
	}
}

// SetKeys changes the accepted private key and company_id.
func (s *Server) SetKeys(privateKey, companyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.privateKey, s.companyID = privateKey, companyID
}

// SetClock replaces the clock used by the rate limiter, FailFor and time
// checks, so tests control time.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
	s.buckets = map[string][2]*rate.Limiter{}
}

// SetLimits changes the rate limit of one endpoint path (see Path*
// constants); Limits{} disables it.
func (s *Server) SetLimits(path string, l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[path] = l
	delete(s.buckets, path)
}

// SetDown makes the fake drop every connection without answering (true)
// or serve again (false), like an unreachable Klaviyo.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Events returns a copy of the accepted events, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// WaitEvents waits until the fake holds at least n accepted events (for
// asynchronous senders such as the outbox) and returns them, or returns
// what it holds with ctx's error when ctx ends first.
func (s *Server) WaitEvents(ctx context.Context, n int) ([]Event, error) {
	for {
		s.mu.Lock()
		evs, ch := append([]Event(nil), s.events...), s.changed
		s.mu.Unlock()
		if len(evs) >= n {
			return evs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return evs, ctx.Err()
		}
	}
}

// EventsFor returns the accepted events of one metric.
func (s *Server) EventsFor(metric string) []Event {
	var out []Event
	for _, e := range s.Events() {
		if e.Metric == metric {
			out = append(out, e)
		}
	}
	return out
}

// Profiles returns the profiles accepted by POST /client/profiles.
func (s *Server) Profiles() []Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Profile(nil), s.profiles...)
}

// CatalogItems returns the catalog items by external_id, as their
// attributes.
func (s *Server) CatalogItems() map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]any, len(s.catalog))
	for k, v := range s.catalog {
		out[k] = v
	}
	return out
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Stats returns the counters summed over every endpoint.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t Stats
	for _, st := range s.stats {
		t.Requests += st.Requests
		t.Accepted += st.Accepted
		t.Throttled += st.Throttled
		t.Rejected += st.Rejected
		t.Faults += st.Faults
		t.Events += st.Events
		t.Duplicates += st.Duplicates
	}
	return t
}

// StatsFor returns the counters of one endpoint path.
func (s *Server) StatsFor(path string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stats[path]; st != nil {
		return *st
	}
	return Stats{}
}

// Reset forgets everything recorded (events, requests, stats, catalog,
// faults) but keeps keys, limits and the clock.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.events, s.profiles, s.faults = nil, nil, nil, nil
	s.seen = map[string]bool{}
	s.catalog = map[string]map[string]any{}
	s.catalogKeys = nil
	s.variants = map[string]CatalogVariant{}
	s.bis = nil
	s.jobs = map[string]map[string]any{}
	s.consent = consentState{}
	s.stats = map[string]*Stats{}
	s.buckets = map[string][2]*rate.Limiter{}
}

// apiError is one entry of Klaviyo's error document.
type apiError struct {
	ID     string `json:"id"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Source *struct {
		Pointer   string `json:"pointer,omitempty"`
		Parameter string `json:"parameter,omitempty"`
	} `json:"source,omitempty"`
}

// reply is what a handler decided to answer.
type reply struct {
	status int
	header http.Header
	body   []byte
	fault  string
	drop   bool
	commit func() // records accepted data; run unless the answer is lost before processing
}

func (s *Server) nextID() string {
	s.idSeq++
	return fmt.Sprintf("%08x-fake-%04d", s.idSeq*2654435761%0xffffffff, s.idSeq)
}

func (s *Server) errReply(status int, code, title, detail, pointer, parameter string) reply {
	e := apiError{ID: s.nextID(), Status: status, Code: code, Title: title, Detail: detail}
	if pointer != "" || parameter != "" {
		e.Source = &struct {
			Pointer   string `json:"pointer,omitempty"`
			Parameter string `json:"parameter,omitempty"`
		}{pointer, parameter}
	}
	b, _ := json.Marshal(map[string]any{"errors": []apiError{e}})
	h := http.Header{"Content-Type": {"application/vnd.api+json"}}
	return reply{status: status, header: h, body: b}
}

func (s *Server) invalid(detail, pointer string) reply {
	return s.errReply(400, "invalid", "Invalid input.", detail, pointer, "")
}

// throttled is Klaviyo's 429 answer.
func (s *Server) throttled(retryAfter int, withHeader bool, expectedIn int) reply {
	detail := "Request was throttled."
	if expectedIn > 0 {
		unit := "seconds"
		if expectedIn == 1 {
			unit = "second"
		}
		detail = fmt.Sprintf("Request was throttled. Expected available in %d %s.", expectedIn, unit)
	}
	r := s.errReply(429, "throttled", "Request was throttled.", detail, "", "")
	if withHeader {
		r.header.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	return r
}

var revisionRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})(\.[A-Za-z0-9_-]+)?$`)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	if err != nil {
		return
	}
	// Decoding and schema validation need no state: do them before taking
	// the lock, so concurrent requests are checked in parallel.
	pre := s.parse(r, body)
	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: s.now()})
	st := s.stats[r.URL.Path]
	if st == nil {
		st = &Stats{}
		s.stats[r.URL.Path] = st
	}
	st.Requests++
	rep, delay, afterAccept := s.decide(r, body, pre, idx, st)
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	if rep.commit != nil && (!rep.drop || afterAccept) {
		rep.commit()
	}
	s.requests[idx].Status = rep.status
	s.requests[idx].Fault = rep.fault
	if rep.drop {
		s.requests[idx].Status = 0
	}
	switch {
	case rep.fault != "":
		st.Faults++
	case rep.status >= 200 && rep.status < 300:
		st.Accepted++
	case rep.status == 429:
		st.Throttled++
	case rep.status >= 400:
		st.Rejected++
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()

	if rep.drop {
		hijackClose(w)
		return
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if strings.HasPrefix(r.URL.Path, "/client/") {
		// Klaviyo's client endpoints answer browsers of any origin, so a
		// page can read the answer of its own fetch.
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("klaviyotest: response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
	}
}

// decide runs every check in Klaviyo's order (fault injection first, then
// routing, auth, revision, rate limit, content type, body) and returns the
// answer. Called with s.mu held.
func (s *Server) decide(r *http.Request, body []byte, pre parsed, idx int, st *Stats) (rep reply, delay time.Duration, afterAccept bool) {
	if s.down {
		return reply{drop: true, fault: "down"}, 0, false
	}
	if f := s.takeFault(r.URL.Path); f != nil {
		rep, delay, afterAccept = s.faultReply(*f, r, body, pre, idx, st)
		return rep, delay, afterAccept
	}
	return s.serve(r, body, pre, idx, st), 0, false
}

// serve answers a request with no fault injected.
func (s *Server) serve(r *http.Request, body []byte, pre parsed, idx int, st *Stats) reply {
	if r.Method == http.MethodOptions && strings.HasPrefix(r.URL.Path, "/client/") {
		return reply{status: 204, header: http.Header{
			"Access-Control-Allow-Origin":  {"*"},
			"Access-Control-Allow-Methods": {"POST, OPTIONS"},
			"Access-Control-Allow-Headers": {"Content-Type, Accept, revision"},
		}}
	}
	route, ok := s.route(r)
	if !ok {
		return s.errReply(404, "not_found", "Not found.", fmt.Sprintf("%s %s is not an endpoint this fake Klaviyo knows", r.Method, r.URL.Path), "", "")
	}
	// Authentication: private key for /api, company_id for /client.
	if route.client {
		cid := r.URL.Query().Get("company_id")
		if cid == "" {
			return s.errReply(400, "invalid", "Invalid input.", "company_id is required", "", "company_id")
		}
		if cid != s.companyID {
			return s.errReply(400, "invalid", "Invalid input.", "Invalid company_id "+strconv.Quote(cid), "", "company_id")
		}
		if r.Header.Get("Authorization") != "" {
			return s.errReply(400, "invalid", "Invalid input.", "client endpoints must not carry an Authorization header (a private key would be exposed to browsers)", "", "")
		}
	} else {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Klaviyo-API-Key ")
		if auth == "" || !ok {
			return s.errReply(401, "not_authenticated", "Authentication credentials were not provided.", "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.", "", "")
		}
		if key != s.privateKey {
			return s.errReply(401, "authentication_failed", "Incorrect authentication credentials.", "Incorrect authentication credentials.", "", "")
		}
	}
	rev := r.Header.Get("revision")
	m := revisionRE.FindStringSubmatch(rev)
	switch {
	case rev == "":
		return s.errReply(400, "invalid", "Invalid input.", "Missing required header: revision", "", "revision")
	case m == nil:
		return s.errReply(400, "invalid", "Invalid input.", "revision "+strconv.Quote(rev)+" is not in the format YYYY-MM-DD[.suffix]", "", "revision")
	case m[1] < OldestRevision:
		return s.errReply(410, "invalid_revision", "Revision retired.", "revision "+rev+" has been retired", "", "revision")
	case m[1] > NewestRevision:
		return s.errReply(400, "invalid_revision", "Invalid revision.", "revision "+rev+" does not exist", "", "revision")
	}
	if d := s.limit(route.limitKey); d > 0 {
		secs := int(math.Ceil(d.Seconds()))
		return s.throttled(secs, true, secs)
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		ct := r.Header.Get("Content-Type")
		mt, _, _ := strings.Cut(ct, ";")
		mt = strings.TrimSpace(strings.ToLower(mt))
		if mt != "application/vnd.api+json" && mt != "application/json" {
			return s.errReply(415, "unsupported_media_type", "Unsupported media type.", "Unsupported media type "+strconv.Quote(ct)+" in request: use application/vnd.api+json", "", "")
		}
		if len(body) > maxPayload {
			return s.errReply(413, "payload_too_large", "Payload too large.", fmt.Sprintf("the payload is %d bytes, more than 5 MB", len(body)), "", "")
		}
	}
	if pre.parseErr != nil {
		return s.errReply(400, "parse_error", "Malformed request.", "JSON parse error: "+pre.parseErr.Error(), "", "")
	}
	if pre.schemaErr != nil {
		return s.invalid(pre.schemaErr.Error(), pre.pointer)
	}
	rep := route.handle(s, &call{r: r, body: body, doc: pre.doc, idx: idx, st: st, rev: m[1], id: route.id})
	if rep.status >= 200 && rep.status < 300 {
		if rep.header == nil {
			rep.header = http.Header{}
		}
		if l := s.limits[route.limitKey]; l.Steady > 0 {
			b := s.bucket(route.limitKey)
			rem := 0
			if b[1] != nil {
				rem = int(b[1].TokensAt(s.now()))
			}
			rep.header.Set("RateLimit-Limit", strconv.Itoa(l.Steady))
			rep.header.Set("RateLimit-Remaining", strconv.Itoa(max(rem, 0)))
			rep.header.Set("RateLimit-Reset", "60")
		}
	}
	return rep
}

const maxPayload = 5 * 1024 * 1024

// parsed is a request body decoded and checked against its endpoint's
// OpenAPI slice; serve reports the errors in Klaviyo's order (after auth,
// revision, rate limit and content type).
type parsed struct {
	doc       any
	parseErr  error
	schemaErr error
	pointer   string
}

// parse decodes and schema-checks a POST or PATCH body. It reads no
// server state, so it runs without the lock.
func (s *Server) parse(r *http.Request, body []byte) parsed {
	var p parsed
	if r.Method != http.MethodPost && r.Method != http.MethodPatch {
		return p
	}
	route, ok := s.route(r)
	if !ok || len(body) > maxPayload {
		return p
	}
	p.doc, p.parseErr = decodeJSON(body)
	if p.parseErr == nil && route.schema != "" {
		p.pointer, p.schemaErr = s.schemas.Validate(route.schema, p.doc)
	}
	return p
}

func (s *Server) bucket(key string) [2]*rate.Limiter {
	b, ok := s.buckets[key]
	if !ok {
		l := s.limits[key]
		if l.Burst > 0 {
			b[0] = rate.NewLimiter(rate.Limit(l.Burst), l.Burst)
		}
		if l.Steady > 0 {
			b[1] = rate.NewLimiter(rate.Limit(float64(l.Steady)/60), l.Steady)
		}
		s.buckets[key] = b
	}
	return b
}

// limit takes one token from both buckets of key, or returns how long
// until one would be available (and takes nothing).
func (s *Server) limit(key string) time.Duration {
	if s.strict {
		return s.strictLimit(key)
	}
	now := s.now()
	b := s.bucket(key)
	var rs []*rate.Reservation
	var wait time.Duration
	for _, l := range b {
		if l == nil {
			continue
		}
		r := l.ReserveN(now, 1)
		rs = append(rs, r)
		if d := r.DelayFrom(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		for _, r := range rs {
			r.CancelAt(now)
		}
	}
	return wait
}

// decodeJSON decodes one JSON document keeping numbers exact.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON document")
	}
	return v, nil
}
