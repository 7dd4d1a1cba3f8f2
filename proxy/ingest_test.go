package proxy

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestDecodeBatchAccepts(t *testing.T) {
	v := NewValidator([]string{"Viewed Collection"}, EventLimits{})
	body := `{"events":[
		{"metric":"Viewed Product","properties":{"ProductName":"Mug","Price":12.5,"Categories":["Kitchen"]},"time":"2026-11-27T11:59:30.250Z","unique_id":"vp-1"},
		{"metric":"Added to Cart","properties":{"$value":25,"AddedItemQuantity":2},"time":1796212740000,"value":25.00},
		{"metric":"Viewed Collection"}
	],"profile":{"email":" Ana@Example.COM ","first_name":"Ana"},"kx":"abcDEF_-=.Xy12Ab","consent":true}`
	b, err := v.DecodeBatch([]byte(body), testNow)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		Metric, Props, Time, UID, Value string
	}
	var got []ev
	for _, e := range b.Events {
		val := ""
		if e.Value.IsSet() {
			val = e.Value.String()
		}
		got = append(got, ev{e.Metric, string(e.Properties), e.Time.Format(time.RFC3339), e.UniqueID, val})
	}
	want := []ev{
		{"Viewed Product", `{"ProductName":"Mug","Price":12.5,"Categories":["Kitchen"]}`, "2026-11-27T11:59:30Z", "vp-1", ""},
		{"Added to Cart", `{"$value":25,"AddedItemQuantity":2}`, time.UnixMilli(1796212740000).UTC().Format(time.RFC3339), "", "25"},
		{"Viewed Collection", `{}`, "2026-11-27T12:00:00Z", "", ""},
	}
	// 1796212740000 ms is far from testNow: it is replaced by the receive time.
	want[1].Time = "2026-11-27T12:00:00Z"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Claim{Email: "ana@example.com", FirstName: "Ana"}, b.Profile); d != "" {
		t.Errorf("profile (-want +got):\n%s", d)
	}
	if b.Kx != "abcDEF_-=.Xy12Ab" || !b.Consent {
		t.Errorf("kx %q consent %v", b.Kx, b.Consent)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	v := NewValidator([]string{"Placed Order"}, EventLimits{MaxEvents: 3, MaxDepth: 3})
	ev := func(s string) string { return `{"events":[` + s + `]}` }
	deep := `{"a":{"b":{"c":{"d":1}}}}`
	tests := []struct {
		name, body  string
		code, field string
	}{
		{"malformed JSON", `{"events":[`, apperr.EBADREQUEST, "events"},
		{"not UTF-8", "{\"events\":[{\"metric\":\"\xff\"}]}", apperr.EBADREQUEST, ""},
		{"trailing data", ev(`{"metric":"Viewed Product"}`) + `{}`, apperr.EBADREQUEST, ""},
		{"unknown field", `{"events":[],"extra":1}`, apperr.EBADREQUEST, "extra"},
		{"no events", `{"profile":{}}`, apperr.EINVALID, "events"},
		{"empty events", `{"events":[]}`, apperr.EINVALID, "events"},
		{"too many events", ev(strings.Repeat(`{"metric":"Viewed Product"},`, 3) + `{"metric":"Viewed Product"}`), apperr.EINVALID, "events"},
		{"placed order", ev(`{"metric":"Placed Order"}`), apperr.EINVALID, "events[0].metric"},
		{"server metric any case", ev(`{"metric":"Viewed Product"},{"metric":"Ordered Product"}`), apperr.EINVALID, "events[1].metric"},
		{"metric missing", ev(`{"properties":{}}`), apperr.EINVALID, "events[0].metric"},
		{"backfill", ev(`{"metric":"Viewed Product","backfill":false}`), apperr.EINVALID, "events[0].backfill"},
		{"value_currency", ev(`{"metric":"Added to Cart","value":1,"value_currency":"USD"}`), apperr.EINVALID, "events[0].value_currency"},
		{"negative value", ev(`{"metric":"Added to Cart","value":-1}`), apperr.EINVALID, "events[0].value"},
		{"huge value", ev(`{"metric":"Added to Cart","value":1e12}`), apperr.EINVALID, "events[0].value"},
		{"value string", ev(`{"metric":"Added to Cart","value":"5"}`), apperr.EINVALID, "events[0].value"},
		{"value huge exponent", ev(`{"metric":"Added to Cart","value":1e100000}`), apperr.EINVALID, "events[0].value"},
		{"properties array", ev(`{"metric":"Viewed Product","properties":[1]}`), apperr.EINVALID, "events[0].properties"},
		{"properties too deep", ev(`{"metric":"Viewed Product","properties":` + deep + `}`), apperr.EINVALID, "events[0].properties.a.b.c"},
		{"bad time", ev(`{"metric":"Viewed Product","time":"yesterday"}`), apperr.EINVALID, "events[0].time"},
		{"negative time", ev(`{"metric":"Viewed Product","time":-5}`), apperr.EINVALID, "events[0].time"},
		{"bad unique_id", ev(`{"metric":"Viewed Product","unique_id":"a b"}`), apperr.EINVALID, "events[0].unique_id"},
		{"repeated unique_id", ev(`{"metric":"Viewed Product","unique_id":"x"},{"metric":"Viewed Product","unique_id":"x"}`), apperr.EINVALID, "events[1].unique_id"},
		{"profile bad email", `{"events":[{"metric":"Viewed Product"}],"profile":{"email":"nope"}}`, apperr.EINVALID, "profile.email"},
		{"profile bad phone", `{"events":[{"metric":"Viewed Product"}],"profile":{"phone_number":"555-1234"}}`, apperr.EINVALID, "profile.phone_number"},
		{"profile _kx", `{"events":[{"metric":"Viewed Product"}],"profile":{"_kx":"abc"}}`, apperr.EINVALID, "profile._kx"},
		{"profile location", `{"events":[{"metric":"Viewed Product"}],"profile":{"location":{"ip":"1.2.3.4"}}}`, apperr.EINVALID, "profile.location"},
		{"bad kx", `{"events":[{"metric":"Viewed Product"}],"kx":"<script>"}`, apperr.EINVALID, "kx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.DecodeBatch([]byte(tt.body), testNow)
			if err == nil {
				t.Fatal("accepted")
			}
			got := [2]string{apperr.ErrorCode(err), apperr.ErrorField(err)}
			if d := cmp.Diff([2]string{tt.code, tt.field}, got); d != "" {
				t.Errorf("code, field (-want +got):\n%s\n(message %q)", d, apperr.ErrorMessage(err))
			}
		})
	}
}

