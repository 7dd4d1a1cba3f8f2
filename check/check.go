// Package check audits a storefront's Klaviyo onsite integration in headless
// Chromium: it opens pages (or walks a shopper's steps), records every call
// the page makes to klaviyo.push, _learnq.push and the klaviyo object from
// the first script on, the requests to Klaviyo and the uncaught errors, and
// checks them against the rules of Klaviyo's integration guide (see Rules).
// Every page runs twice: with klaviyo.js loading (a local stand-in when
// static.klaviyo.com cannot be reached) and with it blocked, as an ad
// blocker would.
//
// It serves `snippetd check` and users' own tests: Page checks a page from
// a testing.T; Browser.Check does the same anywhere else.
package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Mode is how klaviyo.js is treated during one run of a page.
type Mode string

const (
	// Loaded lets klaviyo.js load; when static.klaviyo.com cannot be
	// reached (or Options.StandIn is set) the checker serves a stand-in.
	Loaded Mode = "loaded"
	// Blocked fails every request to *.klaviyo.com and every */klaviyo.js,
	// as an ad blocker does.
	Blocked Mode = "blocked"
)

// Options says what to check and how. The zero value opens each URL once
// per mode and checks every rule except unknown-product.
type Options struct {
	// Steps is the shopper's walk run after the start URL opens (see
	// ParseSteps); relative URLs in open steps resolve against it.
	Steps []Step
	// Crawl is how many same-origin product links (CrawlPattern) of the
	// start page are checked too, each opened on its own. Default 0.
	Crawl int
	// CrawlPattern matches the paths of product links. Default
	// `/products?/`.
	CrawlPattern *regexp.Regexp
	// Headers are sent with every request to the start URL's origin
	// (basic auth of a staging site) and with the catalog feed's; never
	// to other origins (Klaviyo, a CDN), which must not see them.
	Headers map[string]string
	// Cookies are set for the start URL before it opens.
	Cookies map[string]string
	// ConsentSelector is clicked when it shows up within a second and a half
	// of each open, for sites that hold klaviyo.js until consent.
	ConsentSelector string
	// CatalogURL is the shop's catalog feed (JSON or XML): when set,
	// product ids it does not list are reported (unknown-product).
	CatalogURL string
	// StandIn serves the local klaviyo.js stand-in even when
	// static.klaviyo.com can be reached.
	StandIn bool
	// StepTimeout bounds each step, including waiting for its selector.
	// Default 15s.
	StepTimeout time.Duration
	// Settle is how long a page must stay quiet (no push, no Klaviyo
	// request) after a step before the next one. Default 300ms.
	Settle time.Duration
	// ScreenshotDir receives a PNG of each failing page, at the end of its
	// walk. Empty: no screenshots.
	ScreenshotDir string
}

// Push is one call the page made: ["track","Viewed Product",{...}],
// ["identify",{...}] or ["trackViewedItem",{...}], as JSON.
type Push struct {
	// Step is the index of the step during which the call was made: 0 is
	// opening the start URL, 1 the first of Options.Steps.
	Step int `json:"step"`
	// URL is the document that made the call.
	URL string `json:"url"`
	// Via is how: klaviyo.push, klaviyo.track, _learnq.push, _klOnsite.push,
	// or klaviyo/_learnq for calls queued in an array before it was
	// handed to the page.
	Via string `json:"via"`
	// Call is the call as the page passed it, callbacks left out.
	Call json.RawMessage `json:"call"`
}

// Command is the call's first element ("track", "identify", ...).
func (p Push) Command() string {
	var c []json.RawMessage
	var s string
	if json.Unmarshal(p.Call, &c) == nil && len(c) > 0 && json.Unmarshal(c[0], &s) == nil {
		return s
	}
	return ""
}

// Metric is the event name of a track call, else "".
func (p Push) Metric() string {
	var c []json.RawMessage
	var s string
	if p.Command() == "track" && json.Unmarshal(p.Call, &c) == nil && len(c) > 1 && json.Unmarshal(c[1], &s) == nil {
		return s
	}
	return ""
}

