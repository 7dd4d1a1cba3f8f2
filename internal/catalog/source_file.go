package catalog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/shop"
)

// readProducts reads the products of a catalog file — a JSON array, JSON
// lines, or CSV with a header row (chosen by the .csv extension) — and
// hands each to b. A product that cannot be decoded is rejected as
// invalid and reading goes on; an error that loses the reader's place
// (malformed JSON array syntax, an unknown CSV column) fails the load.
func readProducts(r io.Reader, name string, b *builder) error {
	br := bufio.NewReaderSize(r, 256<<10)
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		return readCSV(br, b)
	}
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil // an empty file is an empty catalog
		} else if err != nil {
			return err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // UTF-8 byte order mark
			br.Discard(2)
			continue
		case '[':
			br.UnreadByte()
			return readJSONArray(br, b)
		case '{':
			br.UnreadByte()
			return readJSONLines(br, b)
		}
		return fmt.Errorf("%s: want a JSON array of products, JSON lines, or a .csv file; found %q at the start", name, c)
	}
}

func readJSONArray(r io.Reader, b *builder) error {
	dec := jsontext.NewDecoder(r, jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return fmt.Errorf("JSON array: want [ at the start (%v)", err)
	}
	for pos := 1; dec.PeekKind() != ']'; pos++ {
		raw, err := dec.ReadValue()
		if err != nil {
			return fmt.Errorf("JSON array: product %d: malformed JSON near byte %d: %w", pos, dec.InputOffset(), err)
		}
		p, prob := decodeProduct(raw, pos)
		if prob != nil {
			b.reject(KindInvalid, *prob)
			continue
		}
		if err := b.add(pos, p); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return fmt.Errorf("JSON array: %w", err)
	}
	return nil
}

func readJSONLines(r *bufio.Reader, b *builder) error {
	var line []byte
	for n := 1; ; n++ {
		var err error
		line, err = readLine(r, line[:0])
		last := err == io.ErrUnexpectedEOF // end of file, maybe without a final newline
		if err != nil && !last {
			return err
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			p, prob := decodeProduct(t, n)
			if prob != nil {
				b.reject(KindInvalid, *prob)
			} else if err := b.add(n, p); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
	}
}

// feedNames maps the names a file may use (shop.Product's and Klaviyo's
// feed names) to the problem report's field names.
var feedNames = map[string]string{"name": "title", "url": "link", "image_url": "image_link"}

// decodeOpts decode one product: members shop.Product does not know are
// kept as custom fields (Product.Fields, checked by fieldsOf), names match
// exactly and may not repeat, and invalid UTF-8 is let through for ItemOf
// to replace, as before.
var decodeOpts = jsonv2.JoinOptions(DecodeOptions, jsontext.AllowInvalidUTF8(true))

// DecodeOptions are the JSON v2 options a Product is decoded with (the
// file, the database and PUT/PATCH /v1/catalog/products): a variant's
// unknown member is still an error, since RejectUnknownMembers cannot be
// used once Product collects its own.
var DecodeOptions = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *shop.Variant) error {
	return jsonv2.UnmarshalDecode(dec, (*strictVariant)(v), jsonv2.RejectUnknownMembers(true))
}))

// strictVariant is shop.Variant without the unmarshaler above, so that
// decoding one does not recurse.
type strictVariant shop.Variant

