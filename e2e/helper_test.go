package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/proxy"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// The inputs below are JSON as a storefront sends it. Each test feeds the
// same text to the Go builders (through strictjson.Decode) and to the helper in
// Chromium (as a JavaScript literal), and compares the pushes by meaning:
// same keys, same values, same numbers.

const (
	pooh = `{"id":"1111","sku":"WINNIEPOOH","name":"Winnie the Pooh","url":"http://www.example.com/path/to/product","image_url":"http://www.example.com/path/to/product/image.png","categories":["Fiction","Children"],"price":9.99}`
	tale = `{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","url":"http://www.example.com/path/to/product2","image_url":"http://www.example.com/path/to/product/image2.png","categories":["Fiction","Classics"],"price":19.99}`
	mug  = `{"id":"p1","name":"Mug","price":19.99}`
	// hostile has every string a page must carry inertly, an amount that
	// needs exact half-up rounding, and empty optional fields.
	hostile = `{"id":"x\"1","sku":"","name":"</script><!-- 'quote' \\ back \u2028\u2029 😀 <b>bold</b>","url":"http://e.x/?a=1&b=<2>","categories":[],"brand":"B&B","price":1.005,"compare_at_price":0}`

	seedCart = `{"id":"1000123","checkout_url":"http://www.example.com/path/to/checkout","items":[{"product":` + pooh + `,"quantity":1},{"product":` + tale + `,"quantity":1}]}`
	mugCart  = `{"id":"c3","items":[{"product":` + mug + `,"quantity":3}]}`
	oddCart  = `{"id":"odd","items":[{"product":` + hostile + `,"quantity":7},{"product":` + pooh + `,"quantity":2}]}`
)

// decode turns JSON values into plain Go values for comparison, so that
// key order and number spelling do not matter, only meaning.
func decode(t testing.TB, raws ...[]byte) []any {
	t.Helper()
	out := make([]any, 0, len(raws))
	for _, r := range raws {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatalf("decode %s: %v", r, err)
		}
		out = append(out, v)
	}
	return out
}

func raws(ps []json.RawMessage) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// built returns the Go builder's pushes as JSON.
func built(t testing.TB) func(ps []snippets.Push, err error) [][]byte {
	return func(ps []snippets.Push, err error) [][]byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := make([][]byte, len(ps))
		for i, p := range ps {
			out[i] = p
		}
		return out
	}
}

func diffPushes(t testing.TB, want, got [][]byte) {
	t.Helper()
	if d := cmp.Diff(decode(t, want...), decode(t, got...)); d != "" {
		t.Errorf("pushes (-want +got):\n%s", d)
	}
}

