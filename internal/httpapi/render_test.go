package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/render"
)

const cart = `{"id":"1000123","checkout_url":"http://www.example.com/path/to/checkout","items":[
 {"product":{"id":"1111","sku":"WINNIEPOOH","name":"Winnie the Pooh","categories":["Fiction","Children"],"price":9.99},"quantity":1},
 {"product":{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","categories":["Fiction","Classics"],"price":19.99},"quantity":1}]}`

const added = `{"product":{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","categories":["Fiction","Classics"],"price":19.99},"quantity":1}`

var bodies = map[string]string{
	render.Loader:          `{}`,
	render.ViewedProduct:   `{"product":{"id":"1","name":"Mug </script><!-- \u2028 🛒","brand":"Acme","price":12.5}}`,
	render.AddedToCart:     `{"cart":` + cart + `,"added":` + added + `}`,
	render.StartedCheckout: `{"cart":` + cart + `}`,
	render.Identify:        `{"customer":{"email":"shopper@example.com"}}`,
	render.ViewedCategory:  `{"category":{"id":"mugs","name":"Mugs </script>","product_ids":["1"]}}`,
	render.SearchedSite:    `{"search":{"term":"mug <!--","results_count":1,"product_ids":["1"]}}`,
}

func init() {
	// Partials are text; validate them as strings.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

var clock = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// openServer starts a real Server on a free local port.
func openServer(t *testing.T) *httpapi.Server {
	t.Helper()
	s := httpapi.NewServer()
	s.Addr = "127.0.0.1:0"
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s.PublicKey = "AbC123"
	s.MaxBodyBytes = 64 << 10
	s.Now = func() time.Time { return clock }
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// validator checks requests and responses against the served OpenAPI
// document.
type validator struct {
	router routers.Router
}

func newValidator(t *testing.T, s *httpapi.Server) *validator {
	t.Helper()
	doc := loadDoc(t, s)
	doc.Servers = openapi3.Servers{{URL: s.URL()}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{router: r}
}

func loadDoc(t *testing.T, s *httpapi.Server) *openapi3.T {
	t.Helper()
	resp, err := http.Get(s.URL() + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	return doc
}

// do sends a request, validates request and response against the OpenAPI
// document, and returns status, headers and body.
func (v *validator) do(t *testing.T, req *http.Request, body string) (int, http.Header, string) {
	t.Helper()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true},
	}
	rv := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(out)),
	}
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v", req.Method, req.URL, resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, string(out)
}

