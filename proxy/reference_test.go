package proxy

// The batch decoder as it was before the one-pass decode of input-form
// events (commit cab5f84), kept as the oracle that TestDecodeBatchAgrees
// and FuzzDecodeBatch hold DecodeBatch to: the same batch, or the same
// error (code, field and message), for every body.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

var refUniqueIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:\-]+$`)

type refWireBatch struct {
	Events  []refWireEvent `json:"events"`
	Profile *wireProfile   `json:"profile"`
	// Kx is the _kx parameter of the landing page, which the helper keeps
	// for the session (the Referer carries it only on that first page).
	Kx string `json:"kx"`
	// Consent is the shopper's consent flag; required when the operator
	// enforces consent.
	Consent *bool `json:"consent"`
}

type refWireEvent struct {
	Metric        string          `json:"metric"`
	Properties    json.RawMessage `json:"properties"`
	Time          json.RawMessage `json:"time"`
	UniqueID      string          `json:"unique_id"`
	Value         json.RawMessage `json:"value"`
	Product       json.RawMessage `json:"product"`
	Cart          json.RawMessage `json:"cart"`
	Added         json.RawMessage `json:"added"`
	Backfill      json.RawMessage `json:"backfill"`
	ValueCurrency json.RawMessage `json:"value_currency"`
}

func (v *Validator) refDecodeBatch(body []byte, now time.Time) (Batch, error) {
	var w refWireBatch
	if err := strictjson.Decode(body, &w); err != nil {
		return Batch{}, prefixField(err)
	}
	var b Batch
	if w.Events == nil {
		return b, apperr.FieldErrorf("events", "is required")
	}
	if len(w.Events) == 0 {
		return b, apperr.FieldErrorf("events", "must hold at least one event")
	}
	if len(w.Events) > v.limits.MaxEvents {
		return b, apperr.FieldErrorf("events", "holds %d events; at most %d per request", len(w.Events), v.limits.MaxEvents)
	}
	if w.Profile != nil {
		c, err := validateProfile(*w.Profile, "profile")
		if err != nil {
			return b, err
		}
		b.Profile = c
	}
	kx, err := validateKx(w.Kx, "kx")
	if err != nil {
		return b, err
	}
	b.Kx = kx
	b.Consent = w.Consent != nil && *w.Consent
	seen := map[string]int{}
	for i, we := range w.Events {
		field := fmt.Sprintf("events[%d]", i)
		e, derived, err := v.refValidateEvent(we, field, now)
		if err != nil {
			return b, err
		}
		if e.UniqueID != "" {
			key := e.Metric + "\x00" + e.UniqueID
			if j, dup := seen[key]; dup {
				if derived {
					// A second Started Checkout of the same cart in the
					// same second is the same checkout: Klaviyo would keep
					// the first one only, so it is dropped here.
					continue
				}
				return b, apperr.FieldErrorf(field+".unique_id", "repeats events[%d].unique_id for the same metric", j)
			}
			seen[key] = i
		}
		b.Events = append(b.Events, e)
	}
	return b, nil
}

func (v *Validator) refValidateEvent(w refWireEvent, field string, now time.Time) (e Event, derived bool, err error) {
	switch {
	case w.Backfill != nil:
		return e, false, apperr.FieldErrorf(field+".backfill", "browsers may not set backfill")
	case w.ValueCurrency != nil:
		return e, false, apperr.FieldErrorf(field+".value_currency", "browsers may not set value_currency; the account's currency applies")
	case w.Metric == "":
		return e, false, apperr.FieldErrorf(field+".metric", "is required")
	case !v.allowed[w.Metric]:
		return e, false, apperr.FieldErrorf(field+".metric", "%q may not be sent from a browser; allowed: %s", truncate(w.Metric, 64), strings.Join(v.allowedNames(), ", "))
	}
	e.Metric = w.Metric

	sent, err := refParseTime(w.Time, field+".time")
	if err != nil {
		return e, false, err
	}
	now = now.UTC().Truncate(time.Second)
	e.Time = sent
	if sent.IsZero() || sent.Before(now.Add(-v.limits.PastWindow)) || sent.After(now.Add(v.limits.FutureWindow)) {
		e.Time = now
	}

	if w.UniqueID != "" {
		if len(w.UniqueID) > 128 || !refUniqueIDRe.MatchString(w.UniqueID) {
			return e, false, apperr.FieldErrorf(field+".unique_id", "must be 1 to 128 letters, digits or -_.:")
		}
		e.UniqueID = w.UniqueID
	}

	if present(w.Product) || present(w.Cart) || present(w.Added) {
		if sent.IsZero() {
			sent = now
		}
		derived, err = v.refBuildEvent(&e, w, field, sent)
		return e, derived, err
	}

	props, err := v.validateProperties(w.Properties, field+".properties")
	if err != nil {
		return e, false, err
	}
	e.Properties = props

	if present(w.Value) {
		m, err := parseValue(bytes.TrimSpace(w.Value))
		if err != nil {
			return e, false, apperr.FieldErrorf(field+".value", "%s", err.Error())
		}
		if err := v.checkValue(m, field+".value"); err != nil {
			return e, false, err
		}
		e.Value = m
	}
	return e, false, nil
}

func (v *Validator) refBuildEvent(e *Event, w refWireEvent, field string, at time.Time) (derived bool, err error) {
	switch {
	case present(w.Properties):
		return false, apperr.FieldErrorf(field+".properties", "cannot be sent with product, cart or added: the server builds the properties from them")
	case present(w.Value):
		return false, apperr.FieldErrorf(field+".value", "cannot be sent with product, cart or added: the server computes the value from them")
	}
	// wrongInput names the first input the metric does not take.
	wrongInput := func(takes string, names ...string) error {
		for i, raw := range []json.RawMessage{w.Product, w.Cart, w.Added} {
			if name := [...]string{"product", "cart", "added"}[i]; present(raw) && !slices.Contains(names, name) {
				return apperr.FieldErrorf(field+"."+name, "is not an input of %s, which takes %s", e.Metric, takes)
			}
		}
		return nil
	}
	var pushes []snippets.Push
	switch e.Metric {
	case "Viewed Product":
		var p shop.Product
		if err := wrongInput("product", "product"); err != nil {
			return false, err
		}
		if err := refDecodeInput(w.Product, &p, field+".product"); err != nil {
			return false, err
		}
		pushes, err = snippets.ViewedProductPushes(p)
	case "Added to Cart":
		var (
			c     shop.Cart
			added shop.LineItem
		)
		if err := wrongInput("cart and added", "cart", "added"); err != nil {
			return false, err
		}
		if err := refDecodeInput(w.Cart, &c, field+".cart"); err != nil {
			return false, err
		}
		if err := refDecodeInput(w.Added, &added, field+".added"); err != nil {
			return false, err
		}
		pushes, err = snippets.AddedToCartPushes(c, added)
	case "Started Checkout":
		var c shop.Cart
		if err := wrongInput("cart", "cart"); err != nil {
			return false, err
		}
		if err := refDecodeInput(w.Cart, &c, field+".cart"); err != nil {
			return false, err
		}
		pushes, err = snippets.StartedCheckoutPushes(c, at)
	default:
		return false, wrongInput("properties: product, cart and added are inputs of Viewed Product, Added to Cart and Started Checkout only")
	}
	if err != nil {
		return false, apperr.PrefixField(field, err)
	}

	// The first push is ["track", metric, properties]: copy the properties
	// member by member, taking $value and $event_id out (they become the
	// event's value and unique id), without decoding the rest.
	props, value, eventID, err := refSplitTrack(pushes[0])
	if err != nil {
		return false, fmt.Errorf("proxy: builder push %s: %w", pushes[0], err)
	}
	input := field + ".product"
	if e.Metric != "Viewed Product" {
		input = field + ".cart"
	}
	if value != nil {
		var m shop.Money
		if err := m.UnmarshalJSON(value); err != nil {
			return false, fmt.Errorf("proxy: builder $value %s: %w", value, err)
		}
		if err := v.checkValue(m, input); err != nil {
			return false, apperr.FieldErrorf(input, "totals %s: the event value %s", m, apperr.ErrorMessage(err))
		}
		e.Value = m
	}
	if eventID != nil {
		var id string
		if err := json.Unmarshal(eventID, &id); err != nil {
			return false, fmt.Errorf("proxy: builder $event_id %s: %w", eventID, err)
		}
		e.UniqueID = refEventUniqueID(id)
		derived = true
	}
	// The inputs' sizes are the browser's: the built properties must still
	// pass the limits every event is held to.
	built, err := v.validateProperties(json.RawMessage(props), field+".properties")
	if err != nil {
		return false, apperr.FieldErrorf(input, "gives properties over the limits (%s: %s)", apperr.ErrorField(err), apperr.ErrorMessage(err))
	}
	e.Properties = built
	return derived, nil
}

func refSplitTrack(push []byte) (props, value, eventID jsontext.Value, err error) {
	dec := jsontext.NewDecoder(bytes.NewReader(push))
	for _, want := range []jsontext.Kind{'[', '"', '"', '{'} { // [ "track", metric, {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, nil, nil, err
		}
		if tok.Kind() != want {
			return nil, nil, nil, fmt.Errorf("unexpected %v", tok.Kind())
		}
	}
	out := make([]byte, 0, len(push))
	out = append(out, '{')
	for dec.PeekKind() != '}' {
		// A value read is valid only until the next read: copy as we go.
		raw, err := dec.ReadValue()
		if err != nil {
			return nil, nil, nil, err
		}
		name := string(raw)
		val, err := dec.ReadValue()
		if err != nil {
			return nil, nil, nil, err
		}
		switch name {
		case `"$value"`:
			value = val.Clone()
			continue
		case `"$event_id"`:
			eventID = val.Clone()
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, name...), ':'), val...)
	}
	return append(out, '}'), value, eventID, nil
}

func refDecodeInput(raw json.RawMessage, v any, field string) error {
	if !present(raw) {
		return apperr.FieldErrorf(field, "is required")
	}
	if err := strictjson.DecodeWith(raw, v); err != nil {
		return apperr.PrefixField(field, err)
	}
	return nil
}

func refEventUniqueID(id string) string {
	if len(id) <= 128 && refUniqueIDRe.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sc-" + hex.EncodeToString(sum[:16])
}

func refParseTime(raw json.RawMessage, field string) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
		}
		return t.UTC().Truncate(time.Second), nil
	}
	var ms json.Number
	if err := json.Unmarshal(raw, &ms); err != nil {
		return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
	}
	f, err := ms.Float64()
	if err != nil || f < 0 || f > 1e14 {
		return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
	}
	return time.UnixMilli(int64(f)).UTC().Truncate(time.Second), nil
}

// agreeWithReference reports how DecodeBatch and the reference differ on
// body, or "".
func agreeWithReference(v *Validator, body []byte, now time.Time) string {
	got, gotErr := v.DecodeBatch(body, now)
	want, wantErr := v.refDecodeBatch(body, now)
	if (gotErr == nil) != (wantErr == nil) {
		return fmt.Sprintf("error %v, reference %v", gotErr, wantErr)
	}
	if gotErr != nil {
		g := [3]string{apperr.ErrorCode(gotErr), apperr.ErrorField(gotErr), apperr.ErrorMessage(gotErr)}
		w := [3]string{apperr.ErrorCode(wantErr), apperr.ErrorField(wantErr), apperr.ErrorMessage(wantErr)}
		if g != w {
			return fmt.Sprintf("error %q, reference %q", g, w)
		}
		return ""
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b shop.Money) bool { return a.IsSet() == b.IsSet() && a.String() == b.String() })); d != "" {
		return fmt.Sprintf("batch (-reference +got):\n%s", d)
	}
	return ""
}

// TestDecodeBatchAgrees holds DecodeBatch to the reference on bodies that
// reach each of its paths and errors: the fuzz seeds, and members null,
// repeated, misplaced, of the wrong type, alone or with an earlier error.
func TestDecodeBatchAgrees(t *testing.T) {
	v := NewValidator([]string{"Viewed Collection"}, Limits{MaxEvents: 3})
	product := `{"id":"p1","name":"Mug","sku":"M","url":"https://s.example/p","categories":["K"],"price":12.5,"compare_at_price":15,"variants":[{"id":1}]}`
	cart := `{"id":"c1","checkout_url":"https://s.example/co","items":[{"product":` + product + `,"quantity":2}]}`
	added := `{"product":` + product + `,"quantity":1}`
	events := []string{
		`{"metric":"Viewed Product","product":` + product + `,"unique_id":"vp-1"}`,
		`{"metric":"Viewed Product","product":` + product + `,"time":1796212740000}`,
		`{"metric":"Viewed Product","product":null}`,
		`{"metric":"Viewed Product","product":` + product + `,"cart":null,"added":null,"properties":null,"value":null}`,
		`{"metric":"Viewed Product","product":` + product + `,"properties":{}}`,
		`{"metric":"Viewed Product","product":` + product + `,"value":1}`,
		`{"metric":"Viewed Product","product":` + product + `,"cart":` + cart + `}`,
		`{"metric":"Viewed Product","product":{"id":"p1","name":"Mug","price":"12.5"}}`,
		`{"metric":"Viewed Product","product":{"id":1,"name":"Mug","price":1}}`,
		`{"metric":"Viewed Product","product":{"id":"p","name":"","price":1}}`,
		`{"metric":"Viewed Product","product":{"id":"p","name":"n","price":-1}}`,
		`{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1,"id":"q"}}`,
		`{"metric":"Viewed Product","product":[]}`,
		`{"metric":"Viewed Product","product":"x"}`,
		`{"metric":"Viewed Product","product":  ` + product + `  ,"unique_id":"a b"}`,
		`{"metric":"Placed Order","product":{"id":1}}`,
		`{"metric":"Viewed Product","backfill":null,"product":{"id":1}}`,
		`{"metric":"Viewed Product","value_currency":"USD","product":` + product + `}`,
		`{"metric":"Viewed Product","time":"x","product":{"id":1}}`,
		`{"metric":"Added to Cart","cart":` + cart + `,"added":` + added + `}`,
		`{"metric":"Added to Cart","cart":` + cart + `}`,
		`{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":` + product + `,"quantity":"1"}}`,
		`{"metric":"Added to Cart","cart":{"id":"c1","items":"x"},"added":{"quantity":"1"}}`,
		`{"metric":"Added to Cart","added":` + added + `,"product":` + product + `}`,
		`{"metric":"Started Checkout","cart":` + cart + `,"time":"2026-11-27T11:59:30Z"}`,
		`{"metric":"Started Checkout","cart":` + cart + `,"added":` + added + `}`,
		`{"metric":"Started Checkout","cart":{"id":"c1","items":[{"product":` + product + `,"quantity":100000000}]}}`,
		`{"metric":"Viewed Collection","product":` + product + `}`,
		`{"metric":"Viewed Collection","properties":{"a":1},"value":2,"unique_id":"x"}`,
		`{"metric":"Viewed Product","properties":{"ProductName":"Mug"},"unique_id":"vp-1"}`,
		`{"metric":"Viewed Product","properties":{"a":1},"properties":{"a":2}}`,
		`{"metric":"Viewed Product","prodcut":{}}`,
		`{"metric":"Viewed Product","product":` + product + `,"unique_id":"x"}`,
		// Nulls, escapes, repeats and case in member names.
		`{"metric":null,"product":` + product + `}`,
		`{"metric":"Viewed Product","unique_id":null,"product":` + product + `}`,
		`{"metric":"Viewed Product","unique_id":7,"product":` + product + `}`,
		`{"metric":"Viewed Product","unique_\u0069d":"x","product":` + product + `}`,
		`{"metric":"Viewed \u0050roduct","product":` + product + `}`,
		`{"metric":"Viewed Product","metric":"Viewed Product","product":` + product + `}`,
		`{"metric":"Viewed Product","Metric":"Viewed Product","product":` + product + `}`,
		`{"metric":"Viewed Product","properties":{"a":1},"time":1796212740000,"value":2,"backfill":null,"value_currency":null,"cart":null,"added":null,"unique_id":"x"}`,
	}
	bodies := []string{`{}`, `{"events":null}`, `{"events":[]}`, `{"events":{}}`, `[]`, ``, `{"events":[null]}`, `{"events":[1]}`, `{"events":[{}]}`,
		`{"events":[{"metric":"Viewed Product"}],"profile":{"_kx":"a"}}`, `{"events":[{"metric":"Viewed Product"}]} x`,
		`{"events":[{"metric":"Viewed Product","product":` + product + `}],"events":[]}`,
		"{\"events\":[{\"metric\":\"Viewed Product\",\"product\":{\"id\":\"\xff\",\"name\":\"n\",\"price\":1}}]}",
		`{"events":[{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1}`,
	}
	for _, e := range events {
		bodies = append(bodies,
			`{"events":[`+e+`]}`,
			`{"events":[`+e+`],"profile":{"email":"a@b.co"},"kx":"k.ABC","consent":true}`,
			`{"events":[`+e+`,`+e+`]}`,
			`{"events":[`+events[0]+`,`+e+`]}`,
			`{"events":[`+e+`,`+e+`,`+e+`,`+e+`]}`,
			`{"profile":{"email":"x"},"events":[`+e+`]}`,
			`{"events":[`+e+`],"kx":"a b"}`,
			`{"events":[`+e+`],"profile":null}`,
			`{"events":[`+e+`],"profile":{}}`,
			`{"events":[`+e+`],"profile":"x"}`,
			`{"events":[`+e+`],"profile":{"email":"a@b"}}`,
		)
	}
	for _, body := range bodies {
		if d := agreeWithReference(v, []byte(body), testNow); d != "" {
			t.Errorf("%s\n%s", body, d)
		}
	}
}

