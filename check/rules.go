package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rule is one check the pushes of a page must pass.
type Rule struct {
	// ID names the rule in reports, JSON and JUnit.
	ID string `json:"id"`
	// Why says what goes wrong in Klaviyo when the rule fails.
	Why string `json:"why"`
	// Example is what Klaviyo's integration guide shows.
	Example string `json:"example"`
}

// Rules are the rules of a check, in report order.
var Rules = []Rule{
	{"missing-property", "Each onsite event needs the properties Klaviyo's flows and templates read: without ProductName, ProductID or Price a browse-abandonment email has nothing to show, without Items an abandoned-cart email is empty.",
		`klaviyo.push(["track", "Viewed Product", {"ProductName": "Winnie the Pooh", "ProductID": "1111", "Price": 9.99, ...}])`},
	{"property-type", "Numbers must be JSON numbers and names strings: Klaviyo stores \"9.99\" as text, so revenue, price filters and sums ignore it.",
		`"Price": 9.99, "Quantity": 1, "$value": 29.98 (not "9.99", "$9.99" or "1")`},
	{"absolute-url", "URLs in events end up in emails, far from the shop: a relative or protocol-less URL leads nowhere.",
		`"URL": "http://www.example.com/path/to/product", "ImageURL": "http://www.example.com/path/to/product/image.png"`},
	{"value-sum", "$value is the cart's value: Klaviyo reports it as the revenue at stake, so it must equal the sum of the rows' RowTotal.",
		`"$value": 29.98 with rows "RowTotal": 9.99 and "RowTotal": 19.99`},
	{"added-item-in-cart", "Added to Cart carries the whole cart after the add: an Items list without the added product is the cart read before the add finished.",
		`"AddedItemProductID": "1112" and a row "ProductID": "1112" in Items`},
	{"checkout-event-id", "Started Checkout's $event_id is the cart id and the time in Unix seconds, so that a shopper who comes back with more items triggers it again while a reload does not duplicate it.",
		`"$event_id": "1000123_1387299423"`},
	{"identify-order", "identify must come before the events it identifies: an event pushed before identify in the same action is recorded for the anonymous visitor.",
		`klaviyo.push(["identify", {"email": "shopper@example.com"}]); then klaviyo.push(["track", "Started Checkout", {...}])`},
	{"duplicate-added-to-cart", "One click adds once: a handler bound twice sends two Added to Cart events and doubles the cart in Klaviyo's abandoned-cart flows.",
		`one klaviyo.push(["track", "Added to Cart", {...}]) per click on Add to Cart`},
	{"error-without-klaviyo", "Ad blockers remove klaviyo.js for many shoppers: the page must not throw when it is missing (use the klaviyo object init, never call klaviyo.js's API directly).",
		`the "Initialize the klaviyo object" snippet before any klaviyo.push`},
	{"uncaught-error", "An uncaught error stops the script that threw it: the pushes after it never happen (a product name with a quote that ends a string literal is the classic case).",
		`product data passed through a JSON encoder, never pasted into a quoted string`},
	{"double-escaped", "A string escaped twice reaches Klaviyo with its escapes: \"Salt &amp;amp; Pepper\" or a literal \\u003c shows as such in emails.",
		`"ProductName": "Salt & Pepper"`},
	{"unknown-product", "Product ids must match the catalog feed's ids: Klaviyo looks up the product by id for recommendations and back-in-stock.",
		`"ProductID": "1111" with a feed item "id": "1111"`},
	{"walk", "The steps could not be run on the page (a selector that never showed up, a page that did not load), so the events of the later steps were not checked.",
		`steps: - open: /products/kettle - click: "#add-to-cart"`},
}