func TestDecodeIdentify(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	id, err := v.DecodeIdentify([]byte(`{"email":"a@b.co","phone_number":"+15005550006","first_name":"A","kx":"k.ABCDEF","consent":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Identify{Claim: Claim{Email: "a@b.co", PhoneNumber: "+15005550006", FirstName: "A"}, Kx: "k.ABCDEF", Consent: true}
	if d := cmp.Diff(want, id); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	nested, err := v.DecodeIdentify([]byte(`{"profile":{"email":"a@b.co","phone_number":"+15005550006","first_name":"A"},"kx":"k.ABCDEF","consent":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, nested); d != "" {
		t.Errorf("nested profile (-want +got):\n%s", d)
	}
	for body, field := range map[string]string{
		`{"profile":{"email":"bad"}}`:                     "profile.email",
		`{"email":"a@b.co","profile":{"email":"a@b.co"}}`: "profile",
		`{"first_name":"A"}`:                              "email",
		`{"email":"x"}`:                                   "email",
		`{"email":"a@b.co","x":1}`:                        "x",
	} {
		if _, err := v.DecodeIdentify([]byte(body)); apperr.ErrorField(err) != field {
			t.Errorf("%s: got %v, want an error naming %q", body, err, field)
		}
	}
}

func TestCheckCustomMetric(t *testing.T) {
	for _, m := range []string{"", "placed order", strings.Repeat("x", 128), "a\nb"} {
		if CheckCustomMetric(m) == nil {
			t.Errorf("%q allowed", m)
		}
	}
	if err := CheckCustomMetric("Viewed Collection"); err != nil {
		t.Error(err)
	}
	v := NewValidator([]string{"Refunded Order"}, EventLimits{})
	if _, err := v.DecodeBatch([]byte(`{"events":[{"metric":"Refunded Order"}]}`), testNow); err == nil {
		t.Error("a server-side metric passed as custom was accepted")
	}
}

func TestPropertiesKeepNumbers(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	b, err := v.DecodeBatch([]byte(`{"events":[{"metric":"Viewed Product","properties":{"Price": 19.990,"Big":12345678901234567890}}]}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.Number
	if err := json.Unmarshal(b.Events[0].Properties, &m); err != nil {
		t.Fatal(err)
	}
	if m["Price"] != "19.990" || m["Big"] != "12345678901234567890" {
		t.Errorf("numbers changed: %s", b.Events[0].Properties)
	}
}

// The input form: the server builds each event with package snippets'
// builders, exactly as the render API builds the push for the same
// inputs; value is $value and unique_id $event_id, neither left in the
// properties.
func TestDecodeBatchInputs(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	const (
		mug  = `{"id":"p1","sku":"MUG","name":"Mug <b>","categories":["Kitchen"],"price":19.99}`
		pen  = `{"id":"p2","name":"Pen","categories":["Office","Kitchen"],"price":1.005,"compare_at_price":2}`
		cart = `{"id":"c-9","checkout_url":"https://shop.example/checkout","items":[{"product":` + mug + `,"quantity":3},{"product":` + pen + `,"quantity":1}]}`
	)
	at := testNow.Add(-10 * time.Minute)
	body := `{"events":[
		{"metric":"Viewed Product","product":` + pen + `,"time":` + strconv.FormatInt(testNow.UnixMilli(), 10) + `,"unique_id":"vp-1"},
		{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":` + pen + `,"quantity":1}},
		{"metric":"Started Checkout","cart":` + cart + `,"time":"` + at.Format(time.RFC3339) + `"},
		{"metric":"Started Checkout","cart":` + cart + `,"time":"2013-12-17T16:57:03Z","unique_id":"ignored-1"},
		{"metric":"Started Checkout","cart":` + strings.Replace(cart, `"c-9"`, `"gid://shop/Cart/9"`, 1) + `}
	]}`
	b, err := v.DecodeBatch([]byte(body), testNow)
	if err != nil {
		t.Fatal(err)
	}
	c := decodeCart(t, cart)
	odd := c
	odd.ID = "gid://shop/Cart/9"
	var pushes []snippets.Push
	for _, build := range []func() ([]snippets.Push, error){
		func() ([]snippets.Push, error) { return snippets.ViewedProductPushes(c.Items[1].Product) },
		func() ([]snippets.Push, error) { return snippets.AddedToCartPushes(c, c.Items[1]) },
		func() ([]snippets.Push, error) { return snippets.StartedCheckoutPushes(c, at) },
		func() ([]snippets.Push, error) {
			return snippets.StartedCheckoutPushes(c, time.Date(2013, 12, 17, 16, 57, 3, 0, time.UTC))
		},
		func() ([]snippets.Push, error) { return snippets.StartedCheckoutPushes(odd, testNow) },
	} {
		ps, err := build()
		if err != nil {
			t.Fatal(err)
		}
		pushes = append(pushes, ps[0])
	}
	type ev struct {
		Metric, Time, UID, Value string
		Props                    map[string]any
	}
	var want, got []ev
	for i, p := range pushes {
		var push []any
		if err := json.Unmarshal(p, &push); err != nil {
			t.Fatal(err)
		}
		props := push[2].(map[string]any)
		w := ev{Metric: push[1].(string), Time: testNow.Format(time.RFC3339), Props: props}
		if val, ok := props["$value"]; ok {
			w.Value = strconv.FormatFloat(val.(float64), 'f', -1, 64)
		}
		if id, ok := props["$event_id"]; ok {
			w.UID = id.(string)
		}
		delete(props, "$value")
		delete(props, "$event_id")
		switch i {
		case 0:
			w.UID = "vp-1"
		case 2:
			w.Time = at.Format(time.RFC3339)
		case 4:
			// "gid://shop/Cart/9_<secs>" does not fit a unique_id: digested.
			w.UID = eventUniqueID(w.UID)
			if !strings.HasPrefix(w.UID, "sc-") {
				t.Errorf("unique id %q kept", w.UID)
			}
		}
		want = append(want, w)
	}
	for _, e := range b.Events {
		g := ev{Metric: e.Metric, Time: e.Time.Format(time.RFC3339), UID: e.UniqueID}
		if e.Value.IsSet() {
			g.Value = e.Value.String()
		}
		if err := json.Unmarshal(e.Properties, &g.Props); err != nil {
			t.Fatal(err)
		}
		got = append(got, g)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if got[3].UID != "c-9_1387299423" || got[1].Value != "60.98" {
		t.Errorf("unique id %q, value %q", got[3].UID, got[1].Value)
	}

	// The same checkout twice in one second is one event, not an error.
	twice := `{"events":[{"metric":"Started Checkout","cart":` + cart + `},{"metric":"Started Checkout","cart":` + cart + `}]}`
	if b, err := v.DecodeBatch([]byte(twice), testNow); err != nil || len(b.Events) != 1 {
		t.Errorf("same checkout twice: %d events, %v", len(b.Events), err)
	}
}

func decodeCart(t *testing.T, s string) shop.Cart {
	t.Helper()
	var c shop.Cart
	if err := strictjson.Decode([]byte(s), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDecodeBatchInputsIgnoreUnknownMembers: a platform's product object
// with members the inputs do not define gives the same event as the bare
// input, as in the helper's plain build; an unknown member of the event
// itself is still refused.
func TestDecodeBatchInputsIgnoreUnknownMembers(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	const bare = `{"id":"p1","name":"Mug","price":5}`
	const rich = `{"id":"p1","variants":[{"id":"v1","price":"5.00"}],"name":"Mug","options":{"size":"L"},"price":5}`
	var got []klaviyo.Event
	for _, in := range []struct{ p, item string }{{bare, ""}, {rich, `"gift_wrap":true,`}} {
		p := in.p
		b, err := v.DecodeBatch([]byte(`{"events":[{"metric":"Viewed Product","unique_id":"u1","product":`+p+`},{"metric":"Added to Cart","unique_id":"u2","cart":{"id":"c","items":[{`+in.item+`"product":`+p+`,"quantity":2}]},"added":{"product":`+p+`,"quantity":2}}]}`), testNow)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got = append(got, b.Events...)
	}
	if d := cmp.Diff(got[:2], got[2:], moneyEq); d != "" {
		t.Errorf("rich inputs built other events (-bare +rich):\n%s", d)
	}
	_, err := v.DecodeBatch([]byte(`{"events":[{"metric":"Viewed Product","product":`+bare+`,"productz":1}]}`), testNow)
	if f := apperr.ErrorField(err); f != "events[0].productz" {
		t.Errorf("unknown event member: field %q (%v)", f, err)
	}
}

func TestDecodeBatchInputsReject(t *testing.T) {
	v := NewValidator([]string{"Viewed Collection"}, EventLimits{MaxArray: 2})
	ev := func(s string) string { return `{"events":[{"metric":"Viewed Product"},` + s + `]}` }
	const (
		p    = `{"id":"p1","name":"Mug","price":5}`
		line = `{"product":` + p + `,"quantity":1}`
		cart = `{"id":"c","items":[` + line + `]}`
	)
	tests := []struct{ name, body, field string }{
		{"bad quantity", ev(`{"metric":"Added to Cart","cart":{"id":"c","items":[` + line + `,{"product":{"id":"p2","name":"Pen","price":1},"quantity":0}]},"added":` + line + `}`), "events[1].cart.items[1].quantity"},
		{"quantity not a number", ev(`{"metric":"Started Checkout","cart":{"id":"c","items":[` + line + `,{"product":` + p + `,"quantity":"2"}]}}`), "events[1].cart.items[1].quantity"},
		{"price not a number", ev(`{"metric":"Viewed Product","product":{"id":"p1","name":"Mug","price":"5"}}`), "events[1].product.price"},
		{"product missing name", ev(`{"metric":"Viewed Product","product":{"id":"p1","price":5}}`), "events[1].product.name"},
		{"product not an object", ev(`{"metric":"Viewed Product","product":"p1"}`), "events[1].product"},
		{"added not in cart", ev(`{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":{"id":"p9","name":"X","price":1},"quantity":1}}`), "events[1].added"},
		{"added missing", ev(`{"metric":"Added to Cart","cart":` + cart + `}`), "events[1].added"},
		{"cart missing", ev(`{"metric":"Added to Cart","added":` + line + `}`), "events[1].cart"},
		{"empty cart", ev(`{"metric":"Started Checkout","cart":{"id":"c","items":[]}}`), "events[1].cart.items"},
		{"mixed with properties", ev(`{"metric":"Viewed Product","product":` + p + `,"properties":{"ProductName":"Mug"}}`), "events[1].properties"},
		{"mixed with value", ev(`{"metric":"Started Checkout","cart":` + cart + `,"value":5}`), "events[1].value"},
		{"product on a cart event", ev(`{"metric":"Added to Cart","cart":` + cart + `,"added":` + line + `,"product":` + p + `}`), "events[1].product"},
		{"cart on viewed product", ev(`{"metric":"Viewed Product","product":` + p + `,"cart":` + cart + `}`), "events[1].cart"},
		{"added on started checkout", ev(`{"metric":"Started Checkout","cart":` + cart + `,"added":` + line + `}`), "events[1].added"},
		{"inputs on active on site", ev(`{"metric":"Active on Site","product":` + p + `}`), "events[1].product"},
		{"inputs on a custom metric", ev(`{"metric":"Viewed Collection","cart":` + cart + `}`), "events[1].cart"},
		{"checkout before 1970", ev(`{"metric":"Started Checkout","cart":` + cart + `,"time":"1969-12-31T00:00:00Z"}`), "events[1].time"},
		{"over the array limit", ev(`{"metric":"Viewed Product","product":{"id":"p1","name":"Mug","price":5,"categories":["a","b","c"]}}`), "events[1].product"},
		{"value over the limit", ev(`{"metric":"Started Checkout","cart":{"id":"c","items":[{"product":{"id":"p1","name":"Mug","price":99999999},"quantity":1000}]}}`), "events[1].cart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.DecodeBatch([]byte(tt.body), testNow)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := apperr.ErrorField(err); got != tt.field {
				t.Errorf("field %q, want %q (%v)", got, tt.field, err)
			}
			if c := apperr.ErrorCode(err); c != apperr.EINVALID && c != apperr.EBADREQUEST {
				t.Errorf("code %q: want a 4xx", c)
			}
		})
	}
}
