package proxy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestDecodeBatchAccepts(t *testing.T) {
	v := NewValidator([]string{"Viewed Collection"}, Limits{})
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
	v := NewValidator([]string{"Placed Order"}, Limits{MaxEvents: 3, MaxDepth: 3})
	ev := func(s string) string { return `{"events":[` + s + `]}` }
	deep := `{"a":{"b":{"c":{"d":1}}}}`
	tests := []struct {
		name, body  string
		code, field string
	}{
		{"malformed JSON", `{"events":[`, snippetd.EBADREQUEST, ""},
		{"not UTF-8", "{\"events\":[{\"metric\":\"\xff\"}]}", snippetd.EBADREQUEST, ""},
		{"trailing data", ev(`{"metric":"Viewed Product"}`) + `{}`, snippetd.EBADREQUEST, ""},
		{"unknown field", `{"events":[],"extra":1}`, snippetd.EBADREQUEST, "extra"},
		{"no events", `{"profile":{}}`, snippetd.EINVALID, "events"},
		{"empty events", `{"events":[]}`, snippetd.EINVALID, "events"},
		{"too many events", ev(strings.Repeat(`{"metric":"Viewed Product"},`, 3) + `{"metric":"Viewed Product"}`), snippetd.EINVALID, "events"},
		{"placed order", ev(`{"metric":"Placed Order"}`), snippetd.EINVALID, "events[0].metric"},
		{"server metric any case", ev(`{"metric":"Viewed Product"},{"metric":"Ordered Product"}`), snippetd.EINVALID, "events[1].metric"},
		{"metric missing", ev(`{"properties":{}}`), snippetd.EINVALID, "events[0].metric"},
		{"backfill", ev(`{"metric":"Viewed Product","backfill":false}`), snippetd.EINVALID, "events[0].backfill"},
		{"value_currency", ev(`{"metric":"Added to Cart","value":1,"value_currency":"USD"}`), snippetd.EINVALID, "events[0].value_currency"},
		{"negative value", ev(`{"metric":"Added to Cart","value":-1}`), snippetd.EINVALID, "events[0].value"},
		{"huge value", ev(`{"metric":"Added to Cart","value":1e12}`), snippetd.EINVALID, "events[0].value"},
		{"value string", ev(`{"metric":"Added to Cart","value":"5"}`), snippetd.EINVALID, "events[0].value"},
		{"value huge exponent", ev(`{"metric":"Added to Cart","value":1e100000}`), snippetd.EINVALID, "events[0].value"},
		{"properties array", ev(`{"metric":"Viewed Product","properties":[1]}`), snippetd.EINVALID, "events[0].properties"},
		{"properties too deep", ev(`{"metric":"Viewed Product","properties":` + deep + `}`), snippetd.EINVALID, "events[0].properties.a.b.c"},
		{"bad time", ev(`{"metric":"Viewed Product","time":"yesterday"}`), snippetd.EINVALID, "events[0].time"},
		{"negative time", ev(`{"metric":"Viewed Product","time":-5}`), snippetd.EINVALID, "events[0].time"},
		{"bad unique_id", ev(`{"metric":"Viewed Product","unique_id":"a b"}`), snippetd.EINVALID, "events[0].unique_id"},
		{"repeated unique_id", ev(`{"metric":"Viewed Product","unique_id":"x"},{"metric":"Viewed Product","unique_id":"x"}`), snippetd.EINVALID, "events[1].unique_id"},
		{"profile bad email", `{"events":[{"metric":"Viewed Product"}],"profile":{"email":"nope"}}`, snippetd.EINVALID, "profile.email"},
		{"profile bad phone", `{"events":[{"metric":"Viewed Product"}],"profile":{"phone_number":"555-1234"}}`, snippetd.EINVALID, "profile.phone_number"},
		{"profile _kx", `{"events":[{"metric":"Viewed Product"}],"profile":{"_kx":"abc"}}`, snippetd.EINVALID, "_kx"},
		{"profile location", `{"events":[{"metric":"Viewed Product"}],"profile":{"location":{"ip":"1.2.3.4"}}}`, snippetd.EINVALID, "location"},
		{"bad kx", `{"events":[{"metric":"Viewed Product"}],"kx":"<script>"}`, snippetd.EINVALID, "kx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.DecodeBatch([]byte(tt.body), testNow)
			if err == nil {
				t.Fatal("accepted")
			}
			got := [2]string{snippetd.ErrorCode(err), snippetd.ErrorField(err)}
			if d := cmp.Diff([2]string{tt.code, tt.field}, got); d != "" {
				t.Errorf("code, field (-want +got):\n%s\n(message %q)", d, snippetd.ErrorMessage(err))
			}
		})
	}
}

func TestDecodeIdentify(t *testing.T) {
	v := NewValidator(nil, Limits{})
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
		if _, err := v.DecodeIdentify([]byte(body)); snippetd.ErrorField(err) != field {
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
	v := NewValidator([]string{"Refunded Order"}, Limits{})
	if _, err := v.DecodeBatch([]byte(`{"events":[{"metric":"Refunded Order"}]}`), testNow); err == nil {
		t.Error("a server-side metric passed as custom was accepted")
	}
}

func TestPropertiesKeepNumbers(t *testing.T) {
	v := NewValidator(nil, Limits{})
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
