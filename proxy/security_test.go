package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// errorField returns the field a 4xx answer names.
func errorField(t *testing.T, body []byte) string {
	t.Helper()
	var b httpx.ErrorBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return b.Error.Field
}

// TestBrowserURLsChecked: URLs a browser sends end up as links in the
// shop's emails, so through POST {prefix}e only absolute http(s) URLs are
// taken (in the input form and in the browser's own properties), a
// checkout URL only on an allowed origin, and properties.$value is bounded
// as value is. Each refusal is a 422 naming the field.
func TestBrowserURLsChecked(t *testing.T) {
	h := newHarness(t, Options{KeepAnonymous: true})
	const mug = `"id":"p1","name":"Mug","price":12.5`
	cart := func(checkout, productURL string) string {
		return `{"id":"c1","checkout_url":"` + checkout + `","items":[{"product":{` + mug + `,"url":"` + productURL + `"},"quantity":1}]}`
	}
	bad := []struct{ body, field string }{
		{`{"events":[{"metric":"Viewed Product","product":{` + mug + `,"url":"javascript:alert(1)"}}]}`, "events[0].product.url"},
		{`{"events":[{"metric":"Viewed Product","product":{` + mug + `,"image_url":"data:image/png;base64,AAAA"}}]}`, "events[0].product.image_url"},
		{`{"events":[{"metric":"Viewed Product","product":{` + mug + `,"url":"/\\evil.example/x"}}]}`, "events[0].product.url"},
		{`{"events":[{"metric":"Started Checkout","cart":` + cart("https://evil.example/co", "https://shop.example/p") + `}]}`, "events[0].cart.checkout_url"},
		{`{"events":[{"metric":"Started Checkout","cart":` + cart("javascript:alert(1)", "https://shop.example/p") + `}]}`, "events[0].cart.checkout_url"},
		{`{"events":[{"metric":"Started Checkout","cart":` + cart("https://shop.example/co", "vbscript:x") + `}]}`, "events[0].cart.items[0].product.url"},
		{`{"events":[{"metric":"Added to Cart","cart":` + cart("https://evil.example/co", "https://shop.example/p") + `,"added":{"product":{` + mug + `},"quantity":1}}]}`, "events[0].cart.checkout_url"},
		{`{"events":[{"metric":"Added to Cart","cart":` + cart("https://shop.example/co", "https://shop.example/p") + `,"added":{"product":{` + mug + `,"image_url":"javascript:x"},"quantity":1}}]}`, "events[0].added.product.image_url"},
		{`{"events":[{"metric":"Started Checkout","properties":{"CheckoutURL":"https://evil.example/co"}}]}`, "events[0].properties.CheckoutURL"},
		{`{"events":[{"metric":"Viewed Product","properties":{"URL":"javascript:alert(1)"}}]}`, "events[0].properties.URL"},
		{`{"events":[{"metric":"Viewed Product","properties":{"ImageUrl":"data:text/html,x"}}]}`, "events[0].properties.ImageUrl"},
		{`{"events":[{"metric":"Started Checkout","properties":{"Items":[{"ProductURL":"javascript:x"}]}}]}`, "events[0].properties.Items[0].ProductURL"},
		{`{"events":[{"metric":"Started Checkout","properties":{"$value":1e12}}]}`, "events[0].properties.$value"},
		{`{"events":[{"metric":"Started Checkout","properties":{"$value":-1}}]}`, "events[0].properties.$value"},
		{`{"events":[{"metric":"Started Checkout","properties":{"$value":"99999999999"}}]}`, "events[0].properties.$value"},
	}
	for _, tt := range bad {
		w := h.do(req{path: "/s/e", body: tt.body})
		if w.Code != http.StatusUnprocessableEntity || errorField(t, w.Body.Bytes()) != tt.field {
			t.Errorf("%s: %d %s, want 422 naming %s", tt.body, w.Code, w.Body, tt.field)
		}
	}
	if n := len(h.out.take()); n != 0 {
		t.Errorf("%d refused events were enqueued", n)
	}
	good := []string{
		`{"events":[{"metric":"Viewed Product","product":{` + mug + `,"url":"https://shop.example/p/mug","image_url":"https://cdn.example/mug.png"}}]}`,
		`{"events":[{"metric":"Started Checkout","cart":` + cart("https://shop.example/checkout?c=1", "http://shop.example/p") + `}]}`,
		`{"events":[{"metric":"Started Checkout","properties":{"CheckoutURL":"https://SHOP.example:443/co","$value":29.98,"URL":"https://other.example/x"}}]}`,
	}
	for _, body := range good {
		if w := h.do(req{path: "/s/e", body: body}); w.Code != http.StatusAccepted {
			t.Errorf("%s: %d %s, want 202", body, w.Code, w.Body)
		}
	}
}

