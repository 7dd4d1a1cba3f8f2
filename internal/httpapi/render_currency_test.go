package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/httpx"
)

// renderJSON posts body to /v1/render/{name} (a batch when name is "") of a server whose shop
// currency is currency and returns the status and the decoded answer.
func renderJSON(t *testing.T, currency, name, body string) (int, []json.RawMessage, httpx.ErrorBody) {
	t.Helper()
	s := httpapi.NewServer()
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s.Now = func() time.Time { return clock }
	s.Currency = currency
	path := "/v1/render" // a batch
	if name != "" {
		path += "/" + name
	}
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var ok struct {
		Pushes []json.RawMessage `json:"pushes"`
	}
	var e httpx.ErrorBody
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &ok); err != nil {
			t.Fatal(err, w.Body)
		}
	} else {
		json.Unmarshal(w.Body.Bytes(), &e)
	}
	return w.Code, ok.Pushes, e
}

// The onsite events carry amounts in the currency's minor units exactly:
// three decimals for KWD (from the request or the shop's default), none
// for JPY; without a currency amounts stay in cents.
func TestRenderCurrencyMinorUnits(t *testing.T) {
	kwdCart := `{"id":"c1","items":[{"product":{"id":"1","name":"A","price":1.234},"quantity":2},{"product":{"id":"2","name":"B","price":0.005},"quantity":1}]}`
	kwdAdded := `{"product":{"id":"2","name":"B","price":0.005},"quantity":1}`
	for _, tc := range []struct {
		name, shop, snippet, body string
		want                      []string // substrings of the first push
	}{
		{"viewed product KWD from request", "", "viewed-product", `{"currency":"KWD","product":{"id":"1","name":"A","price":1.234,"compare_at_price":2.5}}`,
			[]string{`"Price":1.234`, `"CompareAtPrice":2.5`}},
		{"viewed product KWD from shop", "KWD", "viewed-product", `{"product":{"id":"1","name":"A","price":1.234}}`,
			[]string{`"Price":1.234`}},
		{"request overrides shop", "KWD", "viewed-product", `{"currency":"JPY","product":{"id":"1","name":"A","price":1500}}`,
			[]string{`"Price":1500`}},
		{"added to cart KWD", "KWD", "added-to-cart", `{"cart":` + kwdCart + `,"added":` + kwdAdded + `}`,
			[]string{`"$value":2.473`, `"AddedItemPrice":0.005`, `"RowTotal":2.468`}},
		{"started checkout KWD", "", "started-checkout", `{"currency":"KWD","time":"2026-11-27T12:00:00Z","cart":` + kwdCart + `}`,
			[]string{`"$value":2.473`, `"ItemPrice":1.234`, `"ItemPrice":0.005`}},
		{"no currency keeps cents", "", "viewed-product", `{"product":{"id":"1","name":"A","price":1.234}}`,
			[]string{`"Price":1.23`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, pushes, e := renderJSON(t, tc.shop, tc.snippet, tc.body)
			if status != 200 || len(pushes) == 0 {
				t.Fatalf("status %d: %+v", status, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(pushes[0]), w) {
					t.Errorf("push %s lacks %s", pushes[0], w)
				}
			}
		})
	}
}

func TestRenderCurrencyRejections(t *testing.T) {
	cart := func(price string) string {
		return `{"id":"c1","items":[{"product":{"id":"1","name":"A","price":1},"quantity":1},{"product":{"id":"2","name":"B","price":` + price + `},"quantity":1}]}`
	}
	for _, tc := range []struct {
		name, shop, snippet, body, field string
	}{
		{"JPY price with decimals", "JPY", "viewed-product", `{"product":{"id":"1","name":"A","price":1500.5}}`, "product.price"},
		{"USD compare_at_price with 3 decimals", "", "viewed-product", `{"currency":"USD","product":{"id":"1","name":"A","price":1,"compare_at_price":1.005}}`, "product.compare_at_price"},
		{"KWD cart line with 4 decimals", "KWD", "started-checkout", `{"cart":` + cart("1.2345") + `}`, "cart.items[1].product.price"},
		{"added line with decimals in JPY", "", "added-to-cart", `{"currency":"JPY","cart":` + cart("2") + `,"added":{"product":{"id":"2","name":"B","price":2.5},"quantity":1}}`, "added.product.price"},
		{"unknown currency", "", "viewed-product", `{"currency":"XYZ","product":{"id":"1","name":"A","price":1}}`, "currency"},
		{"empty currency", "", "viewed-product", `{"currency":"","product":{"id":"1","name":"A","price":1}}`, "currency"},
		{"in a batch", "JPY", "", `{"snippets":[{"type":"viewed-product","product":{"id":"1","name":"A","price":1}},{"type":"viewed-product","product":{"id":"1","name":"A","price":0.5}}]}`, "snippets[1].product.price"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, e := renderJSON(t, tc.shop, tc.snippet, tc.body)
			if status != 422 || e.Error.Code != "invalid" || e.Error.Field != tc.field {
				t.Errorf("got %d %+v, want 422 invalid %s", status, e.Error, tc.field)
			}
		})
	}
}
