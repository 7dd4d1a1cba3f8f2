package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/inspect"
)

// TestDemoShopWithoutBrowser walks the demo shop over plain HTTP in
// local-sink mode: the demo is on by default, the cart cookie follows the
// forms, the order goes through the orders API and the outbox to the local
// sink, and the inspector lists every event. (e2e/ walks it in Chromium.)
func TestDemoShopWithoutBrowser(t *testing.T) {
	m := openMain(t, nil)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := m.Server.URL()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values, accept string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Request.URL.Path
	}
	if st, body := get("/demo/"); st != 200 || !strings.Contains(body, "Stoneware Mug") || !strings.Contains(body, "nothing leaves this machine") {
		t.Fatalf("GET /demo/ = %d", st)
	}
	st, body := get("/demo/products/kettle")
	if st != 200 || !strings.Contains(body, `"Viewed Product"`) || !strings.Contains(body, "/demo/static/klaviyo.js?view=") || !strings.Contains(body, "/assets/helper.") {
		t.Fatalf("product page %d lacks the snippet, the stand-in or the helper:\n%s", st, body)
	}
	if st, _ := get("/demo/products/nope"); st != 404 {
		t.Errorf("unknown product = %d", st)
	}
	for _, id := range []string{"kettle", "mug", "mug"} {
		if st, body, _ := post("/demo/cart/add", url.Values{"id": {id}, "quantity": {"1"}}, "application/json"); st != 200 || !strings.Contains(body, `"count"`) {
			t.Fatalf("add %s = %d %s", id, st, body)
		}
	}
	if st, body, _ := post("/demo/cart/add", url.Values{"id": {"mug"}, "quantity": {"0"}}, "application/json"); st != 422 || !strings.Contains(body, `"field":"quantity"`) {
		t.Errorf("quantity 0 = %d %s", st, body)
	}
	st, body = get("/demo/checkout")
	if st != 200 || !strings.Contains(body, "data-snippetd-checkout=") || !strings.Contains(body, "$100.00") {
		t.Fatalf("checkout %d:\n%s", st, body)
	}
	if st, body, _ := post("/demo/checkout", url.Values{"email": {"not an email"}}, ""); st != 422 || !strings.Contains(body, "valid email") {
		t.Errorf("bad email = %d", st)
	}
	st, body, final := post("/demo/checkout", url.Values{"email": {"ann@example.com"}, "first_name": {"Ann"}, "city": {"Portland"}}, "")
	if st != 200 || !strings.HasPrefix(final, "/demo/orders/LK-") || !strings.Contains(body, "Thank you") {
		t.Fatalf("place order = %d at %s", st, final)
	}
	if _, body := get("/demo/cart"); !strings.Contains(body, "Your cart is empty") {
		t.Error("the cart was not emptied after the order")
	}

	// The orders' events reach the local sink through the outbox, and the
	// inspector lists them with the rendered Viewed Product.
	var list struct{ Events []inspect.Event }
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/debug/events?source=orders&state=delivered", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if len(list.Events) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for _, e := range list.Events {
		got = append(got, e.Metric+" "+e.Profile)
	}
	want := []string{"Ordered Product email:ann@example.com", "Ordered Product email:ann@example.com", "Placed Order email:ann@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered order events (-want +got):\n%s", diff)
	}
	if n := m.Sink.Len(); n != 3 {
		t.Errorf("the local sink took %d requests, want 3", n)
	}
	rendered, _ := m.Inspector.List(context.Background(), inspect.Filter{Source: "render"})
	if len(rendered) != 2 {
		t.Errorf("render events = %+v, want Viewed Product and trackViewedItem", rendered)
	}

	// The stand-in's report endpoint refuses what is not a push.
	req, _ := http.NewRequest("POST", base+"/demo/onsite", strings.NewReader(`{"view":"x","pushes":[{"not":"an array"}]}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(b), `"field":"pushes[0]"`) {
		t.Errorf("bad report = %d %s", resp.StatusCode, b)
	}
}

// TestDemoOffWithKey: with a private key the demo is off unless asked for.
func TestDemoOffWithKey(t *testing.T) {
	m := openMain(t, map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_test", "SNIPPETD_KLAVIYO_URL": "http://127.0.0.1:9"})
	resp, err := http.Get(m.Server.URL() + "/demo/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("demo with a key = %d, want 404", resp.StatusCode)
	}
	m2 := openMain(t, map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_test", "SNIPPETD_KLAVIYO_URL": "http://127.0.0.1:9", "SNIPPETD_DEMO": "force", "SNIPPETD_PUBLIC_KEY": "AbC123"})
	resp, err = http.Get(m2.Server.URL() + "/demo/products/mug")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "static.klaviyo.com/onsite/js/AbC123/klaviyo.js") || strings.Contains(string(b), "nothing leaves this machine") {
		t.Errorf("SNIPPETD_DEMO=force with a real key: %d, want Klaviyo's klaviyo.js and no local-sink notice", resp.StatusCode)
	}
	if resp, _ := http.Get(m2.Server.URL() + "/demo/static/klaviyo.js"); resp.StatusCode != 404 {
		t.Errorf("the stand-in is served with a real key: %d", resp.StatusCode)
	}
}

// TestDemoLocalSinkNeverLoadsKlaviyo: in local-sink mode the pages use the
// local klaviyo.js stand-in even with a real public key (and with the proxy
// on), so that nothing reaches Klaviyo.
func TestDemoLocalSinkNeverLoadsKlaviyo(t *testing.T) {
	m := openMain(t, map[string]string{"SNIPPETD_PUBLIC_KEY": "AbC123", "SNIPPETD_PROXY": "on", "SNIPPETD_ALLOWED_ORIGINS": "http://localhost:8080"})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	for _, path := range []string{"/demo/products/mug", "/demo/mode?to=proxy&back=/demo/products/mug"} {
		resp, err := c.Get(m.Server.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 || strings.Contains(body, "static.klaviyo.com") || strings.Contains(body, `src="/s/k.js"`) || !strings.Contains(body, "/demo/static/klaviyo.js?view=") {
			t.Errorf("%s: %d, want the stand-in and no Klaviyo klaviyo.js:\n%s", path, resp.StatusCode, body)
		}
		if strings.Contains(path, "to=proxy") && !strings.Contains(body, `data-demo-mode="proxy"`) {
			t.Errorf("%s did not switch to proxy mode", path)
		}
	}
}
