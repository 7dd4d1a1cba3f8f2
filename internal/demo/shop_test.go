package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/web"
)

var (
	helpersOnce sync.Once
	helpers     *web.Helpers
	helpersErr  error
)

// testHelpers builds the browser helper once per test binary.
func testHelpers(t *testing.T) *web.Helpers {
	t.Helper()
	helpersOnce.Do(func() { helpers, helpersErr = web.Embedded() })
	if helpersErr != nil {
		t.Fatal(helpersErr)
	}
	return helpers
}

// fakeOrders keeps placed orders in memory, or fails every placement
// with err.
type fakeOrders struct {
	err    error
	placed map[string]shop.Order
}

func (f *fakeOrders) PlaceOrder(_ context.Context, o shop.Order) error {
	if f.err != nil {
		return f.err
	}
	f.placed[o.ID] = o
	return nil
}

func (f *fakeOrders) Order(_ context.Context, id string) (shop.Order, bool, error) {
	o, ok := f.placed[id]
	return o, ok, nil
}

type recorded struct {
	view   string
	pushes []string
}

type recorder struct{ got []recorded }

func (r *recorder) RecordRender(view string, pushes []json.RawMessage) {
	var ps []string
	for _, p := range pushes {
		ps = append(ps, string(p))
	}
	r.got = append(r.got, recorded{view, ps})
}

type observer struct{ got []string }

func (o *observer) ObserveRender(snippet string, status int, _ time.Duration) {
	o.got = append(o.got, snippet+" "+http.StatusText(status))
}

func serve(h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type errBody struct {
	Status               int
	Code, Message, Field string
}

func errorOf(rec *httptest.ResponseRecorder) errBody {
	var e struct {
		Error struct{ Code, Message, Field string }
	}
	json.Unmarshal(rec.Body.Bytes(), &e)
	return errBody{rec.Code, e.Error.Code, e.Error.Message, e.Error.Field}
}

// TestShopRoutes: the shop answers paths and methods it has no route for
// with the API's JSON errors, and routes on the decoded path.
func TestShopRoutes(t *testing.T) {
	s := demo.New(demo.Options{Helpers: testHelpers(t), PublicKey: demo.PublicKey})
	for _, c := range []struct {
		method, path string
		want         errBody
	}{
		{"POST", "/demo/", errBody{405, "method_not_allowed", "POST is not allowed here", ""}},
		{"HEAD", "/demo/mode", errBody{405, "method_not_allowed", "", ""}},
		{"GET", "/demo/cart/add", errBody{405, "method_not_allowed", "GET is not allowed here", ""}},
		{"GET", "/demo/xyz", errBody{404, "not_found", "no route for /demo/xyz", ""}},
		{"GET", "/demo/cart/", errBody{404, "not_found", "no route for /demo/cart/", ""}},
		{"GET", "/demo/static/a%2Fb", errBody{404, "not_found", "no route for /demo/static/a/b", ""}},
		{"POST", "/demo/onsite", errBody{404, "not_found", "no route for /demo/onsite", ""}},
		{"GET", "/demo/products/nope", errBody{404, "not_found", `no product "nope"`, ""}},
		{"GET", "/demo/mode?to=proxy", errBody{422, "invalid", "the first-party proxy is off: start snippetd with SNIPPETD_PROXY=on", "to"}},
	} {
		got := errorOf(serve(s, c.method, c.path, ""))
		if c.method == "HEAD" {
			got.Code, got.Message = c.want.Code, ""
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.method, c.path, d)
		}
	}
	if rec := serve(s, "GET", "/demo", ""); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/demo/" {
		t.Errorf("GET /demo = %d to %q, want 301 to /demo/", rec.Code, rec.Header().Get("Location"))
	}
	if rec := serve(demo.New(demo.Options{}), "GET", "/demo/", ""); errorOf(rec).Code != "unavailable" || rec.Code != 503 {
		t.Errorf("without the helper: %d %s", rec.Code, rec.Body)
	}
	reports := demo.New(demo.Options{Reports: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })})
	if rec := serve(reports, "POST", "/demo/onsite", "{}"); rec.Code != http.StatusTeapot {
		t.Errorf("POST /demo/onsite = %d, want the Reports handler's answer", rec.Code)
	}
}

// TestShopRecordsWhatItRenders: a product page in direct mode hands its
// Viewed Product pushes, under the page's view, to Rendered and counts the
// render; in proxy mode it renders no pushes.
func TestShopRecordsWhatItRenders(t *testing.T) {
	rec, obs := &recorder{}, &observer{}
	s := demo.New(demo.Options{Helpers: testHelpers(t), PublicKey: demo.PublicKey, ProxyPrefix: "/s/", Rendered: rec, Renders: obs})
	page := serve(s, "GET", "/demo/products/mug", "")
	if page.Code != 200 || len(rec.got) != 1 {
		t.Fatalf("product page %d, recorded %+v", page.Code, rec.got)
	}
	if !strings.Contains(page.Body.String(), "/demo/static/klaviyo.js?view="+rec.got[0].view) {
		t.Errorf("the page's stand-in is not told view %q", rec.got[0].view)
	}
	if len(rec.got[0].pushes) != 2 || !strings.Contains(rec.got[0].pushes[0], `"Viewed Product"`) || !strings.Contains(rec.got[0].pushes[1], "trackViewedItem") {
		t.Errorf("recorded pushes %q", rec.got[0].pushes)
	}
	if d := cmp.Diff([]string{"viewed-product OK"}, obs.got); d != "" {
		t.Errorf("observed renders (-want +got):\n%s", d)
	}
	proxied := serve(s, "GET", "/demo/products/mug", "", "Cookie", "snippetd_demo_mode=proxy")
	if proxied.Code != 200 || len(rec.got) != 1 || strings.Contains(proxied.Body.String(), `"Viewed Product"`) {
		t.Errorf("proxy mode: %d, recorded %d renders", proxied.Code, len(rec.got))
	}
}

