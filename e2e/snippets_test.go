package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// renderAPI asks the site's real render API for a partial, with the page
// nonce.
func renderAPI(t *testing.T, site *Site, snippet, body string) string {
	t.Helper()
	resp, err := http.Post(site.URL("/v1/render/"+snippet+"?nonce="+Nonce), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("render %s: %d %s", snippet, resp.StatusCode, b)
	}
	return string(b)
}

// trap is a hostile string that would set window.pwned if any part of it
// ran as markup or script, even with the page's nonce.
const trap = `</script><script nonce=\"` + Nonce + `\">window.pwned=1</script><img src=x onerror=\"window.pwned=2\"><!--<script>window.pwned=3</script>\u2028\u2029`

// The partials of the render API, pasted into a page served with a
// nonce-based CSP and klaviyo.js blocked (404), run without any error and
// leave on the klaviyo queue exactly the pushes the Go builders make, with
// every hostile string intact and inert.
func TestRenderedPartialsRun(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	site := NewSite(t)
	tab := NewTab(t)
	product := `{"id":"t1","name":"` + trap + `","brand":"` + trap + `","categories":["` + trap + `"],"price":1.005}`
	cart := `{"id":"c-` + trap + `","items":[{"product":` + product + `,"quantity":3},{"product":` + pooh + `,"quantity":1}]}`
	customer := `{"email":"a@` + trap + `","first_name":"` + trap + `"}`
	at := "2026-11-27T10:00:00Z"

	head := renderAPI(t, site, "loader", `{"public_key":"`+key+`"}`)
	body := renderAPI(t, site, "viewed-product", `{"product":`+product+`}`) +
		renderAPI(t, site, "added-to-cart", `{"cart":`+cart+`,"added":{"product":`+product+`,"quantity":2}}`) +
		renderAPI(t, site, "started-checkout", `{"cart":`+cart+`,"time":"`+at+`"}`) +
		renderAPI(t, site, "identify", `{"customer":`+customer+`}`)
	tab.Navigate(site.Page("partials", HTML(head, body)))

	c := dec[shop.Cart](t, cart)
	var want [][]byte
	want = append(want, built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, product)))...)
	want = append(want, built(t)(snippets.AddedToCartPushes(c, shop.LineItem{Product: c.Items[0].Product, Quantity: 2}))...)
	want = append(want, built(t)(snippets.StartedCheckoutPushes(c, time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)))...)
	want = append(want, built(t)(snippets.IdentifyPushes(dec[shop.Customer](t, customer)))...)
	diffPushes(t, want, raws(tab.Pushes()))

	var pwned any
	tab.Eval(`window.pwned === undefined ? null : window.pwned`, &pwned)
	if pwned != nil {
		t.Errorf("a hostile string ran: window.pwned = %v", pwned)
	}
	var scripts int
	tab.Eval(`document.scripts.length`, &scripts)
	if want := strings.Count(head+body, "<script"); scripts != want {
		t.Errorf("%d script elements in the DOM, want the %d the partials hold", scripts, want)
	}
}

// The loader's klaviyo object stand-in: methods return promises and queue
// [name, ...args, resolver], a trailing callback is called too, push
// forwards, awaiting the object does not hang, an existing object is kept,
// and without Proxy the array fallback forwards pushes.
func TestLoaderStandIn(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	site := NewSite(t)
	loader := Render(t, snippets.Loader(snippets.LoaderOptions{PublicKey: key}))

	t.Run("proxy", func(t *testing.T) {
		tab := NewTab(t)
		tab.Navigate(site.Page("standin", HTML(loader, "")))
		var got struct {
			Promise, Entry, Resolved, Callback, Awaited, Pushed bool
		}
		tab.Eval(`(async () => {
			const q = window._klOnsite;
			let cbValue;
			const p = klaviyo.identify({email: "a@b.example"});
			const e = q[q.length - 1];
			const entry = e[0] === "identify" && e[1].email === "a@b.example" && typeof e[2] === "function" && e.length === 3;
			e[2]("done");
			const resolved = (await p) === "done";
			const p2 = klaviyo.isIdentified(v => { cbValue = v; });
			const e2 = q[q.length - 1];
			e2[e2.length - 1](true);
			await p2;
			const awaited = (await Promise.race([Promise.resolve(klaviyo).then(() => true), new Promise(r => setTimeout(() => r(false), 500))]));
			klaviyo.push(["track", "T", {}]);
			const pushed = JSON.stringify(q[q.length - 1]) === '["track","T",{}]';
			return {Promise: p instanceof Promise, Entry: entry, Resolved: resolved, Callback: cbValue === true && e2.length === 2, Awaited: awaited, Pushed: pushed};
		})()`, &got)
		if !(got.Promise && got.Entry && got.Resolved && got.Callback && got.Awaited && got.Pushed) {
			t.Errorf("stand-in behaviour: %+v", got)
		}
	})

	t.Run("no proxy", func(t *testing.T) {
		tab := NewTab(t)
		tab.Navigate(site.Page("noproxy", HTML(Script(`window.Proxy = undefined;`)+loader, "")))
		var ok bool
		tab.Eval(`Array.isArray(klaviyo) && (klaviyo.push(["track","T",{}]), JSON.stringify(window._klOnsite) === '[["track","T",{}]]')`, &ok)
		if !ok {
			t.Error("without Proxy, klaviyo is not an array forwarding push to _klOnsite")
		}
	})

	t.Run("existing object kept", func(t *testing.T) {
		tab := NewTab(t)
		tab.Navigate(site.Page("existing", HTML(Script(`window.klaviyo = {mine: 1};`)+loader, "")))
		var mine int
		tab.Eval(`window.klaviyo.mine || 0`, &mine)
		if mine != 1 {
			t.Error("the loader replaced an existing klaviyo object")
		}
	})
}
