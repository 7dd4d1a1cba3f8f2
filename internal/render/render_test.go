package render

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
)

const seedCart = `{"id":"1000123","checkout_url":"http://www.example.com/path/to/checkout","items":[
 {"product":{"id":"1111","sku":"WINNIEPOOH","name":"Winnie the Pooh","url":"http://www.example.com/path/to/product","image_url":"http://www.example.com/path/to/product/image.png","categories":["Fiction","Children"],"price":9.99},"quantity":1},
 {"product":{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","url":"http://www.example.com/path/to/product2","image_url":"http://www.example.com/path/to/product/image2.png","categories":["Fiction","Classics"],"price":19.99},"quantity":1}]}`

const seedAdded = `{"product":{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","url":"http://www.example.com/path/to/product2","image_url":"http://www.example.com/path/to/product/image2.png","categories":["Fiction","Classics"],"price":19.99},"quantity":1}`

// Bodies that render, by snippet, shared with the fuzz seeds.
var okBodies = map[string]string{
	Loader:          `{"public_key":"AbC123"}`,
	ViewedProduct:   `{"product":{"id":"1","sku":"S","name":"Mug","url":"https://shop.example/mug","image_url":"https://shop.example/mug.png","categories":["Kitchen"],"brand":"Acme","price":12.5,"compare_at_price":15}}`,
	AddedToCart:     `{"cart":` + seedCart + `,"added":` + seedAdded + `}`,
	StartedCheckout: `{"cart":` + seedCart + `,"time":"2013-12-17T16:57:03Z"}`,
	Identify:        `{"customer":{"email":"shopper@example.com","first_name":"Ada"}}`,
	ViewedCategory:  `{"category":{"id":"mugs","name":"Mugs","url":"https://shop.example/c/mugs","product_ids":["1","2"]}}`,
	SearchedSite:    `{"search":{"term":"blue mug","results_count":2,"product_ids":["2"]}}`,
}

func TestRenderEachSnippet(t *testing.T) {
	rd := Renderer{}
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			ctx := templ.WithNonce(context.Background(), "n1")
			res, err := rd.Render(ctx, name, []byte(okBodies[name]))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(res.HTML), `<script`); n != strings.Count(string(res.HTML), `nonce="n1"`) || n == 0 {
				t.Errorf("%d script elements, not all with the nonce:\n%s", n, res.HTML)
			}
			for _, p := range res.Pushes {
				if !strings.Contains(string(res.HTML), "klaviyo.push("+string(p)+");") {
					t.Errorf("push %s not in the partial %s", p, res.HTML)
				}
			}
		})
	}
}

func TestSeedValues(t *testing.T) {
	rd := Renderer{}
	res, err := rd.Render(context.Background(), AddedToCart, []byte(okBodies[AddedToCart]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Pushes[0]), `{"$value":29.98,`) {
		t.Errorf("push %s lacks $value 29.98", res.Pushes[0])
	}
	res, err = rd.Render(context.Background(), StartedCheckout, []byte(okBodies[StartedCheckout]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Pushes[0]), `"$event_id":"1000123_1387299423"`) {
		t.Errorf("push %s lacks the guide's $event_id", res.Pushes[0])
	}
}

