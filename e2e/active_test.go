package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/snippetd/snippetd/snippets"
)

// activeOnSite counts the Active on Site events the helper posted to the
// site's collector.
func activeOnSite(t *testing.T, site *Site) int {
	t.Helper()
	n := 0
	for _, r := range site.Requests() {
		var body proxyBody
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("request %s: %v", r.Body, err)
		}
		for _, e := range body.Events {
			if e.Metric == "Active on Site" {
				n++
				if e.Properties != nil || e.Product != nil || e.Cart != nil || e.UniqueID == "" {
					t.Errorf("Active on Site event %+v", e)
				}
			}
		}
	}
	return n
}

// In proxy mode the helper stands in for klaviyo.js's Active on Site when
// klaviyo.js did not load: one per browser session, through the proxy.
// Blocked (404): two pages of one session send exactly one. Stalled (the
// request never ends): one after the helper's 5 s. Loaded: none over two
// pages, also after those 5 s. Without sessionStorage: one per page, and
// no error.
func TestProxyActiveOnSite(t *testing.T) {
	noStorage := Script(`Object.defineProperty(window, "sessionStorage", {get() { throw new DOMException("denied", "SecurityError") }});`)
	for _, c := range []struct {
		name string
		mode KlaviyoMode
		body string
		want int // Active on Site events after two pages
	}{
		{"404", KlaviyoNotFound, "", 1},
		{"hang", KlaviyoHang, "", 1},
		{"loaded", KlaviyoServe, "", 0},
		{"no storage", KlaviyoNotFound, noStorage, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			key := Klaviyo().Key(t, c.mode)
			site := NewSite(t)
			tab := NewTab(t)
			loader := Loader(t, snippets.LoaderOptions{PublicKey: key, ProxyEndpoint: CollectPrefix})
			first, second := site.Page("first", HTML(loader, c.body)), site.Page("second", HTML(loader, c.body))

			// Open, not Navigate: a stalled klaviyo.js delays the load event.
			tab.Open(first)
			tab.WaitHelper()
			switch c.mode {
			case KlaviyoServe:
				tab.WaitFor(`window.__klaviyoLoaded`)
			default:
				site.WaitRequests(t, 1) // the hang case: after the 5 s timeout
				if n := activeOnSite(t, site); n != 1 {
					t.Fatalf("first page: %d Active on Site, want 1", n)
				}
			}
			if c.mode == KlaviyoHang {
				// Chrome holds a second request for the stalled URL behind
				// the first (its cache lock), so the stall is checked on
				// one page: nothing more arrives after the timeout's event.
				time.Sleep(time.Second)
				if n := activeOnSite(t, site); n != c.want {
					t.Errorf("Active on Site sent %d times, want %d", n, c.want)
				}
				return
			}
			tab.Open(second)
			// The second page's helper requested klaviyo.js.
			for deadline := time.Now().Add(actionTimeout); Klaviyo().Hits(key) < 2; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the second page requested klaviyo.js %d times in all, want 2", Klaviyo().Hits(key))
				}
			}
			// Past the helper's timeout: a stalled or loaded klaviyo.js
			// would have had its chance to send a second one.
			time.Sleep(5500 * time.Millisecond)
			if n := activeOnSite(t, site); n != c.want {
				t.Errorf("Active on Site sent %d times over two pages, want %d; requests %+v", n, c.want, site.Requests())
			}
			if c.mode == KlaviyoServe {
				var loaded int
				tab.Eval(`window.__klaviyoLoaded`, &loaded)
				if loaded != 1 {
					t.Errorf("second page: klaviyo.js ran %d times, want once", loaded)
				}
			}
		})
	}
}
