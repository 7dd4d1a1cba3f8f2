package proxy

import (
	"bytes"
	"unicode/utf8"

	"github.com/snippetd/snippetd/internal/jsonscan"
	"github.com/snippetd/snippetd/shop"
)

// fastDecodeBatch is decodeBatch's fast path: a hand-written single pass
// over the bodies browsers send (the helper's input form and the
// properties form), giving what the JSON v2 one pass gives for them,
// without reflection and with one string copy of the body for every
// string member. It answers only "certainly this batch": it declines
// (ok false) everything it does not read itself — an escape or control
// character in a string, a member the wire types do not define (or that
// decodeInput's types define but it does not read), a repeated member, a
// value of another kind than the member's, a number an input member's
// type would refuse, nesting deeper than fastMaxDepth, objects of more
// than fastMaxMembers members — and decodeBatch then decodes the body as
// before, so every error stays the v2 decoder's. TestFastDecodeBatch and
// FuzzFastDecodeBatch hold each batch it accepts to that decoder's.
func fastDecodeBatch(body []byte) (w wireBatch[fastEvent], ok bool) {
	s := fastScanner{b: body}
	s.space()
	if !s.byte('{') {
		return w, false
	}
	var seen uint8
	if !s.end('}') {
		for {
			name, ok := s.name()
			if !ok {
				return w, false
			}
			var bit uint8
			switch string(name) {
			case "events":
				bit, ok = 1, s.events(&w.Events)
			case "profile":
				bit, ok = 2, s.profile(&w.Profile)
			case "kx":
				bit = 4
				w.Kx, ok = s.str()
			case "consent":
				bit = 8
				w.Consent, ok = s.boolPtr()
			default:
				return w, false
			}
			if !ok || seen&bit != 0 {
				return w, false
			}
			seen |= bit
			if more, ok := s.next('}'); !ok {
				return w, false
			} else if !more {
				break
			}
		}
	}
	s.space()
	return w, s.i == len(body)
}

// fastMaxDepth and fastMaxMembers bound what fastDecodeBatch reads itself:
// deeper values, and objects with more members (whose duplicate check is
// quadratic), are left to the v2 decoder.
const (
	fastMaxDepth   = 16
	fastMaxMembers = 64
)

// fastScanner is fastDecodeBatch's reader. Strings are substrings of text,
// one copy of b made when the first string is read.
type fastScanner struct {
	b    []byte
	text string
	i    int
	// product is where the first event's product is decoded: it shares
	// the events' allocation (fastOne).
	product *shop.Product
}

// fastOne is a batch of one event with its product, in one allocation.
type fastOne struct {
	events  [1]fastEvent
	product shop.Product
}

// Booleans a *bool member points to: nothing writes through it.
var (
	fastTrue  = true
	fastFalse = false
)

func (s *fastScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c after optional whitespace.
func (s *fastScanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end consumes the closing bracket c of an empty container, after
// optional whitespace.
func (s *fastScanner) end(c byte) bool { return s.byte(c) }

// next consumes the ',' between two members or items (more) or the
// closing bracket c.
func (s *fastScanner) next(c byte) (more, ok bool) {
	s.space()
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ',':
			s.i++
			return true, true
		case c:
			s.i++
			return false, true
		}
	}
	return false, false
}

// peek returns the next byte after optional whitespace, 0 at the end.
func (s *fastScanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// raw consumes a string without escapes or control characters, in valid
// UTF-8, and returns its content.
func (s *fastScanner) raw() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	b, i, start, ascii := s.b, s.i, s.i, true
	for i < len(b) {
		if fastPlain[b[i]] {
			i++
			continue
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			v := b[start:i]
			return v, ascii || utf8.Valid(v)
		case c >= utf8.RuneSelf:
			ascii = false
			i++
		default: // '\\' or a control character
			return nil, false
		}
	}
	return nil, false
}

// fastPlain marks the bytes raw reads as they are: ASCII but '"', '\\'
// and control characters.
var fastPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// name consumes a member name and its ':'.
func (s *fastScanner) name() ([]byte, bool) {
	n, ok := s.raw()
	return n, ok && s.byte(':')
}

// str consumes a string and returns it as a substring of s.text.
func (s *fastScanner) str() (string, bool) {
	v, ok := s.raw()
	if !ok {
		return "", false
	}
	if s.text == "" {
		s.text = string(s.b)
	}
	end := s.i - 1
	return s.text[end-len(v) : end], true
}

// strs consumes an array of strings.
func (s *fastScanner) strs() ([]string, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []string{}
	if s.end(']') {
		return out, true
	}
	for {
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if more, ok := s.next(']'); !ok {
			return nil, false
		} else if !more {
			return out, true
		}
	}
}

