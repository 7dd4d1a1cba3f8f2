package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// notAPI are the routes a client does not call: the demo shop's pages,
// which exist only for people trying snippetd in a browser.
var notAPI = regexp.MustCompile(`^/demo(/|$)`)

const wiredToken = "openapi-test-token"

// wiredMain runs the whole server as `snippetd serve` builds it, with the
// proxy on (under a prefix other than the default, so the document must
// follow the setting), the inspector behind a token, the demo on, and
// delivery to the strict fake Klaviyo.
func wiredMain(t *testing.T) *app.Main {
	t.Helper()
	fake := klaviyotest.NewServer(t)
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		io.WriteString(w, "window.__upstream = true;")
	}))
	t.Cleanup(static.Close)
	env := map[string]string{
		"SNIPPETD_PROXY":              "on",
		"SNIPPETD_PROXY_PREFIX":       "/t/",
		"SNIPPETD_PROXY_ANONYMOUS":    "keep",
		"SNIPPETD_ALLOWED_ORIGINS":    "https://shop.example",
		"SNIPPETD_PUBLIC_KEY":         klaviyotest.CompanyID,
		"SNIPPETD_PRIVATE_KEY":        klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL":        fake.URL,
		"SNIPPETD_KLAVIYO_STATIC_URL": static.URL,
		"SNIPPETD_API_TOKEN":          wiredToken,
		"SNIPPETD_DEMO":               "force",
	}
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func servedDoc(t *testing.T, base string) *openapi3.T {
	t.Helper()
	resp, err := http.Get(base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/openapi.json: %d", resp.StatusCode)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served OpenAPI document is invalid: %v", err)
	}
	return doc
}

// TestOpenAPIDescribesTheWiredRouter walks the router of the fully wired
// server and fails on any route (and method) no operation of the served
// document reaches; every operation must reach a route too.
func TestOpenAPIDescribesTheWiredRouter(t *testing.T) {
	m := wiredMain(t)
	router := m.Server.Router()
	doc := servedDoc(t, m.Server.URL())
	type key struct {
		route  *mux.Route
		method string
	}
	covered := map[key]bool{}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			req, _ := http.NewRequest(method, "http://x"+param.ReplaceAllString(path, "p1"), nil)
			var match mux.RouteMatch
			if !router.Match(req, &match) || match.MatchErr != nil {
				t.Errorf("the document describes %s %s, which no route answers", method, path)
				continue
			}
			covered[key{match.Route, method}] = true
		}
	}
	routes := 0
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil || notAPI.MatchString(tpl) {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s has no method matcher, so the document cannot describe it", tpl)
			return nil
		}
		for _, meth := range methods {
			if meth == http.MethodHead {
				continue // HEAD is GET without the body
			}
			routes++
			if !covered[key{route, meth}] {
				t.Errorf("route %s %s is not described in /v1/openapi.json", meth, tpl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The proxy's routes are under the configured prefix, not the default.
	for _, p := range []string{"/t/e", "/t/i", "/t/forget", "/t/k.js"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("the proxy's %s is not in the document", p)
		}
	}
	if doc.Paths.Find("/s/e") != nil {
		t.Error("the document names the default proxy prefix /s/ while the server uses /t/")
	}
	t.Logf("%d routes (method × path) described", routes)
}

func init() {
	for _, ct := range []string{"text/html", "application/javascript", "text/event-stream", "application/xml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// TestOpenAPIResponsesOfTheWiredServer sends real requests to the fully
// wired server and validates each answer against the served document.
func TestOpenAPIResponsesOfTheWiredServer(t *testing.T) {
	m := wiredMain(t)
	base := m.Server.URL()
	doc := servedDoc(t, base)
	doc.Servers = openapi3.Servers{{URL: base}}
	rt, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		route, params, err := rt.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s is not in the document: %v", method, path, err)
			return 0, ""
		}
		resp, err := http.DefaultClient.Do(req)
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
		return resp.StatusCode, string(out)
	}
	bearer := []string{"Authorization", "Bearer " + wiredToken, "Content-Type", "application/json"}
	origin := []string{"Origin", "https://shop.example", "Content-Type", "application/json"}
	order := `{"id":"A1","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"ann@example.com"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":2}],"total":19}`
	products := `[{"id":"p1","name":"Mug","url":"https://shop.example/p1","image_url":"https://shop.example/p1.jpg","description":"A mug","price":9.5}]`
	steps := []struct {
		method, path, body string
		header             []string
		want               int
	}{
		{"GET", "/healthz", "", nil, 200},
		{"GET", "/readyz", "", nil, 200},
		{"POST", "/v1/render/viewed-product", `{"product":{"id":"1","name":"Mug","price":9.5}}`, []string{"Content-Type", "application/json", "Accept", "application/json"}, 200},
		{"POST", "/v1/orders", order, bearer, 202},
		{"POST", "/v1/orders", order, []string{"Content-Type", "application/json"}, 401},
		{"POST", "/v1/orders/A1/fulfilled", `{"tracking":{"number":"1Z"}}`, bearer, 202},
		{"POST", "/v1/orders/A1/refunded", `{"items":[{"product_id":"p1","quantity":1}]}`, bearer, 202},
		{"POST", "/v1/orders/NOPE/cancelled", `{}`, bearer, 404},
		{"PUT", "/v1/catalog/products", products, bearer, 200},
		{"PATCH", "/v1/catalog/products", `[{"id":"p2"}]`, bearer, 422},
		{"GET", "/v1/catalog/problems", "", bearer, 200},
		{"GET", "/catalog/index.json", "", nil, 200},
		{"GET", "/catalog.json", "", nil, 200},
		{"GET", "/catalog.xml", "", nil, 200},
		{"GET", "/catalog.json?part=9", "", nil, 404},
		{"POST", "/t/e", `{"events":[{"metric":"Viewed Product","properties":{"ProductID":"p1"}}]}`, origin, 202},
		{"POST", "/t/i", `{"email":"ann@example.com"}`, origin, 202},
		{"POST", "/t/e", `{"events":[]}`, []string{"Origin", "https://evil.example", "Content-Type", "application/json"}, 403},
		{"OPTIONS", "/t/e", "", []string{"Origin", "https://shop.example", "Access-Control-Request-Method", "POST"}, 204},
		{"POST", "/t/forget", "", origin, 204},
		{"GET", "/t/k.js", "", nil, 200},
		{"GET", "/metrics", "", nil, 200},
		{"GET", "/v1/openapi.json", "", nil, 200},
	}
	for _, st := range steps {
		if got, body := send(st.method, st.path, st.body, st.header...); got != st.want {
			t.Errorf("%s %s: %d %s; want %d", st.method, st.path, got, body, st.want)
		}
	}
	inspector := []string{"Authorization", "Bearer " + wiredToken, "Accept", "application/json"}
	got, body := send("GET", "/debug/events", "", inspector...)
	var list struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if got != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Events) == 0 {
		t.Fatalf("GET /debug/events: %d %s; want the events just sent", got, body)
	}
	if got, body := send("GET", "/debug/events/"+list.Events[0].ID, "", inspector...); got != 200 {
		t.Errorf("GET /debug/events/%s: %d %s", list.Events[0].ID, got, body)
	}
	if got, _ := send("GET", "/debug/events", "", "Accept", "application/json"); got != 401 {
		t.Errorf("GET /debug/events without the token: %d, want 401", got)
	}
}
