package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// actionTimeout bounds each step a Tab runs; the browser itself has none.
const actionTimeout = 20 * time.Second

// Tab is one browser tab of a test. It records the console; at the end of
// the test, an uncaught exception, an unhandled rejection or a console
// error (anything but a failed network load, which blocked-klaviyo tests
// cause on purpose) fails the test.
type Tab struct {
	t   testing.TB
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// NewTab opens a tab for t, closed when t ends. It skips t when there is
// no browser (see Run).
func NewTab(t testing.TB) *Tab {
	t.Helper()
	if browserCtx == nil {
		t.Skipf("e2e: no browser: %v", browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	tab := &Tab{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.messages = append(tab.messages, m)
			tab.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		// A round trip lets events sent before it reach the reader.
		chromedp.Run(ctx, chromedp.Evaluate[int]("1"))
		time.Sleep(50 * time.Millisecond)
		for _, e := range tab.PageErrors() {
			t.Errorf("page error: %s", e)
		}
		cancel()
		<-done
	})
	return tab
}

// Context is the tab's chromedp context, for actions Tab has no method for.
// Derive a timeout from it for each step.
func (tab *Tab) Context() context.Context { return tab.ctx }

// PageErrors returns the uncaught exceptions, unhandled rejections and
// console errors so far, as text; failed network loads are left out.
func (tab *Tab) PageErrors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var out []string
	for _, m := range tab.messages {
		if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
			out = append(out, m.String()+" at "+m.URL)
		}
	}
	return out
}

// Do runs actions in the tab, failing the test on error.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %v", err)
	}
}

// Navigate loads url and waits for the load event.
func (tab *Tab) Navigate(url string) {
	tab.t.Helper()
	tab.Do(chromedp.Navigate(url))
}

// Open starts loading url without waiting for the load event, for pages
// whose load never ends (a hung klaviyo.js delays it for ever).
func (tab *Tab) Open(url string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, actionTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: url}); err != nil {
		tab.t.Fatalf("navigate %s: %v", url, err)
	}
}

// Eval evaluates expression (awaiting a promise) and decodes its JSON value
// into out (nil to ignore it).
func (tab *Tab) Eval(expression string, out any) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, actionTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("evaluate %.80q: %v", expression, err)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(raw, out); err != nil {
		tab.t.Fatalf("evaluate %.80q: decode %s: %v", expression, raw, err)
	}
}

// WaitFor polls expression until it is truthy.
func (tab *Tab) WaitFor(expression string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, actionTimeout)
	defer cancel()
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expression+")", chromedp.WithPollingInterval(10*time.Millisecond)))
		if err == nil {
			return
		}
		// A navigation that is still settling replaces the page's
		// JavaScript context under the poll: poll again in the new one.
		if ctx.Err() == nil && (strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "context was destroyed") || strings.Contains(err.Error(), "navigated or closed")) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		tab.t.Fatalf("waiting for %s: %v", expression, err)
	}
}

// WaitHelper waits until the browser helper has run (window.snippetd).
func (tab *Tab) WaitHelper() {
	tab.t.Helper()
	tab.WaitFor("window.snippetd && window.snippetd.setCart")
}

// Pushes returns window._klOnsite, the klaviyo queue, as JSON values.
func (tab *Tab) Pushes() []json.RawMessage {
	tab.t.Helper()
	var out []json.RawMessage
	tab.Eval("window._klOnsite || []", &out)
	return out
}

// Click clicks the first element matching the CSS selector.
func (tab *Tab) Click(selector string) {
	tab.t.Helper()
	tab.Do(chromedp.Click(chromedp.CSS(selector)))
}

// Type focuses the element matching selector and types text key by key,
// as a shopper would (one input event per character).
func (tab *Tab) Type(selector, text string) {
	tab.t.Helper()
	tab.Do(chromedp.SendKeys(chromedp.CSS(selector), text))
}

// Clear empties the input matching selector (firing an input event).
func (tab *Tab) Clear(selector string) {
	tab.t.Helper()
	tab.Eval(`(()=>{const e=document.querySelector(`+jsString(selector)+`);e.value="";e.dispatchEvent(new Event("input",{bubbles:true}));return 0})()`, nil)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return strings.ReplaceAll(string(b), "\u2028", `\u2028`)
}