// decodeProduct decodes one product with the JSON v2 decoder (the one
// behind encoding/json/v2: about three times faster than encoding/json
// here, which matters when a load decodes a million products). On
// failure the problem names the field from the error's JSON pointer.
func decodeProduct(raw []byte, pos int) (Product, *Problem) {
	var p Product
	err := jsonv2.Unmarshal(raw, &p, decodeOpts)
	if err == nil {
		return p, nil
	}
	prob := Problem{ID: p.ID, Position: pos, Message: "malformed product"}
	var sem *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &sem):
		field := strings.TrimPrefix(string(sem.JSONPointer), "/")
		field, _, _ = strings.Cut(field, "/")
		prob.Field = field
		switch {
		case errors.Is(sem.Err, jsonv2.ErrUnknownName):
			prob.Message = "unknown field"
		case field == "price" || field == "compare_at_price":
			prob.Message = "must be a number such as 19.99"
		case sem.GoType != nil:
			prob.Message = "must be " + jsonKind(sem.GoType.String())
		}
	case errors.As(err, &syn):
		prob.Message = fmt.Sprintf("malformed JSON at byte %d", syn.ByteOffset)
	}
	if f, ok := feedNames[prob.Field]; ok {
		prob.Field = f
	}
	return p, &prob
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "*int"):
		return "a whole number"
	}
	return "a " + goType
}

// csvColumns maps CSV header names to setters on a product. Both
// shop.Product's names and Klaviyo's feed names are accepted; categories
// are separated by "|".
var csvColumns = map[string]func(p *shop.Product, v string) error{
	"id":          func(p *shop.Product, v string) error { p.ID = v; return nil },
	"sku":         func(p *shop.Product, v string) error { p.SKU = v; return nil },
	"name":        func(p *shop.Product, v string) error { p.Name = v; return nil },
	"title":       func(p *shop.Product, v string) error { p.Name = v; return nil },
	"url":         func(p *shop.Product, v string) error { p.URL = v; return nil },
	"link":        func(p *shop.Product, v string) error { p.URL = v; return nil },
	"image_url":   func(p *shop.Product, v string) error { p.ImageURL = v; return nil },
	"image_link":  func(p *shop.Product, v string) error { p.ImageURL = v; return nil },
	"brand":       func(p *shop.Product, v string) error { p.Brand = v; return nil },
	"description": func(p *shop.Product, v string) error { p.Description = v; return nil },
	"categories": func(p *shop.Product, v string) error {
		if v != "" {
			p.Categories = strings.Split(v, "|")
		}
		return nil
	},
	"price":            csvMoney(func(p *shop.Product) *shop.Money { return &p.Price }),
	"compare_at_price": csvMoney(func(p *shop.Product) *shop.Money { return &p.CompareAtPrice }),
	"inventory_quantity": func(p *shop.Product, v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("must be a whole number")
		}
		p.InventoryQuantity = &n
		return nil
	},
	"inventory_policy": func(p *shop.Product, v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("must be 1 or 2")
		}
		p.InventoryPolicy = n
		return nil
	},
}

func csvMoney(field func(*shop.Product) *shop.Money) func(*shop.Product, string) error {
	return func(p *shop.Product, v string) error {
		if v == "" {
			return nil
		}
		m, err := shop.ParseMoney(v)
		if err != nil {
			return errors.New("must be a number such as 19.99")
		}
		*field(p) = m
		return nil
	}
}

func readCSV(r io.Reader, b *builder) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	} else if err != nil {
		return fmt.Errorf("CSV header: %w", err)
	}
	names := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		if _, ok := csvColumns[h]; !ok {
			return fmt.Errorf("CSV header: unknown column %q (want id, name or title, url or link, image_url or image_link, description, price, categories, inventory_quantity, inventory_policy, sku, brand, compare_at_price)", header[i])
		}
		names[i] = h
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				b.reject(KindInvalid, Problem{Position: pe.Line, Message: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(names))})
				continue
			}
			return fmt.Errorf("CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		var p shop.Product
		var bad *Problem
		for i, v := range rec {
			if err := csvColumns[names[i]](&p, strings.TrimSpace(v)); err != nil && bad == nil {
				field := names[i]
				if f, ok := feedNames[field]; ok {
					field = f
				}
				bad = &Problem{Position: line, Field: field, Message: err.Error()}
			}
		}
		if bad != nil {
			bad.ID = p.ID
			b.reject(KindInvalid, *bad)
			continue
		}
		if err := b.add(line, Product{Product: p}); err != nil {
			return err
		}
	}
}