// TestDecodeBatchOnePass checks that the bodies the helper sends take
// decodeBatch's one pass, every member of wireEvent included, and that
// what it leaves to the general decoder (an input that does not decode,
// an unknown member) does not.
func TestDecodeBatchOnePass(t *testing.T) {
	product := `{"id":"p1","name":"Mug","price":12.5,"variants":[]}`
	cart := `{"id":"c1","items":[{"product":` + product + `,"quantity":2}]}`
	for _, tt := range []struct {
		body string
		fast bool
	}{
		{`{"events":[{"metric":"Viewed Product","unique_id":"b1-1","product":` + product + `}],"profile":{}}`, true},
		{`{"events":[{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":` + product + `,"quantity":1}}],"kx":"k.A","consent":true}`, true},
		{`{"events":[{"metric":"m","properties":{},"time":1,"unique_id":"u","value":1,"product":null,"cart":null,"added":null,"backfill":1,"value_currency":"x"}]}`, true},
		{`{"events":[{ "metric" : "Viewed Product" , "product" : ` + product + ` }]}`, true},
		{`{"events":[null]}`, true},
		{`{"events":[{"metric":null}]}`, true},
		{`{"events":[{"m\u0065tric":"x"}]}`, true},
		{`{"events":[{"metric":"Viewed Product","product":{"price":"1"}}]}`, false},
		{`{"events":[{"metric":"x","other":1}]}`, false},
	} {
		var fast wireBatch[fastEvent]
		if got := strictjson.Decode([]byte(tt.body), &fast) == nil; got != tt.fast {
			t.Errorf("%s: one pass %v, want %v", tt.body, got, tt.fast)
		}
		if d := agreeWithReference(NewValidator(nil, Limits{}), []byte(tt.body), testNow); d != "" {
			t.Errorf("%s: %s", tt.body, d)
		}
	}
}
