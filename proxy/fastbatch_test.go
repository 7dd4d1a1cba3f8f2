package proxy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// fastAgrees reports how fastDecodeBatch differs on body from the v2
// decoder's one pass, or "". fast reports whether the fast path read it.
func fastAgrees(body []byte) (fast bool, diff string) {
	got, ok := fastDecodeBatch(body)
	if !ok {
		return false, ""
	}
	var want wireBatch[fastEvent]
	if err := strictjson.Decode(body, &want); err != nil {
		return true, fmt.Sprintf("fast path read a body the v2 decoder refuses: %v", err)
	}
	type view struct {
		Events  []event
		Profile wireProfile
		Kx      string
		Consent *bool
	}
	viewOf := func(w wireBatch[fastEvent]) view {
		v := view{Profile: w.Profile, Kx: w.Kx, Consent: w.Consent}
		if w.Events != nil {
			v.Events = []event{}
		}
		for i := range w.Events {
			v.Events = append(v.Events, eventOf(&w.Events[i], body))
		}
		return v
	}
	opts := cmp.Options{
		cmp.AllowUnexported(event{}),
		cmp.Comparer(func(a, b shop.Money) bool { return a == b }),
		// A span is its bytes; where the v2 decoder starts an input's
		// span (before the ':') is span.in's to trim.
		cmp.Comparer(func(a, b json.RawMessage) bool { return (a == nil) == (b == nil) && string(a) == string(b) }),
	}
	if d := cmp.Diff(viewOf(want), viewOf(got), opts); d != "" {
		return true, fmt.Sprintf("(-v2 +fast):\n%s", d)
	}
	return true, ""
}

