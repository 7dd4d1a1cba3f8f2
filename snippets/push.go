package snippets

import (
	"context"
	"encoding/json"
	"html"
	"io"

	"github.com/a-h/templ"

	"github.com/snippetd/snippetd/internal/jsonw"
	"github.com/snippetd/snippetd/shop"
)

// Event is one track call as a builder makes it (ViewedProductEvent,
// AddedToCartEvent, StartedCheckoutEvent): the metric, the special $event_id and
// $value apart, and the other properties. A page sends it with
// klaviyo.push(e.Push()); a server sends it to Klaviyo's events API with
// EventID as the unique id and Value as the value, without reading a push
// back apart.
type Event struct {
	// Metric is the metric name, such as "Viewed Product".
	Metric string
	// EventID is $event_id, the id Klaviyo deduplicates the event by (""
	// when the builder sets none).
	EventID string
	// Value is $value (not set when the builder sets none).
	Value shop.Money
	// Properties is the properties object without $event_id and $value:
	// compact JSON whose strings are safe inside a <script> element.
	Properties json.RawMessage
}

// Push returns ["track",Metric,{...}] with $event_id and $value, when set,
// as the first members of the properties: the order Klaviyo's guide shows.
func (e Event) Push() Push {
	b := make([]byte, 0, 64+len(e.Metric)+len(e.EventID)+len(e.Properties))
	b = append(b, `["track",`...)
	b = jsonw.AppendString(b, e.Metric)
	b = append(b, ",{"...)
	first := true
	if e.EventID != "" {
		b = field(b, "$event_id", first)
		b = jsonw.AppendString(b, e.EventID)
		first = false
	}
	if e.Value.IsSet() {
		b = field(b, "$value", first)
		b = appendMoney(b, e.Value)
		first = false
	}
	props := e.Properties
	if len(props) < 2 {
		props = json.RawMessage("{}")
	}
	if inner := props[1 : len(props)-1]; len(inner) > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, inner...)
	}
	return Push(append(b, "}]"...))
}

// The JavaScript around the pushes: they go to window.klaviyo, or straight
// onto the queue klaviyo.js drains when the loader has not run yet, so that
// a page never throws when the loader is missing or placed later.
var (
	scriptOpen       = []byte(`<script>`)
	scriptNonceOpen  = []byte(`<script nonce="`)
	scriptNonceClose = []byte(`">`)
	pushPrologue     = []byte(`(function(klaviyo){`)
	pushCallOpen     = []byte(`klaviyo.push(`)
	pushCallClose    = []byte(`);`)
	pushEpilogue     = []byte(`})(window.klaviyo||(window._klOnsite=window._klOnsite||[]));</script>`)
)

// pushScript writes one <script> element (with the context's CSP nonce)
// whose code calls klaviyo.push(p); for each push in order.
//
// It is Go rather than a templ script element with {{ p }} because templ
// passes every {{ }} value in a script through encoding/json, which
// re-scans and copies the payload: that was more than half of the time of
// a render. The pushes are bytes this package produced and escaped itself
// (see json.go), which is what writing raw is for; the nonce is escaped as
// templ escapes attributes.
func pushScript(ps ...Push) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		// w is templ's buffered writer: small writes cost a copy each and
		// no allocation.
		var err error
		write := func(b []byte) {
			if err == nil {
				_, err = w.Write(b)
			}
		}
		if nonce := templ.GetNonce(ctx); nonce != "" {
			write(scriptNonceOpen)
			write([]byte(html.EscapeString(nonce)))
			write(scriptNonceClose)
		} else {
			write(scriptOpen)
		}
		write(pushPrologue)
		for _, p := range ps {
			write(pushCallOpen)
			write(p)
			write(pushCallClose)
		}
		write(pushEpilogue)
		return err
	})
}