// Request is one request to Klaviyo's servers, or to a klaviyo.js.
type Request struct {
	Step   int    `json:"step"`
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   string `json:"body,omitempty"`
	// Outcome is what the checker did: "blocked", "stand-in" (served the
	// local klaviyo.js), "recorded" (answered 202 itself, so a check never
	// creates events in the shop's account) or "passed".
	Outcome string `json:"outcome"`
}

// PageError is an uncaught exception or unhandled rejection.
type PageError struct {
	Step int    `json:"step"`
	URL  string `json:"url"`
	Text string `json:"text"`
}

// Result is one page run in one mode.
type Result struct {
	// URL is the page's start URL.
	URL      string      `json:"url"`
	Mode     Mode        `json:"mode"`
	Steps    []string    `json:"steps"`
	Pushes   []Push      `json:"pushes"`
	Requests []Request   `json:"requests"`
	Errors   []PageError `json:"errors"`
	Problems []Problem   `json:"problems"`
	// Screenshot is the PNG written for a failing page, if any.
	Screenshot string `json:"screenshot,omitempty"`
}

// Report is the outcome of a check: every page in both modes.
type Report struct {
	Results []*Result `json:"results"`
}

// Problems returns every problem of every result.
func (r *Report) Problems() []Problem {
	var out []Problem
	for _, res := range r.Results {
		out = append(out, res.Problems...)
	}
	return out
}

// Failed reports whether any rule failed.
func (r *Report) Failed() bool { return len(r.Problems()) > 0 }

// Browser is one headless Chromium the checks run in; each page run gets a
// fresh browser context (no cookies or storage shared).
type Browser struct {
	ctx    context.Context
	cancel func()
}

// chromiumPaths are where Chromium is looked for when no path is given.
var chromiumPaths = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// ErrNoChromium is returned by Start when no Chromium is installed.
var ErrNoChromium = errors.New("check: Chromium not found (install chromium, or give its path)")

// Start starts headless Chromium (execPath, or the first found in PATH).
// Close stops it.
func Start(execPath string) (*Browser, error) {
	if execPath == "" {
		for _, p := range chromiumPaths {
			if found, err := exec.LookPath(p); err == nil {
				execPath = found
				break
			}
		}
		if execPath == "" {
			return nil, ErrNoChromium
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI containers run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Do starts the browser; its context has no timeout, so the
	// browser lives until Close.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		return nil, fmt.Errorf("check: start Chromium %s: %w", execPath, err)
	}
	return &Browser{ctx: ctx, cancel: func() { cancel(); cancelAlloc() }}, nil
}

// Close stops the browser.
func (b *Browser) Close() { b.cancel() }

// Check checks startURL: it runs the start URL and Options.Steps in each
// mode, then each crawled product page, and applies the rules. An error
// means the check could not run (bad options, an unreachable catalog); a
// page that fails a step is a problem of rule "walk" in the report.
func (b *Browser) Check(ctx context.Context, startURL string, o Options) (*Report, error) {
	start, err := url.Parse(startURL)
	if err != nil || (start.Scheme != "http" && start.Scheme != "https" && start.Scheme != "file") {
		return nil, fmt.Errorf("check: url %q: want an absolute http(s) URL", startURL)
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 15 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 300 * time.Millisecond
	}
	if o.CrawlPattern == nil {
		o.CrawlPattern = regexp.MustCompile(`/products?/`)
	}
	var catalog map[string]bool
	if o.CatalogURL != "" {
		if catalog, err = loadCatalog(ctx, o.CatalogURL, o.Headers); err != nil {
			return nil, err
		}
	}
	rep := &Report{}
	var links []string
	for _, mode := range []Mode{Loaded, Blocked} {
		res, found, err := b.run(ctx, start, o.Steps, mode, o, catalog, o.Crawl > 0 && mode == Loaded)
		if err != nil {
			return nil, err
		}
		if mode == Loaded {
			links = found
		}
		rep.Results = append(rep.Results, res)
	}
	for i, l := range links {
		if i == o.Crawl {
			break
		}
		u, _ := url.Parse(l)
		for _, mode := range []Mode{Loaded, Blocked} {
			res, _, err := b.run(ctx, u, nil, mode, o, catalog, false)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

// recorder collects what one tab reports; the listener runs in the tab's
// event loop, the steps in the caller's goroutine.
type recorder struct {
	mu       sync.Mutex
	step     int
	last     time.Time
	pushes   []Push
	errors   []PageError
	requests []Request
}

func (r *recorder) touch() { r.last = time.Now() }

func (r *recorder) setStep(i int) {
	r.mu.Lock()
	r.step = i
	r.mu.Unlock()
}

func (r *recorder) quietFor() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.last)
}

// listen runs in the tab's event loop: it must return fast.
func (r *recorder) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventBindingCalled:
		if ev.Name != bindingName {
			return
		}
		var p Push
		if json.Unmarshal([]byte(ev.Payload), &p) != nil {
			return
		}
		r.mu.Lock()
		p.Step = r.step
		r.pushes = append(r.pushes, p)
		r.touch()
		r.mu.Unlock()
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text, _, _ = strings.Cut(d.Exception.Description, "\n")
			if !strings.HasPrefix(d.Text, "Uncaught") {
				text = d.Text + " " + text
			} else {
				text = "Uncaught " + text
			}
		}
		r.mu.Lock()
		r.errors = append(r.errors, PageError{Step: r.step, URL: d.URL, Text: text})
		r.touch()
		r.mu.Unlock()
	}
}