// TestFastDecodeBatch holds fastDecodeBatch to the v2 decoder's one pass
// on the bodies it reads, checks that the helper's bodies (both forms,
// the inputs of each metric, whitespace, unknown input members) take it,
// and that what it leaves to the v2 decoder does not.
func TestFastDecodeBatch(t *testing.T) {
	product := `{"id":"p1","sku":"M-1","name":"Mug","url":"https://shop.example/p/mug","image_url":"https://shop.example/m.png","categories":["Kitchen","Mugs"],"brand":"B","price":12.5,"compare_at_price":15,"description":"d"}`
	cart := `{"id":"c1","checkout_url":"https://s.example/co","items":[{"product":` + product + `,"quantity":2},{"product":{"id":"p2","name":"Tea","price":1e1},"quantity":1}]}`
	for _, tt := range []struct {
		body string
		fast bool
	}{
		{inputBody(7), true},
		{propertiesBody(7), true},
		{`{"events":[{"metric":"Viewed Product","unique_id":"1","product":` + product + `}],"profile":{"email":"a@b.co","phone_number":"+15005550006","external_id":"x","first_name":"Zoë","last_name":"Ng"},"kx":"k.A","consent":true}`, true},
		{`{"events":[{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":` + product + `,"quantity":1}}],"consent":false}`, true},
		{`{"events":[{"metric":"Started Checkout","cart":` + cart + `,"time":"2026-11-27T11:59:30Z"}],"consent":null,"profile":null}`, true},
		{`{"events":[{"metric":"m","properties":{"a":[1,-2.5e3,true,false,null,{"b":{}},[]],"c":"é"},"time":1,"unique_id":"u","value":0.5,"product":null,"cart":null,"added":null,"backfill":1,"value_currency":"x"}]}`, true},
		{" \t\r\n{ \"events\" : [ { \"metric\" : \"Viewed Product\" , \"product\" : { \"id\" : \"p\" , \"name\" : \"n\" , \"price\" : 1 , \"variants\" : [ { \"id\" : 1 } ] } } ] } \n", true},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1,"variants":[{"id":1,"x":{"y":[]}}],"":null}}]}`, true},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1,"categories":[]}}]}`, true},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"","name":"","price":-1}}]}`, true}, // the validator refuses it
		{`{"events":[]}`, true},
		{`{"events":null}`, true},
		{`{}`, true},
		{`{"events":[{}]}`, true},
		{`{"events":[{"metric":"Viewed Product","properties":{"a":1}},{"metric":"Viewed Product","properties":{"a":1}}]}`, true},
		// Left to the v2 decoder: escapes, control characters, invalid
		// UTF-8, unknown or repeated members, other kinds, numbers an
		// input refuses, trailing data, truncation, nulls it does not read.
		{`{"events":[{"metric":"Viewed \u0050roduct"}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p\"","name":"n","price":1}}]}`, false},
		{"{\"events\":[{\"metric\":\"a\tb\"}]}", false},
		{"{\"events\":[{\"metric\":\"\xff\"}]}", false},
		{"{\"events\":[{\"metric\":\"m\",\"properties\":{\"a\":\"\xc3\"}}]}", false},
		{`{"events":[{"metric":"m","other":1}]}`, false},
		{`{"events":[{"metric":"m","Metric":"m"}]}`, false},
		{`{"events":[{"metric":"m","metric":"m"}]}`, false},
		{`{"events":[],"events":[]}`, false},
		{`{"events":[{"metric":"m","properties":{"a":1,"a":2}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1,"x":1,"x":2}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","id":"q","name":"n","price":1}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":1,"name":"n","price":1}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":"1"}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":null}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":01}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1e999999}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":{"ID":"p","name":"n","price":1,"inventory_policy":1}}]}`, false},
		{`{"events":[{"metric":"Added to Cart","added":{"product":{"id":"p","name":"n","price":1},"quantity":1.0}}]}`, false},
		{`{"events":[{"metric":"Added to Cart","added":{"product":{"id":"p","name":"n","price":1},"quantity":-1}}]}`, false},
		{`{"events":[{"metric":"Added to Cart","added":{"product":{"id":"p","name":"n","price":1},"quantity":1234567890123456789}}]}`, false},
		{`{"events":[{"metric":"Viewed Product","product":[]}]}`, false},
		{`{"events":[null]}`, false},
		{`{"events":[{"metric":null}]}`, false},
		{`{"events":[{"metric":"m"}],"kx":null}`, false},
		{`{"events":[{"metric":"m"}],"profile":{"_kx":"a"}}`, false},
		{`{"events":[{"metric":"m"}],"consent":1}`, false},
		{`{"events":[{"metric":"m"}]} x`, false},
		{`{"events":[{"metric":"m"}]`, false},
		{`{"events":[{"metric":"m",}]}`, false},
		{`{"events":[{"metric":"m","properties":{"a":[1,]}}]}`, false},
		{`{"events":[{"metric":"m","properties":{"a":-}}]}`, false},
		{`{"events":[{"metric":"m","properties":{"a":1.}}]}`, false},
		{`{"events":[{"metric":"m","properties":{"a":tru}}]}`, false},
		{`{"events":[{"metric":"m","properties":` + deep(fastMaxDepth) + `}]}`, false},
		{`null`, false},
		{``, false},
	} {
		fast, d := fastAgrees([]byte(tt.body))
		if d != "" {
			t.Errorf("%s: %s", tt.body, d)
		}
		if fast != tt.fast {
			t.Errorf("%s: fast path %v, want %v", tt.body, fast, tt.fast)
		}
		if d := agreeWithReference(NewValidator([]string{"m"}, Limits{}), []byte(tt.body), testNow); d != "" {
			t.Errorf("%s: %s", tt.body, d)
		}
	}
}

// deep nests n arrays in an object.
func deep(n int) string {
	s := "1"
	for range n {
		s = "[" + s + "]"
	}
	return `{"a":` + s + `}`
}

// FuzzFastDecodeBatch holds fastDecodeBatch to the v2 decoder's one pass
// on every body it reads (FuzzDecodeBatch holds the whole validator to
// the reference). Run:
//
//	go test ./proxy -run '^$' -fuzz FuzzFastDecodeBatch -fuzztime 3m
func FuzzFastDecodeBatch(f *testing.F) {
	f.Add([]byte(inputBody(1)))
	f.Add([]byte(propertiesBody(1)))
	f.Add([]byte(`{"events":[{"metric":"Added to Cart","cart":{"id":"c1","checkout_url":"u","items":[{"product":{"id":"p1","sku":"M","name":"Mug","price":12.5,"categories":["a"]},"quantity":2}]},"added":{"product":{"id":"p1","sku":"M","name":"Mug","price":12.5},"quantity":1}}],"profile":{"email":"a@b.co"},"consent":true,"kx":"k"}`))
	f.Add([]byte(`{"events":[{"metric":"m","properties":{"a":[1,-2.5e3,true,false,null,{"b":{}},[]],"c":"é"},"time":1,"unique_id":"u","value":0.5,"product":null,"cart":null,"added":null,"backfill":1,"value_currency":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, d := fastAgrees(body); d != "" {
			t.Fatalf("%q: %s", body, d)
		}
	})
}

// TestFastInputNames checks that the fast path's readers know every
// member of the input types: a member it did not know would be skipped
// as unknown instead of decoded.
func TestFastInputNames(t *testing.T) {
	for _, tt := range []struct {
		typ   reflect.Type
		names []string
	}{
		{reflect.TypeFor[shop.Product](), fastProductNames},
		{reflect.TypeFor[shop.LineItem](), fastLineItemNames},
		{reflect.TypeFor[shop.Cart](), fastCartNames},
	} {
		var want []string
		for f := range tt.typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			want = append(want, name)
		}
		if d := cmp.Diff(want, tt.names); d != "" {
			t.Errorf("%s (-json tags +fast path):\n%s", tt.typ, d)
		}
	}
}

