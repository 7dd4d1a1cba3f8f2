package orders

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// Input is one order read from a backfill file, or the reason it could
// not be read. Line is where it starts (1-based; the array index + 1 for a
// JSON array).
type Input struct {
	Line  int
	Order shop.Order
	// Consent is the order's marketing_consent, if any (JSON inputs).
	Consent *MarketingConsent
	Err     error
}

// Formats of a backfill file.
const (
	FormatAuto  = "auto"
	FormatJSONL = "jsonl"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// ReadOrders reads every order of a backfill file: JSON lines of orders, a
// JSON array of orders, or CSV with one row per line item (see CSVColumns).
// FormatAuto picks by the first non-blank byte: '[' array, '{' JSON lines,
// else CSV. A malformed order is returned with its Err set; reading goes on.
// Times written without a zone are read in loc (SNIPPETD_DEFAULT_TIMEZONE).
func ReadOrders(r io.Reader, format string, loc *time.Location) ([]Input, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if format == "" || format == FormatAuto {
		format = FormatCSV
	peek:
		for {
			b, err := br.Peek(1)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil, nil
				}
				return nil, err
			}
			switch b[0] {
			case ' ', '\t', '\r', '\n':
				br.ReadByte()
				continue
			case '[':
				format = FormatJSON
			case '{':
				format = FormatJSONL
			}
			break peek
		}
	}
	switch format {
	case FormatJSONL:
		return readJSONL(br, loc)
	case FormatJSON:
		return readJSONArray(br, loc)
	case FormatCSV:
		return readCSV(br, loc)
	}
	return nil, fmt.Errorf("unknown format %q: want jsonl, json, csv or auto", format)
}

func decodeOrder(b []byte, loc *time.Location) (shop.Order, *MarketingConsent, error) {
	var o PlaceRequest
	err := Decode(b, &o, loc)
	return o.Order, o.MarketingConsent, err
}

func readJSONL(r *bufio.Reader, loc *time.Location) ([]Input, error) {
	var out []Input
	line := 0
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			line++
			if t := bytes.TrimSpace(b); len(t) > 0 {
				o, mc, derr := decodeOrder(t, loc)
				out = append(out, Input{Line: line, Order: o, Consent: mc, Err: derr})
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// readJSONArray splits the array into its elements and decodes each
// strictly on its own, so that one bad order fails only itself. The
// splitter lets duplicate names and invalid UTF-8 through for the strict
// decode to report per order.
func readJSONArray(r io.Reader, loc *time.Location) ([]Input, error) {
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return nil, errors.New("a JSON backfill file must be one array of orders")
	}
	var out []Input
	for i := 1; dec.PeekKind() != ']'; i++ {
		raw, err := dec.ReadValue()
		if err != nil {
			return out, fmt.Errorf("element %d: %w", i, err)
		}
		o, mc, err := decodeOrder(raw, loc)
		out = append(out, Input{Line: i, Order: o, Consent: mc, Err: err})
	}
	return out, nil
}

// CSVColumns are the columns a CSV backfill file may have (header row
// required, any order, only order_id, placed_at, one of email /
// phone_number / external_id, product_id, product_name, price and quantity
// required). Each row is one line item; rows with the same order_id form
// one order (the order-level columns are taken from its first row);
// categories are separated by "|".
var CSVColumns = []string{"order_id", "placed_at", "currency", "email", "phone_number", "external_id", "first_name", "last_name",
	"product_id", "sku", "product_name", "price", "quantity", "url", "image_url", "categories", "brand",
	"discount_code", "discount_value", "subtotal", "shipping", "tax", "total", "address1", "address2", "city", "region", "country", "zip"}

func readCSV(r io.Reader, loc *time.Location) ([]Input, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	col := map[string]int{}
	known := map[string]bool{}
	for _, c := range CSVColumns {
		known[c] = true
	}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !known[h] {
			return nil, fmt.Errorf("csv header: unknown column %q (known: %s)", h, strings.Join(CSVColumns, ", "))
		}
		col[h] = i
	}
	for _, c := range []string{"order_id", "placed_at", "product_id", "product_name", "price", "quantity"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("csv header: column %q is required", c)
		}
	}
	var out []Input
	index := map[string]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			out = append(out, Input{Line: line, Err: &apperr.Error{Code: apperr.EBADREQUEST, Message: err.Error()}})
			continue
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		id := get("order_id")
		i, seen := index[id]
		if !seen {
			o, err := csvOrder(get, loc)
			index[id] = len(out)
			out = append(out, Input{Line: line, Order: o, Err: err})
			i = len(out) - 1
		}
		if out[i].Err != nil {
			continue
		}
		l, err := csvLine(get)
		if err != nil {
			out[i].Err = fmt.Errorf("line %d: %w", line, err)
			continue
		}
		out[i].Order.Items = append(out[i].Order.Items, l)
	}
}

func csvOrder(get func(string) string, loc *time.Location) (shop.Order, error) {
	o := shop.Order{ID: get("order_id"), Currency: get("currency"), DiscountCode: get("discount_code"),
		Customer: shop.Customer{Email: get("email"), PhoneNumber: get("phone_number"), ExternalID: get("external_id"),
			FirstName: get("first_name"), LastName: get("last_name")}}
	t, err := ParseTime(get("placed_at"), loc)
	if err != nil {
		return o, apperr.FieldErrorf("placed_at", "%s", timeHelp)
	}
	o.PlacedAt = t
	for _, m := range []struct {
		col string
		dst *shop.Money
	}{{"discount_value", &o.DiscountValue}, {"subtotal", &o.Subtotal}, {"shipping", &o.Shipping}, {"tax", &o.Tax}, {"total", &o.Total}} {
		if v := get(m.col); v != "" {
			if *m.dst, err = shop.ParseMoney(v); err != nil {
				return o, apperr.FieldErrorf(m.col, "must be a number")
			}
		}
	}
	a := shop.Address{Address1: get("address1"), Address2: get("address2"), City: get("city"), Region: get("region"), Country: get("country"), Zip: get("zip")}
	if a != (shop.Address{}) {
		o.Customer.Address = &a
	}
	return o, nil
}

func csvLine(get func(string) string) (shop.LineItem, error) {
	p := shop.Product{ID: get("product_id"), SKU: get("sku"), Name: get("product_name"), URL: get("url"), ImageURL: get("image_url"), Brand: get("brand")}
	if c := get("categories"); c != "" {
		for _, x := range strings.Split(c, "|") {
			if x = strings.TrimSpace(x); x != "" {
				p.Categories = append(p.Categories, x)
			}
		}
	}
	var err error
	if p.Price, err = shop.ParseMoney(get("price")); err != nil {
		return shop.LineItem{}, apperr.FieldErrorf("price", "must be a number")
	}
	q, err := strconv.ParseInt(get("quantity"), 10, 64)
	if err != nil {
		return shop.LineItem{}, apperr.FieldErrorf("quantity", "must be a whole number")
	}
	return shop.LineItem{Product: p, Quantity: q}, nil
}