// TestShopCheckout: the order reaches Orders with the cart's lines; an
// error the shopper can fix is shown on the form, others are JSON errors.
func TestShopCheckout(t *testing.T) {
	form := url.Values{"email": {"ann@example.com"}, "first_name": {"Ann"}}.Encode()
	hdr := []string{"Content-Type", "application/x-www-form-urlencoded", "Cookie", "snippetd_demo_cart=mug:2"}
	orders := &fakeOrders{placed: map[string]shop.Order{}}
	s := demo.New(demo.Options{Helpers: testHelpers(t), PublicKey: demo.PublicKey, Orders: orders})
	rec := serve(s, "POST", "/demo/checkout", form, hdr...)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/demo/orders/LK-") {
		t.Fatalf("place order = %d to %q", rec.Code, loc)
	}
	o := orders.placed[strings.TrimPrefix(loc, "/demo/orders/")]
	if o.Customer.Email != "ann@example.com" || len(o.Items) != 1 || o.Items[0].Quantity != 2 || o.Items[0].Product.ID != "mug" {
		t.Errorf("placed %+v", o)
	}
	if rec := serve(s, "GET", loc, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Thank you") {
		t.Errorf("confirmation = %d", rec.Code)
	}
	if rec := serve(s, "GET", "/demo/orders/LK-NONE", ""); rec.Code != 404 {
		t.Errorf("unknown order = %d", rec.Code)
	}

	var logs bytes.Buffer
	for _, c := range []struct {
		name     string
		err      error
		status   int
		contains string
	}{
		{"field error", &shop.FieldError{Field: "customer.email", Message: "is too long"}, 422, "is too long (customer.email)"},
		{"invalid", &demo.Error{Status: 422, Code: "invalid", Field: "items[0].price", Message: "must not be negative"}, 422, "must not be negative (items[0].price)"},
		{"conflict", &demo.Error{Status: 409, Code: "conflict", Field: "id", Message: "already placed"}, 409, `{"error":{"code":"conflict","message":"already placed","field":"id"}}`},
		{"internal", errors.New("disk on fire"), 500, `{"error":{"code":"internal","message":"internal error"}}`},
	} {
		s := demo.New(demo.Options{Helpers: testHelpers(t), PublicKey: demo.PublicKey, Orders: &fakeOrders{err: c.err}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		rec := serve(s, "POST", "/demo/checkout", form, hdr...)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.contains) {
			t.Errorf("%s: %d, want %d with %q:\n%s", c.name, rec.Code, c.status, c.contains, rec.Body)
		}
	}
	if strings.Count(logs.String(), "internal error") != 1 || !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("want exactly the internal error logged, got:\n%s", logs.String())
	}
}

// TestCartChangeAnswersJSONOnlyWhenPreferred: shop.js asks for JSON and
// gets the count; a form posted without JavaScript is redirected to the
// cart. The Accept rule is the API's.
func TestCartChangeAnswersJSONOnlyWhenPreferred(t *testing.T) {
	s := demo.New(demo.Options{})
	for accept, want := range map[string]bool{
		"":    false,
		"*/*": false,
		"text/html,application/xhtml+xml,*/*;q=0.8": false,
		"application/json":                          true,
		"application/json;q=0":                      false,
		"text/html, application/json":               false,
		"application/json, text/html":               true,
		"text/html;q=0.1, application/json;q=.9":    true,
		"application/json;q=0.2, text/html":         false,
	} {
		rec := serve(s, "POST", "/demo/cart/add", "id=mug&quantity=2", "Content-Type", "application/x-www-form-urlencoded", "Cookie", "snippetd_demo_cart=mug:1,kettle:1", "Accept", accept)
		switch {
		case want && (rec.Code != 200 || rec.Body.String() != "{\"count\":4}\n"):
			t.Errorf("Accept %q: %d %q, want the count as JSON", accept, rec.Code, rec.Body)
		case !want && (rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/demo/cart"):
			t.Errorf("Accept %q: %d to %q, want a redirect to the cart", accept, rec.Code, rec.Header().Get("Location"))
		}
		if c := rec.Header().Get("Set-Cookie"); !strings.Contains(c, "mug:3,kettle:1") {
			t.Errorf("Accept %q: Set-Cookie %q", accept, c)
		}
	}
}