// viewedProductByBuilder is what appendViewedProduct replaces: the
// properties of snippets.ViewedProductPushes' track push, split as
// buildEvent splits the other metrics' pushes.
func viewedProductByBuilder(t testing.TB, p shop.Product) (string, error) {
	pushes, err := snippets.ViewedProductPushes(p)
	if err != nil {
		return "", err
	}
	props, value, eventID, err := splitTrack(pushes[0])
	if err != nil || value != nil || eventID != nil {
		t.Fatalf("split %s: %v, $value %s, $event_id %s", pushes[0], err, value, eventID)
	}
	return string(props), nil
}

// TestViewedProduct holds appendViewedProduct to the builder: every
// optional member absent and present, strings that need escapes, money
// with and without cents.
func TestViewedProduct(t *testing.T) {
	full := shop.Product{
		ID: "p1", SKU: "M-1", Name: `Mug "</script>" é ` + "\u2028\x01\\", URL: "https://s.example/p?a=1&b=<2>", ImageURL: "https://s.example/m.png",
		Categories: []string{"Kitchen", "Mugs & Cups"}, Brand: "B", Price: shop.Cents(1250), CompareAtPrice: shop.Cents(1500),
	}
	for _, p := range []shop.Product{
		full,
		{ID: "p", Name: "n", Price: shop.Cents(0)},
		{ID: "p", Name: "n", Price: shop.Cents(100000), CompareAtPrice: shop.Cents(1)},
		{ID: "p", Name: "n", Price: shop.Cents(9223372036854775807), CompareAtPrice: shop.Cents(9223372036854775806)},
		{ID: "p", Name: "n", Price: shop.Cents(5), Categories: []string{}},
		{ID: "p", Name: "n", Price: shop.Cents(5), Categories: []string{""}},
		{ID: "p", Name: "n", Price: shop.Cents(5), Brand: "b"},
		{ID: "p", Name: "n", Price: shop.Cents(5), URL: "u"},
		{ID: "p", Name: "n", Price: shop.Cents(5), ImageURL: "i"},
		{ID: "p", Name: "n", Price: shop.Cents(5), SKU: "s"},
	} {
		want, err := viewedProductByBuilder(t, p)
		if err != nil {
			t.Fatal(err)
		}
		b := appendViewedProduct(make([]byte, 0, viewedProductSize(&p)), &p)
		if got := string(b); got != want {
			t.Errorf("%+v:\n got %s\nwant %s", p, got, want)
		}
		if p.Name == full.Name {
			continue // escapes: the size is a guess
		}
		if n := viewedProductSize(&p); len(b) > n || n > len(b)+48 {
			t.Errorf("%+v: %d bytes, viewedProductSize %d", p, len(b), n)
		}
	}
}

