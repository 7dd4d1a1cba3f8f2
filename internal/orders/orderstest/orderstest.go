// Package orderstest holds test data shared by the tests of orders, app and
// the backfill benchmarks.
package orderstest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/snippetd/snippetd/shop"
)

// GenOrders makes n deterministic historical orders with 1 to 3 lines,
// spread over about a third as many customers.
func GenOrders(n int, seed uint64) []shop.Order {
	r := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]shop.Order, n)
	for i := range out {
		o := shop.Order{ID: fmt.Sprintf("H-%06d", i), PlacedAt: base.Add(time.Duration(i) * 17 * time.Minute), Currency: "USD",
			Customer: shop.Customer{Email: fmt.Sprintf("c%d@example.com", r.IntN(n/3+1)), FirstName: "C"}}
		for j := range 1 + r.IntN(3) {
			o.Items = append(o.Items, shop.LineItem{Quantity: int64(1 + r.IntN(3)), Product: shop.Product{
				ID: fmt.Sprintf("P%d", r.IntN(500)), Name: fmt.Sprintf("Product %d", j), Price: shop.Cents(int64(100 + r.IntN(10000))),
				Categories: []string{"Cat" + strconv.Itoa(r.IntN(9))}, Brand: "Brand"}})
		}
		out[i] = o
	}
	return out
}