// RuleByID returns the rule with this id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Problem is one failed rule.
type Problem struct {
	Rule string `json:"rule"`
	Mode Mode   `json:"mode"`
	// Step is the index of the step of the offending push or error.
	Step int `json:"step"`
	// URL is the document of the offending push (or the start URL).
	URL string `json:"url"`
	// Event is the call's event ("Viewed Product", "identify", ...).
	Event string `json:"event,omitempty"`
	// Field is the property, e.g. Items[1].RowTotal.
	Field string `json:"field,omitempty"`
	// Value is the offending value as JSON.
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Rule + ": ")
	if p.Event != "" {
		b.WriteString(p.Event)
		if p.Field != "" {
			b.WriteString(" " + p.Field)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Value != "" {
		b.WriteString(" (got " + p.Value + ")")
	}
	return b.String()
}

type kind int

const (
	kString  kind = iota
	kID           // a non-empty string or a number
	kNumber       // a finite JSON number
	kURL          // an absolute http(s) URL
	kStrings      // an array of strings
	kRows         // an array of cart rows
	kObject       // an object (trackViewedItem's Metadata)
)

type field struct {
	name     string
	kind     kind
	required bool
	sub      []field // kObject
}

var rowFields = []field{
	{"ProductID", kID, true, nil}, {"ProductName", kString, true, nil}, {"Quantity", kNumber, true, nil},
	{"ItemPrice", kNumber, true, nil}, {"RowTotal", kNumber, true, nil}, {"SKU", kString, false, nil},
	{"ProductURL", kURL, false, nil}, {"ImageURL", kURL, false, nil}, {"ProductCategories", kStrings, false, nil},
}

// schemas are the properties of the guide's onsite events; properties
// not listed are free.
var schemas = map[string][]field{
	"Viewed Product": {
		{"ProductName", kString, true, nil}, {"ProductID", kID, true, nil}, {"Price", kNumber, true, nil},
		{"SKU", kString, false, nil}, {"Categories", kStrings, false, nil}, {"ImageURL", kURL, false, nil},
		{"URL", kURL, false, nil}, {"Brand", kString, false, nil}, {"CompareAtPrice", kNumber, false, nil},
	},
	"trackViewedItem": {
		{"Title", kString, true, nil}, {"ItemId", kID, true, nil}, {"Categories", kStrings, false, nil},
		{"ImageUrl", kURL, false, nil}, {"Url", kURL, false, nil},
		{"Metadata", kObject, false, []field{{"Brand", kString, false, nil}, {"Price", kNumber, false, nil}, {"CompareAtPrice", kNumber, false, nil}}},
	},
	"Added to Cart": {
		{"$value", kNumber, true, nil}, {"AddedItemProductName", kString, true, nil}, {"AddedItemProductID", kID, true, nil},
		{"AddedItemPrice", kNumber, true, nil}, {"AddedItemQuantity", kNumber, true, nil}, {"ItemNames", kStrings, true, nil},
		{"Items", kRows, true, nil}, {"AddedItemSKU", kString, false, nil}, {"AddedItemCategories", kStrings, false, nil},
		{"AddedItemImageURL", kURL, false, nil}, {"AddedItemURL", kURL, false, nil}, {"CheckoutURL", kURL, false, nil},
	},
	"Started Checkout": {
		{"$event_id", kString, true, nil}, {"$value", kNumber, true, nil}, {"ItemNames", kStrings, true, nil},
		{"Items", kRows, true, nil}, {"CheckoutURL", kURL, false, nil}, {"Categories", kStrings, false, nil},
	},
}

// call is a decoded push.
type call struct {
	push    Push
	command string
	event   string         // metric of track, else the command
	props   map[string]any // the properties object, nil when absent
}

func decode(p Push) (call, bool) {
	dec := json.NewDecoder(bytes.NewReader(p.Call))
	dec.UseNumber()
	var arr []any
	if dec.Decode(&arr) != nil || len(arr) == 0 {
		return call{}, false
	}
	c := call{push: p}
	c.command, _ = arr[0].(string)
	c.event = c.command
	propsAt := 1
	if c.command == "track" {
		if len(arr) > 1 {
			c.event, _ = arr[1].(string)
		}
		propsAt = 2
	}
	if len(arr) > propsAt {
		c.props, _ = arr[propsAt].(map[string]any)
	}
	return c, c.command != ""
}

// evaluate applies every rule to one run.
func evaluate(res *Result, catalog map[string]bool) []Problem {
	var out []Problem
	add := func(rule string, c *call, fieldName, value, msg string, args ...any) {
		p := Problem{Rule: rule, Mode: res.Mode, URL: res.URL, Field: fieldName, Value: value, Message: fmt.Sprintf(msg, args...)}
		if c != nil {
			p.Step, p.URL, p.Event = c.push.Step, c.push.URL, c.event
		}
		out = append(out, p)
	}
	var calls []call
	for _, p := range res.Pushes {
		if c, ok := decode(p); ok {
			calls = append(calls, c)
		}
	}
	identified := false
	for i := range calls {
		c := &calls[i]
		if schema, ok := schemas[c.event]; ok && (c.command == "track" || c.command == "trackViewedItem") {
			if c.props == nil {
				add("missing-property", c, "", "", "the call has no properties object")
			} else {
				checkFields(c.props, schema, "", func(rule, f, v, msg string) { add(rule, c, f, v, "%s", msg) })
				checkCart(c, func(rule, f, v, msg string) { add(rule, c, f, v, "%s", msg) })
				if catalog != nil {
					for _, id := range productIDs(c) {
						if !catalog[id.value] {
							add("unknown-product", c, id.field, strconv.Quote(id.value), "the catalog feed has no product with this id")
						}
					}
				}
			}
		}
		walkStrings(c.props, "", func(f, s string) {
			if doubleEscaped.MatchString(s) {
				add("double-escaped", c, f, strconv.Quote(s), "the string carries an escape sequence meant for HTML or JSON source (%s)", doubleEscaped.FindString(s))
			}
		})
		switch {
		case c.command == "identify":
			identified = true
		case c.command == "track" && !identified:
			for j := i + 1; j < len(calls) && calls[j].push.Step == c.push.Step; j++ {
				if calls[j].command == "identify" {
					add("identify-order", c, "", "", "pushed before the identify of the same step (%d), so Klaviyo records it for the anonymous visitor", c.push.Step)
					break
				}
			}
		}
	}
	// Added to Cart: at most one per product per step.
	type key struct {
		step int
		id   string
	}
	seen := map[key]int{}
	for i := range calls {
		c := &calls[i]
		if c.event != "Added to Cart" || c.command != "track" || c.props == nil {
			continue
		}
		k := key{c.push.Step, fmt.Sprint(c.props["AddedItemProductID"])}
		if seen[k]++; seen[k] == 2 {
			add("duplicate-added-to-cart", c, "AddedItemProductID", k.id, "Added to Cart was pushed more than once for one action (step %d)", c.push.Step)
		}
	}
	errRule := "uncaught-error"
	if res.Mode == Blocked {
		errRule = "error-without-klaviyo"
	}
	reported := map[string]bool{}
	for _, e := range res.Errors {
		if reported[e.Text] {
			continue
		}
		reported[e.Text] = true
		p := Problem{Rule: errRule, Mode: res.Mode, Step: e.Step, URL: res.URL, Message: e.Text}
		if e.URL != "" {
			p.Message += " at " + e.URL
		}
		out = append(out, p)
	}
	return out
}

// checkFields checks presence and types of fields in props.
func checkFields(props map[string]any, schema []field, prefix string, add func(rule, field, value, msg string)) {
	for _, f := range schema {
		name := prefix + f.name
		v, ok := props[f.name]
		if !ok || v == nil {
			if f.required {
				add("missing-property", name, "", "required property is missing")
			}
			continue
		}
		switch f.kind {
		case kString:
			if s, ok := v.(string); !ok {
				add("property-type", name, jsonText(v), "want a string")
			} else if f.required && strings.TrimSpace(s) == "" {
				add("missing-property", name, `""`, "required property is empty")
			}
		case kID:
			switch x := v.(type) {
			case json.Number:
			case string:
				if strings.TrimSpace(x) == "" {
					add("missing-property", name, `""`, "required property is empty")
				}
			default:
				add("property-type", name, jsonText(v), "want a string (or a number)")
			}
		case kNumber:
			if _, ok := v.(json.Number); !ok {
				add("property-type", name, jsonText(v), "want a number")
			}
		case kURL:
			s, ok := v.(string)
			if !ok {
				add("property-type", name, jsonText(v), "want a URL string")
			} else if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("absolute-url", name, strconv.Quote(s), "want an absolute http(s) URL")
			}
		case kStrings:
			arr, ok := v.([]any)
			if !ok {
				add("property-type", name, jsonText(v), "want an array of strings")
				continue
			}
			for i, x := range arr {
				if _, ok := x.(string); !ok {
					add("property-type", fmt.Sprintf("%s[%d]", name, i), jsonText(x), "want a string")
				}
			}
		case kRows:
			arr, ok := v.([]any)
			if !ok {
				add("property-type", name, jsonText(v), "want an array of rows")
				continue
			}
			for i, x := range arr {
				row, ok := x.(map[string]any)
				if !ok {
					add("property-type", fmt.Sprintf("%s[%d]", name, i), jsonText(x), "want an object")
					continue
				}
				checkFields(row, rowFields, fmt.Sprintf("%s[%d].", name, i), add)
			}
		case kObject:
			obj, ok := v.(map[string]any)
			if !ok {
				add("property-type", name, jsonText(v), "want an object")
				continue
			}
			checkFields(obj, f.sub, name+".", add)
		}
	}
}