func newRequest(t *testing.T, method, url, body string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// TestRenderHTTP renders every snippet over HTTP in both forms and checks
// them against the renderer and each other.
func TestRenderHTTP(t *testing.T) {
	s := openServer(t)
	v := newValidator(t, s)
	rd := render.Renderer{PublicKey: "AbC123", Now: func() time.Time { return clock }}
	for _, name := range render.Names {
		t.Run(name, func(t *testing.T) {
			want, err := rd.Render(context.Background(), name, []byte(bodies[name]))
			if err != nil {
				t.Fatal(err)
			}
			status, h, html := v.do(t, newRequest(t, "POST", s.URL()+"/v1/render/"+name, bodies[name]), bodies[name])
			if status != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("status %d, Content-Type %q: %s", status, h.Get("Content-Type"), html)
			}
			if diff := cmp.Diff(string(want.HTML), html); diff != "" {
				t.Errorf("html (-want +got):\n%s", diff)
			}

			status, h, js := v.do(t, newRequest(t, "POST", s.URL()+"/v1/render/"+name, bodies[name], "Accept", "application/json"), bodies[name])
			if status != 200 || h.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q: %s", status, h.Get("Content-Type"), js)
			}
			var got struct {
				HTML   string            `json:"html"`
				Pushes []json.RawMessage `json:"pushes"`
			}
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatal(err)
			}
			if got.HTML != html {
				t.Errorf("JSON html differs from the text/html answer:\n%s\n%s", got.HTML, html)
			}
			var gotPushes, wantPushes []string
			for _, p := range got.Pushes {
				gotPushes = append(gotPushes, string(p))
			}
			for _, p := range want.Pushes {
				wantPushes = append(wantPushes, string(p))
			}
			if diff := cmp.Diff(wantPushes, gotPushes); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderHTTPNonceAndBatch(t *testing.T) {
	s := openServer(t)
	v := newValidator(t, s)
	status, _, html := v.do(t, newRequest(t, "POST", s.URL()+"/v1/render/loader?nonce=abc%2B1", `{}`), `{}`)
	if status != 200 || strings.Count(html, `nonce="abc+1"`) != 2 {
		t.Errorf("status %d, want both scripts with the nonce:\n%s", status, html)
	}
	batch := `{"snippets":[{"type":"loader"},{"type":"identify","customer":{"email":"shopper@example.com"}}]}`
	status, _, js := v.do(t, newRequest(t, "POST", s.URL()+"/v1/render?nonce=n2", batch, "Accept", "text/html;q=0.5, application/json"), batch)
	var got struct {
		HTML   string
		Pushes []json.RawMessage
	}
	if err := json.Unmarshal([]byte(js), &got); status != 200 || err != nil {
		t.Fatalf("status %d %v: %s", status, err, js)
	}
	if strings.Count(got.HTML, `nonce="n2"`) != 3 || len(got.Pushes) != 1 || !strings.HasPrefix(string(got.Pushes[0]), `["identify",`) {
		t.Errorf("batch answer %s", js)
	}
}

// TestRenderHTTPErrors checks status, code and field of every kind of
// error over HTTP.
func TestRenderHTTPErrors(t *testing.T) {
	s := openServer(t)
	v := newValidator(t, s)
	big := `{"product":{"id":"1","name":"` + strings.Repeat("x", 70<<10) + `","price":1}}`
	tests := []struct {
		name, path, body string
		header           []string
		status           int
		code, field      string
	}{
		{"unknown snippet", "/v1/render/checkout", `{}`, nil, 404, "not_found", ""},
		{"wrong content type", "/v1/render/identify", `{}`, []string{"Content-Type", "text/plain"}, 415, "unsupported", ""},
		{"too large", "/v1/render/viewed-product", big, nil, 413, "too_large", ""},
		{"invalid UTF-8", "/v1/render/viewed-product", "{\"product\":{\"id\":\"1\",\"name\":\"\xc3\x28\",\"price\":1}}", nil, 400, "bad_request", ""},
		{"malformed JSON", "/v1/render/identify", `{"customer":`, nil, 400, "bad_request", "customer"},
		{"unknown field", "/v1/render/identify", `{"customer":{"email":"a@b","age":3}}`, nil, 400, "bad_request", "customer.age"},
		{"negative price", "/v1/render/viewed-product", `{"product":{"id":"1","name":"n","price":-1}}`, nil, 422, "invalid", "product.price"},
		{"quantity 0", "/v1/render/added-to-cart", `{"cart":` + strings.Replace(cart, `"quantity":1`, `"quantity":0`, 1) + `,"added":` + added + `}`, nil, 422, "invalid", "cart.items[0].quantity"},
		{"added not in cart", "/v1/render/added-to-cart", `{"cart":` + cart + `,"added":` + strings.Replace(added, `"1112"`, `"7"`, 1) + `}`, nil, 422, "invalid", "added"},
		{"missing cart id", "/v1/render/started-checkout", `{"cart":` + strings.Replace(cart, `"id":"1000123",`, ``, 1) + `}`, nil, 422, "invalid", "cart.id"},
		{"missing customer id", "/v1/render/identify", `{"customer":{"first_name":"Ada"}}`, nil, 422, "invalid", "customer"},
		{"long nonce", "/v1/render/loader?nonce=" + strings.Repeat("n", 300), `{}`, nil, 422, "invalid", "nonce"},
		{"batch item", "/v1/render", `{"snippets":[{"type":"viewed-product","product":{"id":"","name":"n","price":1}}]}`, nil, 422, "invalid", "snippets[0].product.id"},
		{"batch empty", "/v1/render", `{"snippets":[]}`, nil, 422, "invalid", "snippets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := v.do(t, newRequest(t, "POST", s.URL()+tt.path, tt.body, tt.header...), tt.body)
			if status != tt.status || h.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d %q, want %d application/json: %s", status, h.Get("Content-Type"), tt.status, body)
			}
			var e httpx.ErrorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatal(err)
			}
			if e.Error.Code != tt.code || e.Error.Field != tt.field || e.Error.Message == "" {
				t.Errorf("error %+v, want code %q field %q", e.Error, tt.code, tt.field)
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	s := openServer(t)
	for accept, want := range map[string]bool{
		"":                                       false,
		"*/*":                                    false,
		"text/html":                              false,
		"application/json":                       true,
		"application/json;q=0":                   false,
		"text/html, application/json":            false,
		"application/json, text/html":            true,
		"text/html;q=0.1, application/json;q=.9": true,
		"application/json;q=0.2, text/html":      false,
	} {
		req := newRequest(t, "POST", s.URL()+"/v1/render/identify", bodies[render.Identify], "Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Type") == "application/json"; got != want {
			t.Errorf("Accept %q: JSON = %v, want %v", accept, got, want)
		}
	}
}

// TestOpenAPIDescribesEveryRoute checks both ways that the served OpenAPI
// document and the router agree for the routes it owns: every render,
// OpenAPI and health route is described with its methods, and every
// described operation reaches a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := openServer(t)
	doc := loadDoc(t, s)
	described := map[string]bool{}
	var docPaths []string
	for path, item := range doc.Paths.Map() {
		docPaths = append(docPaths, path)
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	owned := regexp.MustCompile(`^/(v1/render|v1/openapi\.json|healthz|readyz)`)
	n := 0
	err := s.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil || !owned.MatchString(tpl) {
			return nil
		}
		methods, _ := route.GetMethods()
		pattern := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tpl), `[^/]+`) + "$")
		for _, m := range methods {
			if m == "HEAD" {
				continue
			}
			n++
			found := false
			for _, p := range docPaths {
				found = found || (pattern.MatchString(p) && described[m+" "+p])
			}
			if !found {
				t.Errorf("route %s %s is not described in the OpenAPI document", m, tpl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("walked only %d owned routes", n)
	}
	for op := range described {
		method, path, _ := strings.Cut(op, " ")
		req, _ := http.NewRequest(method, s.URL()+strings.ReplaceAll(path, "{snippet}", "x"), nil)
		var match mux.RouteMatch
		if !s.Router().Match(req, &match) || match.MatchErr != nil {
			t.Errorf("described operation %s has no route", op)
		}
	}
}
