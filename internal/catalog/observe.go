package catalog

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// eventProducts is the part of an event's properties that names catalog
// products.
type eventProducts struct {
	ProductID          json.RawMessage `json:"ProductID"`
	AddedItemProductID json.RawMessage `json:"AddedItemProductID"`
	Items              []struct {
		ProductID json.RawMessage `json:"ProductID"`
	} `json:"Items"`
}

// idText turns a JSON string or number into the id text the catalog
// compares; anything else is "".
func idText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}

// observeProps observes the products an event's properties name: its
// ProductID (Viewed Product, Ordered Product), else AddedItemProductID
// (Added to Cart), else every Items[].ProductID (Started Checkout, Placed
// Order). One event counts its own product once, not the whole cart again.
func (c *Catalog) observeProps(props []byte) {
	var ep eventProducts
	if json.Unmarshal(props, &ep) != nil {
		return
	}
	if id := idText(ep.ProductID); id != "" {
		c.Observe(id)
		return
	}
	if id := idText(ep.AddedItemProductID); id != "" {
		c.Observe(id)
		return
	}
	for _, it := range ep.Items {
		if id := idText(it.ProductID); id != "" {
			c.Observe(id)
		}
	}
}

// ObserveEvents observes the products named by server-side or proxied
// events. The proxy calls it for every batch it accepts.
func (c *Catalog) ObserveEvents(events []klaviyo.Event) {
	if c == nil || !c.Configured() {
		return
	}
	for _, e := range events {
		c.observeProps(e.Properties)
	}
}