func (r *recorder) request(q Request) {
	r.mu.Lock()
	q.Step = r.step
	r.requests = append(r.requests, q)
	r.touch()
	r.mu.Unlock()
}

// run walks one page in one mode in a fresh browser context.
func (b *Browser) run(ctx context.Context, start *url.URL, steps []Step, mode Mode, o Options, catalog map[string]bool, wantLinks bool) (*Result, []string, error) {
	rec := &recorder{last: time.Now()}
	tctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.listen))
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := chromedp.Do(tctx); err != nil {
		return nil, nil, fmt.Errorf("check: open tab: %w", err)
	}
	paused := chromedp.Events(tctx, fetch.RequestPaused)
	go b.intercept(tctx, paused, mode, o.StandIn, siteHeaders(start, o.Headers), rec)
	if err := b.setup(tctx, start, mode, o); err != nil {
		return nil, nil, err
	}

	res := &Result{URL: start.String(), Mode: mode}
	all := append([]Step{{Open: start.String()}}, steps...)
	var links []string
	for i, s := range all {
		res.Steps = append(res.Steps, s.String())
		rec.setStep(i)
		err := b.step(tctx, start, s, o)
		if err == nil && s.Open != "" && o.ConsentSelector != "" {
			err = clickConsent(tctx, o.ConsentSelector)
		}
		if err != nil {
			res.Problems = append(res.Problems, Problem{Rule: "walk", Mode: mode, Step: i, URL: start.String(),
				Message: fmt.Sprintf("step %d (%s) failed: %v", i, s, err)})
			break
		}
		settle(tctx, rec, o.Settle)
		if i == 0 && wantLinks {
			links = crawlLinks(tctx, start, o.CrawlPattern)
		}
	}
	rec.mu.Lock()
	res.Pushes, res.Errors, res.Requests = rec.pushes, rec.errors, rec.requests
	rec.mu.Unlock()
	if res.Pushes == nil {
		res.Pushes = []Push{}
	}
	res.Problems = append(res.Problems, evaluate(res, catalog)...)
	if len(res.Problems) > 0 && o.ScreenshotDir != "" {
		if err := screenshot(tctx, res, o.ScreenshotDir); err != nil {
			return nil, nil, err
		}
	}
	return res, links, nil
}

