package snippets_test

import (
	"context"
	"fmt"
	"os"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// A Go storefront renders the components straight into its pages (here to
// stdout), with the page's CSP nonce, and can reuse the push arrays.
func Example() {
	price, _ := shop.ParseMoney("19.99")
	book := shop.Product{ID: "1112", SKU: "TALEOFTWO", Name: "A Tale of Two Cities", Categories: []string{"Fiction", "Classics"}, Price: price}
	cart := shop.Cart{ID: "1000123", Items: []shop.LineItem{{Product: book, Quantity: 3}}}

	ctx := templ.WithNonce(context.Background(), "abc123")
	if err := snippets.AddedToCart(cart, cart.Items[0]).Render(ctx, os.Stdout); err != nil {
		fmt.Println(err)
	}
	fmt.Println()

	pushes, err := snippets.IdentifyPushes(shop.Customer{Email: "shopper@example.com", FirstName: "Ada"})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(pushes[0])
	// Output:
	// <script nonce="abc123">(function(klaviyo){klaviyo.push(["track","Added to Cart",{"$value":59.97,"AddedItemProductName":"A Tale of Two Cities","AddedItemProductID":"1112","AddedItemSKU":"TALEOFTWO","AddedItemCategories":["Fiction","Classics"],"AddedItemPrice":19.99,"AddedItemQuantity":3,"ItemNames":["A Tale of Two Cities"],"Items":[{"ProductID":"1112","SKU":"TALEOFTWO","ProductName":"A Tale of Two Cities","Quantity":3,"ItemPrice":19.99,"RowTotal":59.97,"ProductCategories":["Fiction","Classics"]}]}]);})(window.klaviyo||(window._klOnsite=window._klOnsite||[]));</script>
	// ["identify",{"email":"shopper@example.com","first_name":"Ada"}]
}
