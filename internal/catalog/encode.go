package catalog

import (
	"strconv"
	"strings"

	"github.com/snippetd/snippetd/internal/jsonw"
)

// Format is a feed encoding.
type Format int

// The two feed formats Klaviyo's custom catalog reads.
const (
	JSON Format = iota
	XML
)

// Formats lists every feed format, for loops.
var Formats = [...]Format{JSON, XML}

// String is the format's file extension.
func (f Format) String() string {
	if f == XML {
		return "xml"
	}
	return "json"
}

// ContentType is the media type a feed in f is served with.
func (f Format) ContentType() string {
	if f == XML {
		return "application/xml; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}

// The fixed text around the items of a feed document. A JSON feed is a
// top-level array with one object per line; an XML feed is
// <Products> with one <Product> per line.
var (
	jsonHeader = []byte("[\n")
	jsonSep    = []byte(",\n")
	jsonFooter = []byte("\n]\n")
	jsonEmpty  = []byte("[]\n")
	xmlHeader  = []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Products>\n")
	xmlFooter  = []byte("</Products>\n")
)

// docBytes is the size of a document in f holding n items whose encodings
// total itemBytes.
func docBytes(f Format, n int, itemBytes int64) int64 {
	if f == XML {
		return int64(len(xmlHeader)+len(xmlFooter)) + itemBytes
	}
	if n == 0 {
		return int64(len(jsonEmpty))
	}
	return int64(len(jsonHeader)+len(jsonFooter)) + itemBytes + int64(n-1)*int64(len(jsonSep))
}

// appendJSON appends it as one compact JSON object with the feed's field
// names. Snapshots store exactly these bytes, so the JSON feed copies them.
func appendJSON(b []byte, it Item) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.AppendString(b, it.ID)
	b = append(b, `,"title":`...)
	b = jsonw.AppendString(b, it.Title)
	b = append(b, `,"link":`...)
	b = jsonw.AppendString(b, it.Link)
	b = append(b, `,"description":`...)
	b = jsonw.AppendString(b, it.Description)
	b = append(b, `,"image_link":`...)
	b = jsonw.AppendString(b, it.ImageLink)
	if it.Price.IsSet() {
		b = append(b, `,"price":`...)
		b = it.Price.AppendText(b)
	}
	if len(it.Categories) > 0 {
		b = append(b, `,"categories":[`...)
		for i, c := range it.Categories {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, c)
		}
		b = append(b, ']')
	}
	if it.InventoryQuantity != nil {
		b = append(b, `,"inventory_quantity":`...)
		b = strconv.AppendInt(b, *it.InventoryQuantity, 10)
	}
	if it.InventoryPolicy != 0 {
		b = append(b, `,"inventory_policy":`...)
		b = strconv.AppendInt(b, int64(it.InventoryPolicy), 10)
	}
	if it.SKU != "" {
		b = append(b, `,"sku":`...)
		b = jsonw.AppendString(b, it.SKU)
	}
	if it.Brand != "" {
		b = append(b, `,"brand":`...)
		b = jsonw.AppendString(b, it.Brand)
	}
	if it.CompareAtPrice.IsSet() {
		b = append(b, `,"compare_at_price":`...)
		b = it.CompareAtPrice.AppendText(b)
	}
	for _, f := range it.Fields {
		b = append(b, ',')
		b = jsonw.AppendString(b, f.Name)
		b = append(b, ':')
		if f.Quoted {
			b = jsonw.AppendString(b, f.Text)
		} else {
			b = append(b, f.Text...)
		}
	}
	return append(b, '}')
}

// appendXML appends it as one <Product> element on one line. Categories
// are joined with commas, as Klaviyo's XML feed expects.
func appendXML(b []byte, it Item) []byte {
	b = append(b, "<Product>"...)
	b = appendXMLElem(b, "id", it.ID)
	b = appendXMLElem(b, "title", it.Title)
	b = appendXMLElem(b, "link", it.Link)
	b = appendXMLElem(b, "description", it.Description)
	b = appendXMLElem(b, "image_link", it.ImageLink)
	if it.Price.IsSet() {
		b = append(b, "<price>"...)
		b = it.Price.AppendText(b)
		b = append(b, "</price>"...)
	}
	if len(it.Categories) > 0 {
		b = append(b, "<categories>"...)
		for i, c := range it.Categories {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendXMLText(b, c)
		}
		b = append(b, "</categories>"...)
	}
	if it.InventoryQuantity != nil {
		b = append(b, "<inventory_quantity>"...)
		b = strconv.AppendInt(b, *it.InventoryQuantity, 10)
		b = append(b, "</inventory_quantity>"...)
	}
	if it.InventoryPolicy != 0 {
		b = append(b, "<inventory_policy>"...)
		b = strconv.AppendInt(b, int64(it.InventoryPolicy), 10)
		b = append(b, "</inventory_policy>"...)
	}
	if it.SKU != "" {
		b = appendXMLElem(b, "sku", it.SKU)
	}
	if it.Brand != "" {
		b = appendXMLElem(b, "brand", it.Brand)
	}
	if it.CompareAtPrice.IsSet() {
		b = append(b, "<compare_at_price>"...)
		b = it.CompareAtPrice.AppendText(b)
		b = append(b, "</compare_at_price>"...)
	}
	// Names are XML names (fieldsOf refuses others); a number or boolean
	// is written as the source wrote it.
	for _, f := range it.Fields {
		b = appendXMLElem(b, f.Name, f.Text)
	}
	return append(b, "</Product>\n"...)
}

func appendXMLElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendXMLText(b, text)
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>')
}

// appendXMLText appends s escaped as XML character data. Tab, newline and
// carriage return become character references so that a parser returns
// them unchanged (a literal CR would be normalised away). s holds only
// characters XML allows (ItemOf cleans it).
func appendXMLText(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "&<>\"'\t\n\r") {
		return append(b, s...)
	}
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