func dec[T any](t testing.TB, data string) T {
	t.Helper()
	var v T
	if err := strictjson.Decode([]byte(data), &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// helperPage opens a page with the real loader and helper for key and
// waits for the helper.
func helperPage(t *testing.T, o snippets.LoaderOptions, body string) (*Site, *Tab) {
	t.Helper()
	site := NewSite(t)
	tab := NewTab(t)
	tab.Navigate(site.Page(t.Name(), HTML(Loader(t, o), body)))
	tab.WaitHelper()
	return site, tab
}

// parityCase is one helper call and the Go builders' pushes for the same
// inputs.
type parityCase struct {
	name string
	js   string // the helper call
	want func(t *testing.T) [][]byte
}

// parityCases feed the same inputs to the helper and the Go builders:
// every kind of call, minimal and full inputs, hostile strings and an
// amount that needs exact half-up rounding. TestPayloadParity runs them on
// the plain build, TestProxyPayloadParity on the proxy build.
func parityCases() []parityCase {
	checkout := time.Date(2013, 12, 17, 16, 57, 3, 0, time.UTC)
	full := strings.Replace(pooh, `"price":9.99`, `"brand":"Kids Books","price":9.99,"compare_at_price":12.50`, 1)
	return []parityCase{
		{"viewed product", `snippetd.viewedProduct(` + pooh + `)`, func(t *testing.T) [][]byte {
			return built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, pooh)))
		}},
		{"viewed product full", `snippetd.viewedProduct(` + full + `)`, func(t *testing.T) [][]byte {
			return built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, full)))
		}},
		{"viewed product minimal", `snippetd.viewedProduct(` + mug + `)`, func(t *testing.T) [][]byte {
			return built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, mug)))
		}},
		{"viewed product hostile", `snippetd.viewedProduct(` + hostile + `)`, func(t *testing.T) [][]byte {
			return built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, hostile)))
		}},
		{"added to cart seed", `snippetd.addedToCart(` + seedCart + `,` + seedLine(1) + `)`, func(t *testing.T) [][]byte {
			c := dec[shop.Cart](t, seedCart)
			return built(t)(snippets.AddedToCartPushes(c, c.Items[1]))
		}},
		{"added to cart 3x19.99", `snippetd.addedToCart(` + mugCart + `,{"product":` + mug + `,"quantity":3})`, func(t *testing.T) [][]byte {
			c := dec[shop.Cart](t, mugCart)
			return built(t)(snippets.AddedToCartPushes(c, c.Items[0]))
		}},
		{"added to cart hostile", `snippetd.addedToCart(` + oddCart + `,{"product":` + pooh + `,"quantity":2})`, func(t *testing.T) [][]byte {
			c := dec[shop.Cart](t, oddCart)
			return built(t)(snippets.AddedToCartPushes(c, c.Items[1]))
		}},
		{"started checkout seed", `snippetd.startedCheckout(` + seedCart + `,"2013-12-17T16:57:03Z")`, func(t *testing.T) [][]byte {
			return built(t)(snippets.StartedCheckoutPushes(dec[shop.Cart](t, seedCart), checkout))
		}},
		{"started checkout hostile", `snippetd.startedCheckout(` + oddCart + `,"2013-12-17T16:57:03Z")`, func(t *testing.T) [][]byte {
			return built(t)(snippets.StartedCheckoutPushes(dec[shop.Cart](t, oddCart), checkout))
		}},
		{"identify", `snippetd.identify({"email":"shopper@example.com","phone_number":"+15551234567","external_id":"u-1","first_name":"John","last_name":"Smith"})`, func(t *testing.T) [][]byte {
			return built(t)(snippets.IdentifyPushes(dec[shop.Customer](t, `{"email":"shopper@example.com","phone_number":"+15551234567","external_id":"u-1","first_name":"John","last_name":"Smith"}`)))
		}},
		{"identify email only", `snippetd.identify({"email":"shopper@example.com"})`, func(t *testing.T) [][]byte {
			return built(t)(snippets.IdentifyPushes(dec[shop.Customer](t, `{"email":"shopper@example.com"}`)))
		}},
	}
}

func TestPayloadParity(t *testing.T) {
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe)}, "")
	for _, tt := range parityCases() {
		t.Run(tt.name, func(t *testing.T) {
			tab.Eval(`window._klOnsite.length = 0, `+tt.js+`, 0`, nil)
			diffPushes(t, tt.want(t), raws(tab.Pushes()))
		})
	}
}

// seedLine is the seed cart's line i as JSON.
func seedLine(i int) string {
	return []string{`{"product":` + pooh + `,"quantity":1}`, `{"product":` + tale + `,"quantity":1}`}[i]
}

// queuedCalls is a page script that uses the helper before it has loaded:
// the calls wait in window.snippetd.
var queuedCalls = Script(`(window.snippetd = window.snippetd || []).push(["viewedProduct", ` + pooh + `], ["identify", {"email": "early@example.com"}]);`)