func TestStartedCheckoutUsesClock(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rd := Renderer{Now: func() time.Time { return at }}
	res, err := rd.Render(context.Background(), StartedCheckout, []byte(`{"cart":`+seedCart+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"$event_id":"1000123_` + strconv.FormatInt(at.Unix(), 10) + `"`; !strings.Contains(string(res.Pushes[0]), want) {
		t.Errorf("push %s lacks %s", res.Pushes[0], want)
	}
}

func TestLoaderDefaults(t *testing.T) {
	res, err := Renderer{PublicKey: "Def456"}.Render(context.Background(), Loader, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.HTML), `src="https://static.klaviyo.com/onsite/js/Def456/klaviyo.js"`) {
		t.Errorf("default key not used:\n%s", res.HTML)
	}
	res, err = Renderer{PublicKey: "Def456"}.Render(context.Background(), Loader, []byte(`{"klaviyo_js_url":"/kl/k.js"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.HTML), `src="/kl/k.js"`) {
		t.Errorf("url override not used:\n%s", res.HTML)
	}
}

func TestBatch(t *testing.T) {
	rd := Renderer{PublicKey: "AbC123"}
	body := `{"snippets":[{"type":"loader"},{"type":"viewed-product",` + strings.TrimPrefix(okBodies[ViewedProduct], "{") +
		`,{"type":"identify",` + strings.TrimPrefix(okBodies[Identify], "{") + `]}`
	res, err := rd.RenderBatch(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var want Result
	for _, name := range []string{Loader, ViewedProduct, Identify} {
		b := okBodies[name]
		if name == Loader {
			b = ""
		}
		r, err := rd.Render(context.Background(), name, []byte(b))
		if err != nil {
			t.Fatal(err)
		}
		want.HTML = append(want.HTML, r.HTML...)
		want.Pushes = append(want.Pushes, r.Pushes...)
	}
	if diff := cmp.Diff(string(want.HTML), string(res.HTML)); diff != "" {
		t.Errorf("html (-want +got):\n%s", diff)
	}
	if len(res.Pushes) != 3 {
		t.Errorf("got %d pushes, want 3", len(res.Pushes))
	}
}

func TestResultJSON(t *testing.T) {
	res, err := Renderer{}.Render(context.Background(), ViewedProduct, []byte(`{"product":{"id":"1","name":"</script>\u2028","price":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		HTML   string
		Pushes []json.RawMessage
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.HTML != string(res.HTML) || len(got.Pushes) != 2 || string(got.Pushes[1]) != string(res.Pushes[1]) {
		t.Errorf("JSON form %s does not match the result", b)
	}
	b, _ = json.Marshal(Result{HTML: []byte("<script></script>")})
	if !strings.HasSuffix(string(b), `"pushes":[]}`) {
		t.Errorf("loader JSON form %s: want an empty pushes array", b)
	}
}

// TestErrors covers every decoding and validation error: code and field.
func TestErrors(t *testing.T) {
	cartWith := func(old, new string) string { return strings.Replace(seedCart, old, new, 1) }
	tests := []struct {
		name, snippet, body string
		code, field         string
	}{
		{"unknown snippet", "checkout", `{}`, apperr.ENOTFOUND, ""},
		{"invalid UTF-8", ViewedProduct, "{\"product\":{\"id\":\"1\",\"name\":\"\xff\",\"price\":1}}", apperr.EBADREQUEST, ""},
		{"malformed JSON", ViewedProduct, `{"product":`, apperr.EBADREQUEST, "product"},
		{"trailing data", Identify, `{"customer":{"email":"a@b"}} {}`, apperr.EBADREQUEST, ""},
		{"unknown field", ViewedProduct, `{"product":{"id":"1","name":"n","price":1},"bogus":1}`, apperr.EBADREQUEST, "bogus"},
		{"string price", ViewedProduct, `{"product":{"id":"1","name":"n","price":"1"}}`, apperr.EBADREQUEST, "product.price"},
		{"string quantity", AddedToCart, `{"cart":` + cartWith(`"quantity":1`, `"quantity":"1"`) + `,"added":` + seedAdded + `}`, apperr.EBADREQUEST, "cart.items[0].quantity"},
		{"duplicate member", Identify, `{"customer":{"email":"a@b"},"customer":{"email":"c@d"}}`, apperr.EBADREQUEST, "customer"},
		{"member name in other case", ViewedProduct, `{"Product":{"id":"1","name":"n","price":1}}`, apperr.EBADREQUEST, "Product"},
		{"amount out of range", ViewedProduct, `{"product":{"id":"1","name":"n","price":1e300}}`, apperr.EBADREQUEST, "product.price"},
		{"categories not an array", ViewedProduct, `{"product":{"id":"1","name":"n","price":1,"categories":"x"}}`, apperr.EBADREQUEST, "product.categories"},
		{"missing product", ViewedProduct, `{}`, apperr.EINVALID, "product"},
		{"empty body", ViewedProduct, ``, apperr.EINVALID, "product"},
		{"missing product id", ViewedProduct, `{"product":{"name":"n","price":1}}`, apperr.EINVALID, "product.id"},
		{"blank product name", ViewedProduct, `{"product":{"id":"1","name":"  ","price":1}}`, apperr.EINVALID, "product.name"},
		{"missing price", ViewedProduct, `{"product":{"id":"1","name":"n"}}`, apperr.EINVALID, "product.price"},
		{"negative price", ViewedProduct, `{"product":{"id":"1","name":"n","price":-0.01}}`, apperr.EINVALID, "product.price"},
		{"negative compare_at_price", ViewedProduct, `{"product":{"id":"1","name":"n","price":1,"compare_at_price":-1}}`, apperr.EINVALID, "product.compare_at_price"},
		{"missing cart", AddedToCart, `{"added":` + seedAdded + `}`, apperr.EINVALID, "cart"},
		{"missing added", AddedToCart, `{"cart":` + seedCart + `}`, apperr.EINVALID, "added"},
		{"missing cart id", AddedToCart, `{"cart":` + cartWith(`"id":"1000123"`, `"id":""`) + `,"added":` + seedAdded + `}`, apperr.EINVALID, "cart.id"},
		{"empty cart", AddedToCart, `{"cart":{"id":"c","items":[]},"added":` + seedAdded + `}`, apperr.EINVALID, "cart.items"},
		{"cart quantity 0", AddedToCart, `{"cart":` + cartWith(`"quantity":1`, `"quantity":0`) + `,"added":` + seedAdded + `}`, apperr.EINVALID, "cart.items[0].quantity"},
		{"cart negative price", AddedToCart, `{"cart":` + cartWith(`"price":19.99`, `"price":-19.99`) + `,"added":` + seedAdded + `}`, apperr.EINVALID, "cart.items[1].product.price"},
		{"cart line missing product id", AddedToCart, `{"cart":` + cartWith(`"id":"1111"`, `"id":""`) + `,"added":` + seedAdded + `}`, apperr.EINVALID, "cart.items[0].product.id"},
		{"added quantity 0", AddedToCart, `{"cart":` + seedCart + `,"added":` + strings.Replace(seedAdded, `"quantity":1`, `"quantity":0`, 1) + `}`, apperr.EINVALID, "added.quantity"},
		{"added not in cart", AddedToCart, `{"cart":` + seedCart + `,"added":` + strings.Replace(seedAdded, `"1112"`, `"9999"`, 1) + `}`, apperr.EINVALID, "added"},
		{"added more than in cart", AddedToCart, `{"cart":` + seedCart + `,"added":` + strings.Replace(seedAdded, `"quantity":1`, `"quantity":2`, 1) + `}`, apperr.EINVALID, "added.quantity"},
		{"checkout missing cart", StartedCheckout, `{"time":"2026-01-01T00:00:00Z"}`, apperr.EINVALID, "cart"},
		{"checkout bad time", StartedCheckout, `{"cart":` + seedCart + `,"time":"yesterday"}`, apperr.EINVALID, "time"},
		{"checkout time before 1970", StartedCheckout, `{"cart":` + seedCart + `,"time":"1969-12-31T23:59:59Z"}`, apperr.EINVALID, "time"},
		{"checkout time not a string", StartedCheckout, `{"cart":` + seedCart + `,"time":1}`, apperr.EBADREQUEST, "time"},
		{"missing customer", Identify, `{}`, apperr.EINVALID, "customer"},
		{"customer without identifier", Identify, `{"customer":{"first_name":"Ada"}}`, apperr.EINVALID, "customer"},
		{"customer bad email", Identify, `{"customer":{"email":"nope"}}`, apperr.EINVALID, "customer.email"},
		{"loader without key", Loader, `{}`, apperr.EINVALID, "public_key"},
		{"loader bad key", Loader, `{"public_key":"abc"}`, apperr.EINVALID, "public_key"},
		{"loader bad url", Loader, `{"klaviyo_js_url":"javascript:alert(1)"}`, apperr.EINVALID, "klaviyo_js_url"},
		{"missing category", ViewedCategory, `{}`, apperr.EINVALID, "category"},
		{"category without name", ViewedCategory, `{"category":{"id":"c"}}`, apperr.EINVALID, "category.name"},
		{"category blank product id", ViewedCategory, `{"category":{"id":"c","name":"n","product_ids":["1",""]}}`, apperr.EINVALID, "category.product_ids[1]"},
		{"category unknown member", ViewedCategory, `{"category":{"id":"c","name":"n","title":"x"}}`, apperr.EBADREQUEST, "category.title"},
		{"missing search", SearchedSite, `{}`, apperr.EINVALID, "search"},
		{"search without term", SearchedSite, `{"search":{"results_count":1}}`, apperr.EINVALID, "search.term"},
		{"search negative count", SearchedSite, `{"search":{"term":"x","results_count":-1}}`, apperr.EINVALID, "search.results_count"},
		{"search fractional count", SearchedSite, `{"search":{"term":"x","results_count":1.5}}`, apperr.EBADREQUEST, "search.results_count"},
		{"search count as string", SearchedSite, `{"search":{"term":"x","results_count":"3"}}`, apperr.EBADREQUEST, "search.results_count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Renderer{}.Render(context.Background(), tt.snippet, []byte(tt.body))
			checkErr(t, err, tt.code, tt.field)
		})
	}
}

func TestBatchErrors(t *testing.T) {
	item := func(typ, body string) string { return `{"type":"` + typ + `",` + strings.TrimPrefix(body, "{") }
	many := strings.Repeat(`{"type":"identify","customer":{"email":"a@b"}},`, MaxBatch)
	tests := []struct {
		name, body  string
		code, field string
	}{
		{"invalid UTF-8", "{\"snippets\":[{\"type\":\"\xff\"}]}", apperr.EBADREQUEST, ""},
		{"not an object", `[]`, apperr.EBADREQUEST, ""},
		{"missing snippets", `{}`, apperr.EINVALID, "snippets"},
		{"too many", `{"snippets":[` + many + `{"type":"loader"}]}`, apperr.EINVALID, "snippets"},
		{"item not an object", `{"snippets":[1]}`, apperr.EBADREQUEST, "snippets[0]"},
		{"item without type", `{"snippets":[{}]}`, apperr.EINVALID, "snippets[0].type"},
		{"unknown type", `{"snippets":[{"type":"checkout"}]}`, apperr.EINVALID, "snippets[0].type"},
		{"member of another snippet", `{"snippets":[{"type":"identify","product":{}}]}`, apperr.EBADREQUEST, "snippets[0].product"},
		{"invalid item", `{"snippets":[` + item(Identify, okBodies[Identify]) + `,` + item(AddedToCart, `{"cart":`+strings.Replace(seedCart, `"price":9.99`, `"price":-1`, 1)+`,"added":`+seedAdded+`}`) + `]}`, apperr.EINVALID, "snippets[1].cart.items[0].product.price"},
		{"loader without key", `{"snippets":[{"type":"loader"}]}`, apperr.EINVALID, "snippets[0].public_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Renderer{}.RenderBatch(context.Background(), []byte(tt.body))
			checkErr(t, err, tt.code, tt.field)
		})
	}
}

func checkErr(t *testing.T, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := apperr.ErrorCode(err); got != code {
		t.Errorf("code = %q (%v), want %q", got, err, code)
	}
	if got := apperr.ErrorField(err); got != field {
		t.Errorf("field = %q (%v), want %q", got, err, field)
	}
	if apperr.ErrorMessage(err) == "" {
		t.Error("empty message")
	}
}

func TestObserveProducts(t *testing.T) {
	var got []string
	rd := Renderer{PublicKey: "AbC123", Observe: func(id string) { got = append(got, id) }}
	for _, name := range Names {
		if _, err := rd.Render(context.Background(), name, []byte(okBodies[name])); err != nil {
			t.Fatal(err)
		}
	}
	rd.Render(context.Background(), ViewedProduct, []byte(`{"product":{"id":"bad","name":"n","price":-1}}`))
	rd.Render(context.Background(), ViewedCategory, []byte(`{"category":{"id":"c","name":"n","product_ids":["bad",""]}}`))
	want := []string{"1", "1111", "1112", "1111", "1112", "1", "2", "2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed ids (-want +got):\n%s", diff)
	}
}