// boolPtr consumes true, false or null.
func (s *fastScanner) boolPtr() (*bool, bool) {
	switch {
	case s.lit("true"):
		return &fastTrue, true
	case s.lit("false"):
		return &fastFalse, true
	case s.lit("null"):
		return nil, true
	}
	return nil, false
}

// lit consumes the literal l after optional whitespace.
func (s *fastScanner) lit(l string) bool {
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte(l)) {
		s.i += len(l)
		return true
	}
	return false
}

// number consumes a JSON number (jsonscan.Number's grammar) and returns
// its text.
func (s *fastScanner) number() ([]byte, bool) {
	s.space()
	start := s.i
	end, ok := jsonscan.Number(s.b, start)
	if !ok {
		return nil, false
	}
	s.i = end
	return s.b[start:end], true
}

// money consumes a number as a shop.Money, through the method the v2
// decoder calls for it.
func (s *fastScanner) money() (shop.Money, bool) {
	n, ok := s.number()
	var m shop.Money
	return m, ok && m.UnmarshalJSON(n) == nil
}

// quantity consumes a non-negative integer of at most 18 digits (which
// int64 holds).
func (s *fastScanner) quantity() (int64, bool) {
	n, ok := s.number()
	if !ok || len(n) > 18 || n[0] == '-' {
		return 0, false
	}
	var q int64
	for _, c := range n {
		if c < '0' || c > '9' {
			return 0, false
		}
		q = q*10 + int64(c-'0')
	}
	return q, true
}

// value consumes any value at depth (the batch being 1), checking what
// the v2 decoder checks: syntax, UTF-8 and no repeated member names.
func (s *fastScanner) value(depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch s.peek() {
	case '"':
		_, ok := s.raw()
		return ok
	case '{':
		s.i++
		if s.end('}') {
			return true
		}
		var names [fastMaxMembers][]byte
		for n := 0; ; n++ {
			name, ok := s.name()
			if !ok || n == fastMaxMembers {
				return false
			}
			for _, prev := range names[:n] {
				if bytes.Equal(prev, name) {
					return false
				}
			}
			names[n] = name
			if !s.value(depth + 1) {
				return false
			}
			if more, ok := s.next('}'); !ok {
				return false
			} else if !more {
				return true
			}
		}
	case '[':
		s.i++
		if s.end(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			if more, ok := s.next(']'); !ok {
				return false
			} else if !more {
				return true
			}
		}
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	}
	_, ok := s.number()
	return ok
}

// span consumes any value (see value) and records where it lies.
func (s *fastScanner) span(sp *span, depth int) bool {
	s.space()
	start := s.i
	if !s.value(depth) {
		return false
	}
	*sp = span{start: int64(start), end: int64(s.i), set: true}
	return true
}

// members reads an object member by member: each known name (its index
// in names) is read by known, each other name skipped with value when
// skip, else declined. A repeated member is declined.
func (s *fastScanner) members(depth int, names []string, skip bool, known func(i int) bool) bool {
	if depth > fastMaxDepth || !s.byte('{') {
		return false
	}
	if s.end('}') {
		return true
	}
	var (
		seen   uint64
		others [fastMaxMembers][]byte
		n      int
	)
	for {
		name, ok := s.name()
		if !ok {
			return false
		}
		i := 0
		for i < len(names) && names[i] != string(name) {
			i++
		}
		switch {
		case i < len(names):
			if seen&(1<<i) != 0 || !known(i) {
				return false
			}
			seen |= 1 << i
		case !skip || n == fastMaxMembers:
			return false
		default:
			for _, prev := range others[:n] {
				if bytes.Equal(prev, name) {
					return false
				}
			}
			others[n] = name
			n++
			if !s.value(depth + 1) {
				return false
			}
		}
		if more, ok := s.next('}'); !ok {
			return false
		} else if !more {
			return true
		}
	}
}

var fastBatchEventNames = []string{"metric", "properties", "time", "unique_id", "value", "product", "cart", "added", "backfill", "value_currency"}

// events consumes the batch's events: null or an array of objects.
func (s *fastScanner) events(out *[]fastEvent) bool {
	if s.lit("null") {
		return true
	}
	if !s.byte('[') {
		return false
	}
	one := new(fastOne)
	evs := one.events[:0]
	s.product = &one.product
	if !s.end(']') {
		for {
			evs = append(evs, fastEvent{})
			if !s.event(&evs[len(evs)-1]) {
				return false
			}
			if more, ok := s.next(']'); !ok {
				return false
			} else if !more {
				break
			}
		}
	}
	*out = evs
	return true
}