// A blocked klaviyo.js (404, or a request that never ends) leaves every
// call in the queue and throws nothing.
func TestBlockedKlaviyoQueues(t *testing.T) {
	for _, mode := range []KlaviyoMode{KlaviyoNotFound, KlaviyoHang} {
		t.Run(map[KlaviyoMode]string{KlaviyoNotFound: "404", KlaviyoHang: "hang"}[mode], func(t *testing.T) {
			key := Klaviyo().Key(t, mode)
			site := NewSite(t)
			tab := NewTab(t)
			body := queuedCalls + `<div data-snippetd-cart='` + seedCart + `'><button id=add data-snippetd-add-to-cart='{"product":` + mug + `,"quantity":2}'>Add</button></div>`
			tab.Open(site.Page("blocked", HTML(Loader(t, snippets.LoaderOptions{PublicKey: key}), body)))
			tab.WaitHelper()
			tab.Click("#add")
			tab.Eval(`snippetd.startedCheckout(`+seedCart+`, "2013-12-17T16:57:03Z"), 0`, nil)

			c := dec[shop.Cart](t, seedCart)
			added := dec[shop.LineItem](t, `{"product":`+mug+`,"quantity":2}`)
			withMug := c
			withMug.Items = append(append([]shop.LineItem(nil), c.Items...), added)
			var want [][]byte
			want = append(want, built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, pooh)))...)
			want = append(want, built(t)(snippets.IdentifyPushes(shop.Customer{Email: "early@example.com"}))...)
			want = append(want, built(t)(snippets.AddedToCartPushes(withMug, added))...)
			want = append(want, built(t)(snippets.StartedCheckoutPushes(c, time.Date(2013, 12, 17, 16, 57, 3, 0, time.UTC)))...)
			diffPushes(t, want, raws(tab.Pushes()))

			var loaded bool
			tab.Eval(`!!window.__klaviyoLoaded`, &loaded)
			if loaded || Klaviyo().Hits(key) != 1 {
				t.Errorf("klaviyo.js requested %d times, loaded %v; want requested once, never loaded", Klaviyo().Hits(key), loaded)
			}
		})
	}
}

// In proxy mode the events reach the first-party endpoint although
// klaviyo.js is blocked, and the helper sends Active on Site in its place
// (in a batch of its own: the error event is a task of its own).
func TestBlockedKlaviyoProxy(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	site, tab := helperPage(t, snippets.LoaderOptions{PublicKey: key, ProxyEndpoint: CollectPrefix}, "")
	tab.Eval(`snippetd.addedToCart(`+mugCart+`,{"product":`+mug+`,"quantity":3}), 0`, nil)
	reqs := site.WaitRequests(t, 2)
	time.Sleep(200 * time.Millisecond)
	metrics := map[string]int{}
	for _, r := range site.Requests() {
		if r.Path != CollectPrefix+"e" {
			t.Fatalf("request %s %s", r.Path, r.Body)
		}
		for _, e := range proxied(t, r.Body).Events {
			metrics[e.Metric]++
			if e.Metric == "Added to Cart" && e.Value.String() != "59.97" {
				t.Errorf("Added to Cart %+v", e)
			}
		}
	}
	if d := cmp.Diff(map[string]int{"Active on Site": 1, "Added to Cart": 1}, metrics); d != "" || len(reqs) != 2 {
		t.Errorf("%d requests, events (-want +got):\n%s", len(reqs), d)
	}
	if len(tab.Pushes()) != 0 {
		t.Errorf("proxy mode pushed onto the klaviyo queue: %s", tab.Pushes())
	}
}

// proxyBody is what the helper posts to {prefix}e and {prefix}i. Its
// events are in the proxy's input form: the render API's inputs, from
// which the server builds the properties (see proxied).
type proxyBody struct {
	Events []struct {
		Metric     string          `json:"metric"`
		Product    json.RawMessage `json:"product"`
		Cart       json.RawMessage `json:"cart"`
		Added      json.RawMessage `json:"added"`
		Properties json.RawMessage `json:"properties"`
		Time       json.RawMessage `json:"time"`
		UniqueID   string          `json:"unique_id"`
		Value      json.RawMessage `json:"value"`
	} `json:"events"`
	Profile map[string]any `json:"profile"`
	Kx      string         `json:"kx"`
	Consent *bool          `json:"consent"`
}

// proxied returns a helper's {prefix}e body as the real proxy decodes and
// builds it.
func proxied(t testing.TB, body []byte) proxy.Batch {
	t.Helper()
	b, err := proxy.NewValidator(nil, proxy.EventLimits{}).DecodeBatch(body, time.Now())
	if err != nil {
		t.Fatalf("the proxy refuses the helper's batch %s: %v", body, err)
	}
	return b
}