// TestAnonymousIDIsKeyedHash: the HttpOnly browser cookie's value never
// leaves the server: the anonymous id sent to Klaviyo (and so shown by the
// inspector) is a keyed hash of it, the same on every request of the
// browser and on every instance sharing the database, different for
// another browser.
func TestAnonymousIDIsKeyedHash(t *testing.T) {
	d := openTestDBs(t)["sqlite"]
	h := newHarnessOn(t, d, Options{KeepAnonymous: true})
	other := newHarnessOn(t, d, Options{KeepAnonymous: true}) // a second instance
	w := h.do(req{path: "/s/e", body: viewed})
	var bid *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == BrowserCookie {
			bid = c
		}
	}
	if w.Code != http.StatusAccepted || bid == nil {
		t.Fatalf("status %d, cookie %v: %s", w.Code, bid, w.Body)
	}
	first := h.out.take()
	if len(first) != 1 {
		t.Fatalf("enqueued %d events", len(first))
	}
	anon := first[0].Profile.AnonymousID
	if anon == "" || strings.Contains(anon, bid.Value) {
		t.Fatalf("anonymous id %q carries the cookie value %q", anon, bid.Value)
	}
	body := strings.Replace(viewed, "vp-1", "vp-2", 1)
	h.do(req{path: "/s/e", body: body, cookies: []*http.Cookie{bid}})
	other.do(req{path: "/s/e", body: body, cookies: []*http.Cookie{bid}})
	for _, ev := range append(h.out.take(), other.out.take()...) {
		if ev.Profile.AnonymousID != anon {
			t.Errorf("anonymous id %q on a later request, want %q", ev.Profile.AnonymousID, anon)
		}
	}
	h.do(req{path: "/s/e", body: viewed}) // another browser
	if ev := h.out.take(); len(ev) != 1 || ev[0].Profile.AnonymousID == anon || ev[0].Profile.AnonymousID == "" {
		t.Errorf("another browser got %+v, want a different anonymous id", ev)
	}
}

// TestBrowserClaimsCarryOneIdentifier: whatever mix of identifiers a
// browser claims through identify or an event batch, the profile the
// proxy sends with the private key names one (email, else phone, else
// external id), so Klaviyo never merges a browser's phone or id into
// somebody else's email profile, nor changes the email of the profile an
// id names.
func TestBrowserClaimsCarryOneIdentifier(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []struct {
		path, body string
		want       klaviyo.Profile
	}{
		{"/s/i", `{"email":"victim@example.com","phone_number":"+15005550006","external_id":"eve-1","first_name":"Eve"}`,
			klaviyo.Profile{Email: "victim@example.com", FirstName: "Eve"}},
		{"/s/i", `{"profile":{"external_id":"victim-42","phone_number":"+15005550006"}}`,
			klaviyo.Profile{PhoneNumber: "+15005550006"}},
		{"/s/i", `{"external_id":"victim-42","email":"eve@example.com"}`,
			klaviyo.Profile{Email: "eve@example.com"}},
		{"/s/e", `{"events":[{"metric":"Viewed Product","properties":{}}],"profile":{"email":"victim@example.com","phone_number":"+15005550006"}}`,
			klaviyo.Profile{Email: "victim@example.com"}},
		{"/s/e", `{"events":[{"metric":"Viewed Product","properties":{}}],"profile":{"external_id":"victim-42","phone_number":"+15005550006","last_name":"Lee"}}`,
			klaviyo.Profile{PhoneNumber: "+15005550006", LastName: "Lee"}},
	}
	for _, tt := range tests {
		w := h.do(req{path: tt.path, body: tt.body}) // a new browser each time
		got := h.out.take()
		if w.Code != http.StatusAccepted || len(got) != 1 {
			t.Fatalf("%s %s: %d %s, %d events", tt.path, tt.body, w.Code, w.Body, len(got))
		}
		p := got[0].Profile
		p.Location = nil
		if d := cmp.Diff(tt.want, p); d != "" {
			t.Errorf("%s %s: profile sent (-want +got):\n%s", tt.path, tt.body, d)
		}
	}
}