// event consumes one event object (depth 3).
func (s *fastScanner) event(e *fastEvent) bool {
	const depth = 3
	return s.members(depth, fastBatchEventNames, false, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			e.Metric, ok = s.str()
		case 1:
			ok = s.span(&e.Properties, depth+1)
		case 2:
			ok = s.span(&e.Time, depth+1)
		case 3:
			e.UniqueID, ok = s.str()
		case 4:
			ok = s.span(&e.Value, depth+1)
		case 5:
			p := s.product
			if p == nil {
				p = new(shop.Product)
			}
			s.product = nil
			ok = fastInput(s, &e.Product, p, func(p *shop.Product) bool { return s.readProduct(p, depth+1) })
		case 6:
			ok = fastInput(s, &e.Cart, new(shop.Cart), func(c *shop.Cart) bool { return s.cart(c, depth+1) })
		case 7:
			ok = fastInput(s, &e.Added, new(shop.LineItem), func(l *shop.LineItem) bool { return s.lineItem(l, depth+1) })
		case 8:
			ok = s.span(&e.Backfill, depth+1)
		case 9:
			ok = s.span(&e.ValueCurrency, depth+1)
		}
		return ok
	})
}

// fastInput consumes an input-form member: null as a span (as
// input.UnmarshalJSONFrom records it), an object decoded by read into v,
// a zero T.
func fastInput[T any](s *fastScanner, in *input[T], v *T, read func(*T) bool) bool {
	if s.peek() == 'n' {
		return s.span(&in.span, 0)
	}
	start := s.i
	if !read(v) {
		return false
	}
	in.span = span{start: int64(start), end: int64(s.i), set: true}
	in.v = v
	return true
}

// The json names of shop.Product, shop.LineItem and shop.Cart (every one:
// TestFastInputNames checks them against the types), in the order the
// readers below switch on.
var (
	fastProductNames  = []string{"id", "sku", "name", "url", "image_url", "categories", "brand", "price", "compare_at_price", "description", "inventory_quantity", "inventory_policy"}
	fastLineItemNames = []string{"product", "quantity"}
	fastCartNames     = []string{"id", "checkout_url", "items"}
)

// readProduct consumes a shop.Product object at depth; members it does not
// define are skipped, as decodeInput skips them. (inventory_quantity and
// inventory_policy are declined: browsers do not send them.)
func (s *fastScanner) readProduct(p *shop.Product, depth int) bool {
	return s.members(depth, fastProductNames, true, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			p.ID, ok = s.str()
		case 1:
			p.SKU, ok = s.str()
		case 2:
			p.Name, ok = s.str()
		case 3:
			p.URL, ok = s.str()
		case 4:
			p.ImageURL, ok = s.str()
		case 5:
			p.Categories, ok = s.strs()
		case 6:
			p.Brand, ok = s.str()
		case 7:
			p.Price, ok = s.money()
		case 8:
			p.CompareAtPrice, ok = s.money()
		case 9:
			p.Description, ok = s.str()
		}
		return ok // false for inventory_quantity and inventory_policy
	})
}

func (s *fastScanner) lineItem(l *shop.LineItem, depth int) bool {
	return s.members(depth, fastLineItemNames, true, func(i int) bool {
		if i == 0 {
			return s.readProduct(&l.Product, depth+1)
		}
		var ok bool
		l.Quantity, ok = s.quantity()
		return ok
	})
}

func (s *fastScanner) cart(c *shop.Cart, depth int) bool {
	return s.members(depth, fastCartNames, true, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			c.ID, ok = s.str()
		case 1:
			c.CheckoutURL, ok = s.str()
		case 2:
			if !s.byte('[') {
				return false
			}
			c.Items = []shop.LineItem{}
			if s.end(']') {
				return true
			}
			for {
				c.Items = append(c.Items, shop.LineItem{})
				if !s.lineItem(&c.Items[len(c.Items)-1], depth+1) {
					return false
				}
				more, ok := s.next(']')
				if !ok {
					return false
				}
				if !more {
					return true
				}
			}
		}
		return ok
	})
}

var fastProfileNames = []string{"email", "phone_number", "external_id", "first_name", "last_name"}

// profile consumes the batch's profile: null or an object (depth 2).
func (s *fastScanner) profile(p *wireProfile) bool {
	if s.lit("null") {
		return true
	}
	return s.members(2, fastProfileNames, false, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			p.Email, ok = s.str()
		case 1:
			p.PhoneNumber, ok = s.str()
		case 2:
			p.ExternalID, ok = s.str()
		case 3:
			p.FirstName, ok = s.str()
		case 4:
			p.LastName, ok = s.str()
		}
		return ok
	})
}