// setup installs the hook, the interception, the headers and the cookies
// before the first navigation.
func (b *Browser) setup(ctx context.Context, start *url.URL, mode Mode, o Options) error {
	if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: bindingName}); err != nil {
		return fmt.Errorf("check: add binding: %w", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hookJS}); err != nil {
		return fmt.Errorf("check: add hook: %w", err)
	}
	patterns := []*fetch.RequestPattern{
		{URLPattern: "*://a.klaviyo.com/client/*"},
	}
	if mode == Blocked {
		patterns = []*fetch.RequestPattern{{URLPattern: "*://*.klaviyo.com/*"}, {URLPattern: "*/klaviyo.js*"}}
	} else if o.StandIn {
		patterns = append(patterns, &fetch.RequestPattern{URLPattern: "*://static.klaviyo.com/onsite/js/*"})
	} else {
		// At the response stage a request that failed (no DNS, no route)
		// still pauses, with its error: that is when the stand-in is served.
		patterns = append(patterns, &fetch.RequestPattern{URLPattern: "*://static.klaviyo.com/onsite/js/*", RequestStage: fetch.RequestStageResponse})
	}
	if h := siteHeaders(start, o.Headers); h != nil {
		// The site's requests pause too, to get the headers: Network's
		// extra headers would go to every origin the page loads from.
		patterns = append(patterns, &fetch.RequestPattern{URLPattern: h.origin + "/*"})
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: patterns}); err != nil {
		return fmt.Errorf("check: intercept: %w", err)
	}
	for name, value := range o.Cookies {
		if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: start.String()}); err != nil {
			return fmt.Errorf("check: cookie %s: %w", name, err)
		}
	}
	return nil
}

// originHeaders are the headers of Options.Headers and the one origin
// they are sent to.
type originHeaders struct {
	origin  string // scheme://host[:port]
	headers map[string]string
}

// siteHeaders returns the headers for start's origin, nil when there are
// none (or start has no origin, a file URL).
func siteHeaders(start *url.URL, h map[string]string) *originHeaders {
	if len(h) == 0 || start.Host == "" || (start.Scheme != "http" && start.Scheme != "https") {
		return nil
	}
	return &originHeaders{origin: start.Scheme + "://" + start.Host, headers: h}
}

// matches reports whether rawURL is on the headers' origin (the pattern
// origin/* also matches a longer host or port with the same prefix).
func (o *originHeaders) matches(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return o != nil && err == nil && u.Scheme+"://"+u.Host == o.origin
}

// add returns the request's headers with o's set, replacing any of the
// same name.
func (o *originHeaders) add(h network.Headers) []*fetch.HeaderEntry {
	out := make([]*fetch.HeaderEntry, 0, len(h)+len(o.headers))
	for k, v := range h {
		replaced := false
		for name := range o.headers {
			replaced = replaced || strings.EqualFold(k, name)
		}
		if !replaced {
			out = append(out, &fetch.HeaderEntry{Name: k, Value: fmt.Sprint(v)})
		}
	}
	for k, v := range o.headers {
		out = append(out, &fetch.HeaderEntry{Name: k, Value: v})
	}
	return out
}

// klaviyoRequest reports whether rawURL is one of the requests setup's
// Klaviyo patterns pause in mode (the others paused are the site's).
func klaviyoRequest(rawURL string, mode Mode) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "klaviyo.com" || strings.HasSuffix(h, ".klaviyo.com") || mode == Blocked && strings.Contains(rawURL, "/klaviyo.js")
}

