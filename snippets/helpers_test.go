package snippets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
	"golang.org/x/net/html"
)

// money parses a decimal amount for fixtures.
func money(t testing.TB, s string) shop.Money {
	t.Helper()
	m, err := shop.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// seedCart is the two-book cart of the integration guide (Winnie the Pooh
// already in the cart, A Tale of Two Cities just added).
func seedCart(t testing.TB) (shop.Cart, shop.LineItem) {
	pooh := shop.Product{
		ID: "1111", SKU: "WINNIEPOOH", Name: "Winnie the Pooh",
		URL: "http://www.example.com/path/to/product", ImageURL: "http://www.example.com/path/to/product/image.png",
		Categories: []string{"Fiction", "Children"}, Price: money(t, "9.99"),
	}
	tale := shop.Product{
		ID: "1112", SKU: "TALEOFTWO", Name: "A Tale of Two Cities",
		URL: "http://www.example.com/path/to/product2", ImageURL: "http://www.example.com/path/to/product/image2.png",
		Categories: []string{"Fiction", "Classics"}, Price: money(t, "19.99"),
	}
	c := shop.Cart{
		ID: "1000123", CheckoutURL: "http://www.example.com/path/to/checkout",
		Items: []shop.LineItem{{Product: pooh, Quantity: 1}, {Product: tale, Quantity: 1}},
	}
	return c, c.Items[1]
}

// fullProduct has every optional field.
func fullProduct(t testing.TB) shop.Product {
	return shop.Product{
		ID: "1111", SKU: "WINNIEPOOH", Name: "Winnie the Pooh",
		URL: "http://www.example.com/path/to/product", ImageURL: "http://www.example.com/path/to/product/image.png",
		Categories: []string{"Fiction", "Children"}, Brand: "Kids Books",
		Price: money(t, "9.99"), CompareAtPrice: money(t, "12.50"),
	}
}

// render renders c with nonce (none when empty) and returns the HTML.
func render(t testing.TB, c templ.Component, nonce string) (string, error) {
	t.Helper()
	ctx := context.Background()
	if nonce != "" {
		ctx = templ.WithNonce(ctx, nonce)
	}
	var b bytes.Buffer
	err := c.Render(ctx, &b)
	return b.String(), err
}

// scriptElement is one <script> element of a rendered partial as an HTML5
// tokenizer (the same algorithm browsers use) sees it.
type scriptElement struct {
	Attrs map[string]string
	Text  string
}

// parseScripts tokenizes a partial and returns its script elements; any
// other element or non-blank text is an error, since a partial must be
// nothing but scripts.
func parseScripts(partial string) ([]scriptElement, error) {
	z := html.NewTokenizer(strings.NewReader(partial))
	var out []scriptElement
	var cur *scriptElement
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() == io.EOF {
				if cur != nil {
					return nil, fmt.Errorf("unterminated script element")
				}
				return out, nil
			}
			return nil, z.Err()
		case html.StartTagToken:
			tok := z.Token()
			if tok.Data != "script" || cur != nil {
				return nil, fmt.Errorf("unexpected start tag <%s>", tok.Data)
			}
			cur = &scriptElement{Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				cur.Attrs[a.Key] = a.Val
			}
		case html.TextToken:
			text := string(z.Text())
			if cur == nil {
				if strings.TrimSpace(text) != "" {
					return nil, fmt.Errorf("text outside a script element: %q", text)
				}
				continue
			}
			cur.Text += text
		case html.EndTagToken:
			tok := z.Token()
			if tok.Data != "script" || cur == nil {
				return nil, fmt.Errorf("unexpected end tag </%s>", tok.Data)
			}
			out = append(out, *cur)
			cur = nil
		default:
			return nil, fmt.Errorf("unexpected token %q", z.Token().String())
		}
	}
}

// pushCall is how every push appears in a partial's script text.
const pushCall = "klaviyo.push("

// extractPushes parses a rendered partial the way a browser would split it
// into script elements, then reads the argument of each klaviyo.push( call
// as one JSON value (a JavaScript expression that is also JSON) and checks
// that the call is closed right after it. It returns the arguments' raw
// text in order.
func extractPushes(partial string) ([]json.RawMessage, []scriptElement, error) {
	scripts, err := parseScripts(partial)
	if err != nil {
		return nil, nil, err
	}
	var pushes []json.RawMessage
	for _, s := range scripts {
		text := s.Text
		for {
			i := strings.Index(text, pushCall)
			if i < 0 {
				break
			}
			text = text[i+len(pushCall):]
			if !strings.HasPrefix(text, "[") {
				// The loader's own push function forwards arguments.
				continue
			}
			dec := json.NewDecoder(strings.NewReader(text))
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, nil, fmt.Errorf("push argument is not JSON: %v in %q", err, text)
			}
			n := int(dec.InputOffset())
			if !strings.HasPrefix(text[n:], ");") {
				return nil, nil, fmt.Errorf("push call not closed after its argument: %q", text[n:])
			}
			pushes = append(pushes, raw)
			text = text[n:]
		}
	}
	return pushes, scripts, nil
}

// marshal encodes v with encoding/json (HTML escaping on, as Marshal
// does), the independent reference for the hand-written writer.
func marshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