// FuzzViewedProduct holds appendViewedProduct to the builder for any
// product the builder accepts.
//
//	go test ./proxy -run '^$' -fuzz FuzzViewedProduct -fuzztime 1m
func FuzzViewedProduct(f *testing.F) {
	f.Add("p1", "M-1", "Mug", "https://s.example/p", "", "Kitchen", "", "B", int64(1250), int64(-1), uint8(3))
	f.Add("p", "", "<n>\u2028", "", "i", "", "", "", int64(0), int64(7), uint8(0))
	f.Fuzz(func(t *testing.T, id, sku, name, url, image, cat1, cat2, brand string, price, compare int64, cats uint8) {
		p := shop.Product{ID: id, SKU: sku, Name: name, URL: url, ImageURL: image, Brand: brand, Price: shop.Cents(price)}
		if compare >= 0 {
			p.CompareAtPrice = shop.Cents(compare)
		}
		switch cats % 4 {
		case 1:
			p.Categories = []string{}
		case 2:
			p.Categories = []string{cat1}
		case 3:
			p.Categories = []string{cat1, cat2}
		}
		want, err := viewedProductByBuilder(t, p)
		if err != nil {
			return
		}
		if got := string(appendViewedProduct(nil, &p)); got != want {
			t.Fatalf("%+v:\n got %s\nwant %s", p, got, want)
		}
	})
}

// TestViewedProductFits holds viewedProductFits to checkProperties: when
// it says the properties fit, checkProperties accepts them unchanged, for
// limits around each of theirs and strings around MaxString (invalid
// UTF-8 included); and it says so for the load test's product under the
// default limits.
func TestViewedProductFits(t *testing.T) {
	products := []shop.Product{
		{ID: "p1", SKU: "M-1", Name: "Mug", URL: "https://shop.example/p/mug", Price: shop.Cents(1250)},
		{ID: "p", Name: "n", Price: shop.Cents(1), Categories: []string{"a", "b", "c"}, CompareAtPrice: shop.Cents(2), Brand: "b", ImageURL: "i"},
		{ID: "p", Name: strings.Repeat("x", 10), Price: shop.Cents(1)},
		{ID: "p", Name: strings.Repeat("\xff", 4), Price: shop.Cents(1)},
		{ID: "p", Name: "n", Price: shop.Cents(1), Categories: []string{strings.Repeat("é", 5)}},
	}
	fits := 0
	for _, p := range products {
		props := appendViewedProduct(nil, &p)
		for _, l := range []Limits{
			{}, {MaxProperties: 5}, {MaxProperties: 8}, {MaxProperties: 9}, {MaxDepth: 1}, {MaxDepth: 2},
			{MaxArray: 1}, {MaxArray: 2}, {MaxArray: 3},
			{MaxString: 1}, {MaxString: 3}, {MaxString: 9}, {MaxString: 10}, {MaxString: 11}, {MaxString: 12}, {MaxString: 29}, {MaxString: 30}, {MaxString: 31},
		} {
			v := NewValidator(nil, l)
			if !v.viewedProductFits(&p) {
				continue
			}
			fits++
			got, err := v.checkProperties(props, "events[0]", "properties")
			if err != nil || string(got) != string(props) {
				t.Errorf("%+v, %+v: fits, but checkProperties gives %s, %v", p, l, got, err)
			}
		}
	}
	if fits < 20 {
		t.Errorf("only %d cases fit: the test checks little", fits)
	}
	if !NewValidator(nil, Limits{}).viewedProductFits(&products[0]) {
		t.Error("the load test's product does not fit the default limits")
	}
}
