package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/db"
)

// cartProxy is a proxy whose Options.Carts is the real carts service in
// mode, on the database d.
func cartProxy(t *testing.T, d *db.DB, mode carts.Mode) (*harness, *carts.Service) {
	t.Helper()
	tmpl, err := carts.ParseTemplate("https://shop.example/cart/restore?items={items}&cart={cart_id}")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := carts.Open(context.Background(), d, carts.Options{PublicURL: "https://t.shop.example", Template: tmpl, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return newHarnessOn(t, d, Options{Carts: svc}), svc
}

// checkoutEvent is a Started Checkout of cart c-9 (a mug, twice) in the
// input form, with checkoutURL as the cart's checkout_url unless empty.
func checkoutEvent(checkoutURL string) string {
	cart := `{"id":"c-9","items":[{"product":{"id":"mug","name":"Mug","price":9.5},"quantity":2}]`
	if checkoutURL != "" {
		cart += `,"checkout_url":"` + checkoutURL + `"`
	}
	return `{"events":[{"metric":"Started Checkout","cart":` + cart + `}}]}`
}

// sendCheckout posts body for an identified browser and returns the
// answer and the CheckoutURL of what was enqueued.
func sendCheckout(t *testing.T, h *harness, body string) (int, string) {
	t.Helper()
	w := h.do(req{path: "/s/e", body: body, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
	got := h.out.take()
	if w.Code != http.StatusAccepted {
		if len(got) != 0 {
			t.Errorf("answered %d but enqueued %d events", w.Code, len(got))
		}
		return w.Code, ""
	}
	if len(got) != 1 || got[0].Metric != "Started Checkout" {
		t.Fatalf("enqueued %+v", got)
	}
	var props struct{ CheckoutURL string }
	if err := json.Unmarshal(got[0].Properties, &props); err != nil {
		t.Fatal(err)
	}
	return w.Code, props.CheckoutURL
}

// restores checks that link is a restore link of svc for the mug cart.
func restores(t *testing.T, svc *carts.Service, link string) {
	t.Helper()
	tok, ok := strings.CutPrefix(link, "https://t.shop.example/r/")
	if !ok {
		t.Fatalf("CheckoutURL %q is not a restore link", link)
	}
	v, outcome, err := svc.Restore(context.Background(), tok)
	if err != nil || outcome != carts.Restored || v.CartID != "c-9" || len(v.Items) != 1 || v.Items[0].Product.ID != "mug" || v.Items[0].Quantity != 2 {
		t.Errorf("restoring %s: %+v %s %v", link, v, outcome, err)
	}
}

// TestCartLinkHook: a Started Checkout without checkout_url gets a
// restore link that restores its cart; one with a checkout_url on an
// allowed origin keeps it, unless the mode is always; one on another
// origin is refused naming the field.
func TestCartLinkHook(t *testing.T) {
	const shopCheckout = shopOrigin + "/checkout?cart=c-9"
	t.Run("missing", func(t *testing.T) {
		h, svc := cartProxy(t, openTestDBs(t)["sqlite"], carts.Missing)
		code, link := sendCheckout(t, h, checkoutEvent(""))
		if code != http.StatusAccepted {
			t.Fatalf("status %d", code)
		}
		restores(t, svc, link)
		if code, link := sendCheckout(t, h, checkoutEvent(shopCheckout)); code != http.StatusAccepted || link != shopCheckout {
			t.Errorf("with the shop's checkout_url: %d, CheckoutURL %q, want it kept", code, link)
		}
		w := h.do(req{path: "/s/e", body: checkoutEvent("https://evil.example/checkout"), cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `"field":"events[0].cart.checkout_url"`) {
			t.Errorf("checkout_url on another origin: %d %s", w.Code, w.Body)
		}
	})
	t.Run("always", func(t *testing.T) {
		h, svc := cartProxy(t, openTestDBs(t)["sqlite"], carts.Always)
		code, link := sendCheckout(t, h, checkoutEvent(shopCheckout))
		if code != http.StatusAccepted {
			t.Fatalf("status %d", code)
		}
		restores(t, svc, link)
	})
}

// TestCartLinkStoreDown: when the carts cannot be stored, a batch with a
// linked cart answers 503 with Retry-After and enqueues nothing (no event
// links a cart that was not kept); events without a cart still go.
func TestCartLinkStoreDown(t *testing.T) {
	cartsDB := openTestDBs(t)["sqlite"]
	_, svc := cartProxy(t, cartsDB, carts.Missing)
	h := newHarness(t, Options{Carts: svc})
	cartsDB.Close()

	w := h.do(req{path: "/s/e", body: checkoutEvent(""), cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
	if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != "unavailable" || w.Header().Get("Retry-After") == "" {
		t.Errorf("carts store down: %d %s, Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if got := h.out.take(); len(got) != 0 {
		t.Errorf("enqueued %d events although their cart was not stored", len(got))
	}
	// A checkout_url the shop gave needs no link, so nothing to store.
	if code, link := sendCheckout(t, h, checkoutEvent(shopOrigin+"/checkout")); code != http.StatusAccepted || link != shopOrigin+"/checkout" {
		t.Errorf("cart with the shop's checkout_url while the store is down: %d %q", code, link)
	}
	if w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}}); w.Code != http.StatusAccepted {
		t.Errorf("event without a cart while the carts store is down: %d %s", w.Code, w.Body)
	}
}
