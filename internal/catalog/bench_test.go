package catalog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

var benchLine = []byte(`{"id":"sku-0000042","name":"Product 42 & <friends>","url":"https://shop.example/p/sku-0000042","image_url":"https://cdn.example/i/sku-0000042.jpg","description":"A fine product, number 42, with a description long enough to look like a real one: soft, durable, blue.","price":43.42,"categories":["Category 2","Sub 0"],"inventory_quantity":42,"inventory_policy":1}`)

// BenchmarkDecodeProduct compares the loader's product decoder (JSON v2)
// with the strict encoding/json decoder it replaced, on one product line.
func BenchmarkDecodeProduct(b *testing.B) {
	b.Run("v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, prob := decodeProduct(benchLine, 1); prob != nil {
				b.Fatal(prob)
			}
		}
	})
	b.Run("encoding-json-baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p shop.Product
			dec := json.NewDecoder(bytes.NewReader(benchLine))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBuildItem is the rest of a load's per-product work: map,
// validate, encode both formats and write the snapshot lines.
func BenchmarkBuildItem(b *testing.B) {
	p, _ := decodeProduct(benchLine, 1)
	bl, err := newBuilder(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer bl.abort()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		p.ID = "sku-" + strconv.Itoa(i) // unique: every product is kept
		if err := bl.add(i, p); err != nil {
			b.Fatal(err)
		}
	}
}