func TestDeclarativeAddToCart(t *testing.T) {
	body := `<div data-snippetd-cart='` + seedCart + `'>
		<button id=pooh data-snippetd-add-to-cart='` + seedLine(0) + `'>Add Pooh</button>
		<form><input name=quantity value=4><button id=mug type=button data-snippetd-add-to-cart='` + mug + `'><span id=label>Add mugs</span></button></form>
		<button id=broken data-snippetd-add-to-cart='{not json'>Broken</button>
	</div>`
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe)}, body)
	tab.Click("#pooh")   // raises Pooh from 1 to 2
	tab.Click("#label")  // a click inside the button; the form's quantity (4) applies
	tab.Click("#broken") // ignored, no error
	tab.Click("#pooh")   // 3 Poohs, from the kept cart, not the stale attribute

	cart := dec[shop.Cart](t, seedCart)
	poohLine := dec[shop.LineItem](t, seedLine(0))
	mugLine := shop.LineItem{Product: dec[shop.Product](t, mug), Quantity: 4}
	var want [][]byte
	for _, line := range []shop.LineItem{poohLine, mugLine, poohLine} {
		cart = addLine(cart, line)
		want = append(want, built(t)(snippets.AddedToCartPushes(cart, line))...)
	}
	diffPushes(t, want, raws(tab.Pushes()))
}

// addLine is the cart after adding l: a product already there gets its
// quantity raised.
func addLine(c shop.Cart, l shop.LineItem) shop.Cart {
	items := append([]shop.LineItem(nil), c.Items...)
	for i := range items {
		if items[i].Product.ID == l.Product.ID {
			items[i].Quantity += l.Quantity
			c.Items = items
			return c
		}
	}
	c.Items = append(items, l)
	return c
}

// snippetd.setCart gives the cart for the next click (a single-page shop
// without data-snippetd-cart).
func TestSetCart(t *testing.T) {
	body := `<button id=tale data-snippetd-add-to-cart='` + seedLine(1) + `'>Add</button>`
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe)}, body)
	tab.Eval(`snippetd.consent(false), snippetd.consent(true), 0`, nil) // no-ops without the consent build
	tab.Click("#tale")                                                  // no cart known: a cart of this line alone
	tab.Eval(`snippetd.setCart(`+mugCart+`), 0`, nil)
	tab.Click("#tale")

	tl := dec[shop.LineItem](t, seedLine(1))
	// The cart id is not part of Added to Cart; the Go builder requires one.
	first := shop.Cart{ID: "unused", Items: []shop.LineItem{tl}}
	second := addLine(dec[shop.Cart](t, mugCart), tl)
	want := append(built(t)(snippets.AddedToCartPushes(first, tl)), built(t)(snippets.AddedToCartPushes(second, tl))...)
	diffPushes(t, want, raws(tab.Pushes()))
}