// intercept answers the paused requests of one tab until it closes: the
// Klaviyo ones as mode says (recorded), the site's with its headers.
func (b *Browser) intercept(ctx context.Context, paused iter.Seq2[fetch.EventRequestPaused, error], mode Mode, standIn bool, site *originHeaders, rec *recorder) {
	for ev, err := range paused {
		if err != nil {
			return
		}
		if !klaviyoRequest(ev.Request.URL, mode) {
			p := fetch.ContinueRequestParams{RequestID: ev.RequestID}
			if site.matches(ev.Request.URL) {
				p.Headers = site.add(ev.Request.Headers)
			}
			chromedp.Call(ctx, fetch.ContinueRequest, p)
			continue
		}
		q := Request{Method: ev.Request.Method, URL: ev.Request.URL}
		for _, e := range ev.Request.PostDataEntries {
			q.Body += string(e.Bytes)
		}
		isScript := strings.Contains(ev.Request.URL, "/klaviyo.js")
		var err error
		switch {
		case mode == Blocked:
			q.Outcome = "blocked"
			_, err = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		case strings.Contains(ev.Request.URL, "://a.klaviyo.com/client/"):
			q.Outcome = "recorded"
			_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 202,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Access-Control-Allow-Origin", Value: "*"}, {Name: "Content-Type", Value: "application/json"}},
				Body:            []byte("{}")})
		case isScript && (standIn || ev.ResponseErrorReason != "" || ev.ResponseStatusCode >= 400):
			q.Outcome = "stand-in"
			_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/javascript"}, {Name: "Access-Control-Allow-Origin", Value: "*"}},
				Body:            []byte(standInJS)})
		default:
			q.Outcome = "passed"
			_, err = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
		if err == nil {
			rec.request(q)
		}
	}
}

// step runs one step with the step timeout.
func (b *Browser) step(ctx context.Context, start *url.URL, s Step, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.StepTimeout)
	defer cancel()
	switch {
	case s.Open != "":
		u, err := start.Parse(s.Open)
		if err != nil {
			return err
		}
		return chromedp.Do(ctx, chromedp.Navigate(u.String()))
	case s.Click != "":
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(s.Click)))
	case s.Type != "":
		return chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(s.Type), s.Text))
	case s.Wait != "":
		if d, err := time.ParseDuration(s.Wait); err == nil {
			return chromedp.Do(ctx, chromedp.Sleep(d))
		}
		return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(s.Wait)))
	}
	return nil
}

// settle waits until the page has loaded and made no push and no Klaviyo
// request for quiet, or five seconds passed.
func settle(ctx context.Context, rec *recorder, quiet time.Duration) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if rec.quietFor() >= quiet {
			// Loaded, and no request of the stand-in klaviyo.js still
			// unanswered (real klaviyo.js is judged by the quiet time alone).
			ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && !(window.__snippetdCheckPending > 0)`))
			if err == nil && ready {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clickConsent clicks the consent banner's button when it shows up within
// a second and a half of the page opening.
func clickConsent(ctx context.Context, selector string) error {
	sel, _ := json.Marshal(selector)
	expr := `(() => { const e = document.querySelector(` + string(sel) + `); if (!e || !e.getClientRects().length) return false; e.click(); return true })()`
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		clicked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			var ex *chromedp.ExceptionError
			if errors.As(err, &ex) {
				return fmt.Errorf("consent selector %q: %v", selector, err)
			}
			continue
		}
		if clicked {
			return nil
		}
	}
	return nil
}

// crawlLinks returns the page's same-origin links whose path matches re,
// without duplicates or the page itself, in document order.
func crawlLinks(ctx context.Context, start *url.URL, re *regexp.Regexp) []string {
	hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a[href]"), a => a.href)`))
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, h := range hrefs {
		u, err := url.Parse(h)
		if err != nil || u.Scheme != start.Scheme || u.Host != start.Host || !re.MatchString(u.Path) {
			continue
		}
		u.Fragment = ""
		if s := u.String(); !seen[s] && u.Path != start.Path {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshot writes the tab's viewport as dir/<host-path>-<mode>.png.
func screenshot(ctx context.Context, res *Result, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		// A page that crashed or hangs still gets its report.
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("check: screenshots: %w", err)
	}
	u, _ := url.Parse(res.URL)
	name := strings.Trim(unsafeName.ReplaceAllString(u.Host+u.Path, "-"), "-")
	path := filepath.Join(dir, name+"-"+string(res.Mode)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("check: screenshots: %w", err)
	}
	res.Screenshot = path
	return nil
}