// checkCart applies value-sum, added-item-in-cart and checkout-event-id.
func checkCart(c *call, add func(rule, field, value, msg string)) {
	rows, _ := c.props["Items"].([]any)
	if value, ok := number(c.props["$value"]); ok && rows != nil {
		sum, all := 0.0, true
		for _, r := range rows {
			row, _ := r.(map[string]any)
			t, ok := number(row["RowTotal"])
			all = all && ok
			sum += t
		}
		if all && math.Abs(sum-value) > 0.005 {
			add("value-sum", "$value", jsonText(c.props["$value"]), fmt.Sprintf("want the sum of Items[].RowTotal, %s", strconv.FormatFloat(math.Round(sum*100)/100, 'f', -1, 64)))
		}
	}
	if c.event == "Added to Cart" && rows != nil {
		if id, ok := c.props["AddedItemProductID"]; ok && id != nil {
			found := slices.ContainsFunc(rows, func(r any) bool {
				row, _ := r.(map[string]any)
				return row != nil && fmt.Sprint(row["ProductID"]) == fmt.Sprint(id)
			})
			if !found {
				add("added-item-in-cart", "AddedItemProductID", jsonText(id), "no row of Items has this ProductID")
			}
		}
	}
	if c.event == "Started Checkout" {
		if id, ok := c.props["$event_id"].(string); ok && strings.TrimSpace(id) != "" {
			if msg := checkEventID(id, time.Now()); msg != "" {
				add("checkout-event-id", "$event_id", strconv.Quote(id), msg)
			}
		}
	}
}

