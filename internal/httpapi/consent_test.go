package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// TestConsentRoutesMatchTheDocument sends the consent routes' requests,
// good and bad, to the wired server: each answer has the status the
// document names and matches its schema, and a refusal names the field.
func TestConsentRoutesMatchTheDocument(t *testing.T) {
	m := wiredMain(t)
	base := m.Server.URL()
	doc := servedDoc(t, base)
	doc.Servers = openapi3.Servers{{URL: base}}
	rt, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	bearer := []string{"Authorization", "Bearer " + wiredToken, "Content-Type", "application/json"}
	origin := []string{"Origin", "https://shop.example", "Content-Type", "application/json"}
	for _, c := range []struct {
		path, body string
		header     []string
		want       int
		field      string
	}{
		{"/v1/subscriptions", `{"email":"a@example.com","channels":{"email":true}}`, bearer, 202, ""},
		{"/v1/subscriptions", `[{"email":"a@example.com","channels":{"email":true}},{"phone_number":"+16175550100","channels":{"sms":true},"list_id":"AbC123"}]`, bearer, 202, ""},
		{"/v1/subscriptions", `{"email":"a@example.com","channels":{"email":true},"historical_import":true,"consented_at":"2024-01-01T00:00:00Z"}`, bearer, 202, ""},
		{"/v1/subscriptions", `{"email":"a@example.com","channels":{"email":true}}`, []string{"Content-Type", "application/json"}, 401, ""},
		{"/v1/subscriptions", `{"email":"a@example.com"}`, bearer, 422, "channels"},
		{"/v1/subscriptions", `{"email":"a@example.com","channels":{"email":true},"historical_import":true}`, bearer, 422, "consented_at"},
		{"/v1/subscriptions", `{"email":"a@example.com","channels":{"email":true},"lists":["x"]}`, bearer, 400, "lists"},
		{"/v1/unsubscriptions", `{"email":"a@example.com","channels":{"email":true}}`, bearer, 202, ""},
		{"/v1/unsubscriptions", `{"phone_number":"nope","channels":{"sms":true}}`, bearer, 422, "phone_number"},
		{"/v1/profiles", `{"email":"a@example.com","first_name":"Ann","properties":{"plan":"gold"}}`, bearer, 202, ""},
		{"/v1/profiles", `{"first_name":"Ann"}`, bearer, 422, "email"},
		{"/v1/back-in-stock", `{"variant_id":"v1","email":"a@example.com"}`, bearer, 202, ""},
		{"/v1/back-in-stock", `{"email":"a@example.com"}`, bearer, 422, "variant_id"},
		{"/v1/profiles/erase", `{"email":"a@example.com"}`, bearer, 200, ""},
		{"/v1/profiles/erase", `{"email":"a@"}`, bearer, 422, "email"},
		{"/t/subscribe", `{"email":"b@example.com"}`, origin, 202, ""},
		{"/t/subscribe", `{"email":"b@example.com","list_id":"AbC123"}`, origin, 400, "list_id"},
		{"/t/back-in-stock", `{"variant_id":"v1","phone_number":"+16175550100"}`, origin, 202, ""},
	} {
		req, _ := http.NewRequest("POST", base+c.path, strings.NewReader(c.body))
		for i := 0; i+1 < len(c.header); i += 2 {
			req.Header.Set(c.header[i], c.header[i+1])
		}
		route, params, err := rt.FindRoute(req)
		if err != nil {
			t.Errorf("POST %s is not in the document: %v", c.path, err)
			continue
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
			t.Errorf("POST %s: the %d answer does not match the document: %v\n%s", c.path, resp.StatusCode, err, out)
		}
		if resp.StatusCode != c.want || c.field != "" && !strings.Contains(string(out), `"field":"`+c.field+`"`) {
			t.Errorf("POST %s %s: %d %s; want %d naming %q", c.path, c.body, resp.StatusCode, out, c.want, c.field)
		}
	}
}
