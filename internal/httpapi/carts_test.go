package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/metrics"
	"github.com/snippetd/snippetd/proxy"
	"golang.org/x/time/rate"
)

const cartsToken = "carts-test-token"

// cartServer is a Server with cart restore links on a fresh SQLite
// database, a movable clock and a limit of burst restore visits per IP.
type cartServer struct {
	s   *httpapi.Server
	svc *carts.Service
	mu  sync.Mutex
	now time.Time
}

func (c *cartServer) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *cartServer) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newCartServer(t testing.TB, mode carts.Mode, burst int) *cartServer {
	t.Helper()
	cs := &cartServer{now: time.Unix(1_790_000_000, 0)}
	tmpl, err := carts.ParseTemplate("https://shop.example/cart/restore?items={items}&cart={cart_id}&utm_source=klaviyo")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := carts.Open(context.Background(), dbtest.SQLite(t), carts.Options{PublicURL: "https://t.shop.example", Template: tmpl, Mode: mode, TTL: 24 * time.Hour, Now: cs.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	s := httpapi.NewServer()
	s.APIToken = cartsToken
	s.Metrics = metrics.New(nil)
	s.CartRestore = httpapi.CartRestore{Carts: svc}
	if burst > 0 {
		s.CartRestore.Limiter = &proxy.Limiter{Rate: rate.Limit(0.001), Burst: burst, Max: 1000, Idle: time.Hour}
	}
	cs.s, cs.svc = s, svc
	return cs
}

func (c *cartServer) do(method, target, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	c.s.ServeHTTP(rec, req)
	return rec
}

var bearerJSON = []string{"Authorization", "Bearer " + cartsToken, "Content-Type", "application/json"}

func restoreToken(t testing.TB, link string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(link, "https://t.shop.example/r/")
	if !ok {
		t.Fatalf("restore link %q", link)
	}
	return tok
}

func TestCartPutAndRestore(t *testing.T) {
	c := newCartServer(t, carts.Missing, 0)
	rec := c.do("PUT", "/v1/carts/cart-9", `{"items":[{"product":{"id":"a&b","name":"A","price":5},"quantity":2},{"product":{"id":"mug","name":"Mug","price":9.5},"quantity":1}]}`, bearerJSON...)
	if rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	var link httpapi.CartLink
	json.Unmarshal(rec.Body.Bytes(), &link)
	tok := restoreToken(t, link.RestoreURL)

	rec = c.do("GET", "/r/"+tok+"?utm_campaign=ab&_kx=K", "")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("GET /r/: %d %s", rec.Code, rec.Body)
	}
	want := "https://shop.example/cart/restore?items=a%2526b:2,mug:1&cart=cart-9&utm_source=klaviyo&utm_campaign=ab&_kx=K"
	if got := rec.Header().Get("Location"); got != want {
		t.Errorf("Location %s\nwant     %s", got, want)
	}

	rec = c.do("GET", "/v1/carts/restore/"+tok, "", bearerJSON...)
	var v carts.Version
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil || v.CartID != "cart-9" || len(v.Items) != 2 || v.Items[0].Product.ID != "a&b" || v.Items[0].Quantity != 2 {
		t.Errorf("GET /v1/carts/restore: %d %s", rec.Code, rec.Body)
	}
	if rec := c.do("GET", "/v1/carts/restore/"+tok, ""); rec.Code != 401 {
		t.Errorf("restore lines without the token: %d", rec.Code)
	}

	// Tampered: a small page linking home, 404, no redirect.
	bad := tok[:5] + string(tok[5]^1) + tok[6:]
	rec = c.do("GET", "/r/"+bad, "")
	if rec.Code != 404 || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), `href="https://shop.example/"`) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("tampered: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := c.do("GET", "/v1/carts/restore/"+bad, "", bearerJSON...); rec.Code != 404 {
		t.Errorf("tampered lines: %d", rec.Code)
	}
	// Expired: 410.
	c.add(25 * time.Hour)
	rec = c.do("GET", "/r/"+tok, "")
	if rec.Code != 410 || !strings.Contains(rec.Body.String(), `href="https://shop.example/"`) {
		t.Errorf("expired: %d %s", rec.Code, rec.Body)
	}
	if rec := c.do("GET", "/v1/carts/restore/"+tok, "", bearerJSON...); rec.Code != 410 {
		t.Errorf("expired lines: %d %s", rec.Code, rec.Body)
	}
	for outcome, want := range map[string]float64{"restored": 1, "invalid": 1, "expired": 1} {
		if got := counter(t, c.s.Metrics, outcome); got != want {
			t.Errorf("snippetd_cart_restores_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// counter reads one outcome of snippetd_cart_restores_total.
func counter(t testing.TB, m *metrics.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "snippetd_cart_restores_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if mt.GetLabel()[0].GetValue() == outcome {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func TestCartPutRefuses(t *testing.T) {
	c := newCartServer(t, carts.Missing, 0)
	for _, tt := range []struct{ path, body, field string }{
		{"/v1/carts/c1", `{}`, "items"},
		{"/v1/carts/c1", `{"items":[]}`, "items"},
		{"/v1/carts/c1", `{"items":[{"product":{"id":"","name":"A"},"quantity":1}]}`, "items[0].product.id"},
		{"/v1/carts/c1", `{"items":[{"product":{"id":"p","name":"A","price":1},"quantity":0}]}`, "items[0].quantity"},
		{"/v1/carts/" + strings.Repeat("x", 256), `{"items":[{"product":{"id":"p","name":"A"},"quantity":1}]}`, "id"},
	} {
		rec := c.do("PUT", tt.path, tt.body, bearerJSON...)
		var e struct {
			Error struct{ Field string } `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 422 || e.Error.Field != tt.field {
			t.Errorf("%s: %d %s, want 422 naming %s", tt.body, rec.Code, rec.Body, tt.field)
		}
	}
}

// TestRenderGivesRestoreLink renders Added to Cart without a
// checkout_url: its push carries a restore link that restores the cart;
// one with the shop's own URL keeps it.
func TestRenderGivesRestoreLink(t *testing.T) {
	c := newCartServer(t, carts.Missing, 0)
	body := `{"cart":{"id":"c-1","items":[{"product":{"id":"kettle","name":"Kettle","price":30},"quantity":2}]},"added":{"product":{"id":"kettle","name":"Kettle","price":30},"quantity":2}}`
	rec := c.do("POST", "/v1/render/added-to-cart", body, "Content-Type", "application/json", "Accept", "application/json")
	if rec.Code != 200 {
		t.Fatalf("render: %d %s", rec.Code, rec.Body)
	}
	var res struct{ Pushes [][]any }
	json.Unmarshal(rec.Body.Bytes(), &res)
	props := res.Pushes[0][2].(map[string]any)
	link, _ := props["CheckoutURL"].(string)
	tok := restoreToken(t, link)
	rec = c.do("GET", "/r/"+tok, "")
	if loc := rec.Header().Get("Location"); rec.Code != 303 || !strings.Contains(loc, "items=kettle:2&cart=c-1&") {
		t.Errorf("restore: %d %s", rec.Code, loc)
	}

	own := strings.Replace(body, `"id":"c-1",`, `"id":"c-1","checkout_url":"https://shop.example/checkout",`, 1)
	rec = c.do("POST", "/v1/render/added-to-cart", own, "Content-Type", "application/json", "Accept", "application/json")
	if !strings.Contains(rec.Body.String(), `"CheckoutURL":"https://shop.example/checkout"`) {
		t.Errorf("the shop's checkout_url was replaced: %s", rec.Body)
	}
}

// TestRestoreRateLimited: past the burst, a client gets 429 (with
// Retry-After) for valid and guessed tokens alike; another client does
// not.
func TestRestoreRateLimited(t *testing.T) {
	c := newCartServer(t, carts.Missing, 3)
	for i := range 5 {
		req := httptest.NewRequest("GET", "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil)
		req.RemoteAddr = "192.0.2.7:1234"
		rec := httptest.NewRecorder()
		c.s.ServeHTTP(rec, req)
		want := 404
		if i >= 3 {
			want = 429
		}
		if rec.Code != want || (want == 429 && rec.Header().Get("Retry-After") == "") {
			t.Errorf("visit %d: %d %v, want %d", i, rec.Code, rec.Header(), want)
		}
	}
	req := httptest.NewRequest("GET", "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil)
	req.RemoteAddr = "192.0.2.8:1234"
	rec := httptest.NewRecorder()
	c.s.ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("another client: %d", rec.Code)
	}
}

// TestCartRoutesMatchOpenAPI checks the carts routes' answers against the
// served document.
func TestCartRoutesMatchOpenAPI(t *testing.T) {
	c := newCartServer(t, carts.Missing, 0)
	srv := httptest.NewServer(c.s)
	defer srv.Close()
	doc := servedDoc(t, srv.URL)
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	rt, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, body string, header ...string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		route, params, err := rt.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not in the document: %v", method, path, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(out))}
		if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
			t.Errorf("%s %s: the %d answer does not match the document: %v\n%s", method, path, resp.StatusCode, err, out)
		}
		return resp.StatusCode, out
	}
	code, out := send("PUT", "/v1/carts/c%201", `{"items":[{"product":{"id":"p","name":"P","price":1},"quantity":3}]}`, bearerJSON...)
	var link httpapi.CartLink
	if code != 200 || json.Unmarshal(out, &link) != nil {
		t.Fatalf("PUT: %d %s", code, out)
	}
	tok := restoreToken(t, link.RestoreURL)
	steps := []struct {
		method, path string
		header       []string
		want         int
	}{
		{"GET", "/r/" + tok, nil, 303},
		{"GET", "/r/nope", nil, 404},
		{"GET", "/v1/carts/restore/" + tok, bearerJSON, 200},
		{"GET", "/v1/carts/restore/nope", bearerJSON, 404},
		{"GET", "/v1/carts/restore/" + tok, nil, 401},
	}
	for _, st := range steps {
		if got, body := send(st.method, st.path, "", st.header...); got != st.want {
			t.Errorf("%s %s: %d %s; want %d", st.method, st.path, got, body, st.want)
		}
	}
	c.add(25 * time.Hour)
	if got, _ := send("GET", "/r/"+tok, ""); got != 410 {
		t.Errorf("expired: %d", got)
	}
	if got, _ := send("GET", "/v1/carts/restore/"+tok, "", bearerJSON...); got != 410 {
		t.Errorf("expired lines: %d", got)
	}
	if got, body := send("PUT", "/v1/carts/c1", `{"items":[]}`, bearerJSON...); got != 422 {
		t.Errorf("bad PUT: %d %s", got, body)
	}
}

// TestCartsOff: without a carts service the routes answer 404 saying how
// to turn them on.
func TestCartsOff(t *testing.T) {
	s := httpapi.NewServer()
	s.APIToken = cartsToken
	for _, p := range []string{"/r/AAAA", "/v1/carts/restore/AAAA"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("Authorization", "Bearer "+cartsToken)
		s.ServeHTTP(rec, req)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), "SNIPPETD_PUBLIC_URL") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
}

// BenchmarkRestoreRedirect measures GET /r/{token} through the server's
// router (verify the MAC, read the version, expand the template) against
// a static 303 handler in the same run: the floor a redirect costs in
// net/http. docs/benchmarks.md has the command and figures.
func BenchmarkRestoreRedirect(b *testing.B) {
	c := newCartServer(b, carts.Missing, 0)
	rec := c.do("PUT", "/v1/carts/cart-1", `{"items":[{"product":{"id":"kettle","name":"Kettle","price":30},"quantity":1},{"product":{"id":"mug","name":"Mug","price":9.5},"quantity":2}]}`, bearerJSON...)
	var link httpapi.CartLink
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &link) != nil {
		b.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	target := "/r/" + restoreToken(b, link.RestoreURL) + "?utm_source=klaviyo&_kx=abc"
	static := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://shop.example/cart/restore?items=kettle:1,mug:2&cart=cart-1&utm_source=klaviyo", http.StatusSeeOther)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"static-303", static}, {"restore", c.s}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					bc.h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
					if rec.Code != http.StatusSeeOther {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redirects/s")
		})
	}
}