var eventIDPattern = regexp.MustCompile(`^(.+)_([0-9]+)$`)

// checkEventID says what is wrong with a Started Checkout $event_id, or "".
// The seconds must be within a day of now: a check runs in real time, so
// anything else is milliseconds, a constant or a stale cart time.
func checkEventID(id string, now time.Time) string {
	m := eventIDPattern.FindStringSubmatch(id)
	if m == nil {
		return "want <cart id>_<unix seconds>"
	}
	sec, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil || sec < now.Add(-24*time.Hour).Unix() || sec > now.Add(24*time.Hour).Unix() {
		if len(m[2]) == 13 {
			return "the time is in milliseconds: want <cart id>_<unix seconds>"
		}
		return "the time is not the Unix seconds of now: want <cart id>_<unix seconds>"
	}
	return ""
}

type productID struct{ field, value string }

// productIDs lists the catalog ids a call refers to.
func productIDs(c *call) []productID {
	var out []productID
	one := func(f string, v any) {
		switch x := v.(type) {
		case string:
			out = append(out, productID{f, x})
		case json.Number:
			out = append(out, productID{f, x.String()})
		}
	}
	switch c.event {
	case "Viewed Product":
		one("ProductID", c.props["ProductID"])
	case "trackViewedItem":
		one("ItemId", c.props["ItemId"])
	case "Added to Cart":
		one("AddedItemProductID", c.props["AddedItemProductID"])
	}
	rows, _ := c.props["Items"].([]any)
	for i, r := range rows {
		if row, ok := r.(map[string]any); ok {
			one(fmt.Sprintf("Items[%d].ProductID", i), row["ProductID"])
		}
	}
	return out
}

// doubleEscaped matches an HTML character reference or a JSON escape left
// in a string: once in the page's JavaScript, strings hold plain text.
var doubleEscaped = regexp.MustCompile(`&(?:amp|lt|gt|quot|apos|#[0-9]+|#[xX][0-9a-fA-F]+);|\\u[0-9a-fA-F]{4}|\\[/"]`)

// walkStrings calls fn with every string in v and its path.
func walkStrings(v any, path string, fn func(path, s string)) {
	switch x := v.(type) {
	case string:
		fn(path, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkStrings(x[k], p, fn)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}