func TestCheckoutIdentify(t *testing.T) {
	body := `<form data-snippetd-checkout='` + seedCart + `'>
		<input id=email type=email> <input id=alt autocomplete=email> <input id=tel type=tel> <input id=other name=note>
	</form>`
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe)}, body)
	settle := func() { time.Sleep(1200 * time.Millisecond) } // past the 750 ms debounce

	tab.Type("#other", "shopper@example.com") // not a watched input
	tab.Type("#email", "shopper@exa")         // invalid while typing: nothing
	settle()
	if got := tab.Pushes(); len(got) != 0 {
		t.Fatalf("pushed before a valid email: %s", got)
	}
	tab.Type("#email", "mple.com")
	tab.WaitFor("window._klOnsite.length >= 2")
	settle()
	pushes := tab.Pushes()
	if len(pushes) != 2 {
		t.Fatalf("want identify then Started Checkout, got %s", pushes)
	}
	// Started Checkout's $event_id carries the time the helper used.
	var props struct {
		EventID string `json:"$event_id"`
	}
	json.Unmarshal(pushes[1], &[]any{nil, nil, &props})
	secs, err := strconv.ParseInt(strings.TrimPrefix(props.EventID, "1000123_"), 10, 64)
	if err != nil {
		t.Fatalf("$event_id %q: %v", props.EventID, err)
	}
	want := built(t)(snippets.IdentifyPushes(shop.Customer{Email: "shopper@example.com"}))
	want = append(want, built(t)(snippets.StartedCheckoutPushes(dec[shop.Cart](t, seedCart), time.Unix(secs, 0)))...)

	// Same value again: nothing. Another email and a phone: identify only,
	// Started Checkout was sent for this cart already.
	tab.Clear("#email")
	tab.Type("#email", "shopper@example.com")
	tab.Type("#alt", " second@example.org ")
	tab.Type("#tel", "+1 (555) 123-4567")
	tab.WaitFor("window._klOnsite.length >= 4")
	settle()
	want = append(want, built(t)(snippets.IdentifyPushes(shop.Customer{Email: "second@example.org"}))...)
	want = append(want, built(t)(snippets.IdentifyPushes(shop.Customer{PhoneNumber: "+15551234567"}))...)
	diffPushes(t, want, raws(tab.Pushes()))

	// The cart changes on the page (a single-page checkout): the next
	// identify is followed by Started Checkout for the new cart.
	tab.Eval(`document.querySelector("[data-snippetd-checkout]").setAttribute("data-snippetd-checkout", JSON.stringify(`+mugCart+`)), window._klOnsite.length = 0`, nil)
	tab.Type("#email", ".uk")
	tab.WaitFor("window._klOnsite.length >= 2")
	settle()
	pushes = tab.Pushes()
	json.Unmarshal(pushes[len(pushes)-1], &[]any{nil, nil, &props})
	secs, err = strconv.ParseInt(strings.TrimPrefix(props.EventID, "c3_"), 10, 64)
	if err != nil {
		t.Fatalf("$event_id %q: %v", props.EventID, err)
	}
	want = built(t)(snippets.IdentifyPushes(shop.Customer{Email: "shopper@example.com.uk"}))
	want = append(want, built(t)(snippets.StartedCheckoutPushes(dec[shop.Cart](t, mugCart), time.Unix(secs, 0)))...)
	diffPushes(t, want, raws(pushes))
}

// Configured selectors replace the defaults; without a checkout element the
// inputs are not watched.
func TestCheckoutSelectors(t *testing.T) {
	body := `<div data-snippetd-checkout=''><input id=email type=email><input id=custom class=mail></div>`
	site, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe), CheckoutEmailSelector: ".mail"}, body)
	tab.Eval(`snippetd.setCart(`+mugCart+`), 0`, nil)
	tab.Type("#email", "ignored@example.com")
	tab.Type("#custom", "custom@example.com")
	tab.WaitFor("window._klOnsite.length >= 2")
	time.Sleep(1200 * time.Millisecond)
	want := built(t)(snippets.IdentifyPushes(shop.Customer{Email: "custom@example.com"}))
	got := raws(tab.Pushes())
	if len(got) != 2 {
		t.Fatalf("want identify and Started Checkout (from setCart), got %s", got)
	}
	diffPushes(t, want, got[:1])

	// A page without data-snippetd-checkout is no checkout.
	tab.Navigate(site.Page("plain", HTML(Loader(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe)}), `<input id=email type=email>`)))
	tab.WaitHelper()
	tab.Type("#email", "shopper@example.com")
	time.Sleep(1200 * time.Millisecond)
	if got := tab.Pushes(); len(got) != 0 {
		t.Errorf("identified outside checkout: %s", got)
	}
}

// A page that includes the helper twice (a theme and an app both add it)
// still tracks each click once: the second copy stays idle.
func TestHelperIncludedTwice(t *testing.T) {
	b := Helper(t, web.Features{})
	again := `<script async src="` + b.Path + `" integrity="` + b.Integrity + `" crossorigin="anonymous" nonce="` + Nonce + `"></script>`
	body := again + `<div data-snippetd-cart='` + mugCart + `'><button id=add data-snippetd-add-to-cart='` + seedLine(0) + `'>Add</button></div>`
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe)}, body)
	var scripts int
	tab.Eval(`performance.getEntriesByType("resource").filter(e => e.name.includes("/assets/helper.")).length + document.querySelectorAll('script[src*="/assets/helper."]').length`, &scripts)
	if scripts < 2 {
		t.Fatalf("the page does not include the helper twice (%d)", scripts)
	}
	tab.Click("#add")
	pl := dec[shop.LineItem](t, seedLine(0))
	diffPushes(t, built(t)(snippets.AddedToCartPushes(addLine(dec[shop.Cart](t, mugCart), pl), pl)), raws(tab.Pushes()))
}
