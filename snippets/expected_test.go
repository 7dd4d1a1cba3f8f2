package snippets

import (
	"strconv"
	"time"

	"github.com/snippetd/snippetd/shop"
)

// The types below are the payloads written independently of the builders:
// plain structs encoded by encoding/json, whose field order is Klaviyo's
// key order. The tests compare the builders' bytes with them, and the
// benchmarks use them as the json.Marshal and html/template baselines.

type viewedProductProps struct {
	ProductName    string
	ProductID      string
	SKU            string     `json:",omitempty"`
	Categories     []string   `json:",omitempty"`
	ImageURL       string     `json:",omitempty"`
	URL            string     `json:",omitempty"`
	Brand          string     `json:",omitempty"`
	Price          shop.Money `json:",omitzero"`
	CompareAtPrice shop.Money `json:",omitzero"`
}

type viewedItemMetadata struct {
	Brand          string     `json:",omitempty"`
	Price          shop.Money `json:",omitzero"`
	CompareAtPrice shop.Money `json:",omitzero"`
}

type viewedItem struct {
	Title      string
	ItemId     string
	Categories []string `json:",omitempty"`
	ImageUrl   string   `json:",omitempty"`
	Url        string   `json:",omitempty"`
	Metadata   viewedItemMetadata
}

type cartItem struct {
	ProductID         string
	SKU               string `json:",omitempty"`
	ProductName       string
	Quantity          int64
	ItemPrice         shop.Money
	RowTotal          shop.Money
	ProductURL        string   `json:",omitempty"`
	ImageURL          string   `json:",omitempty"`
	ProductCategories []string `json:",omitempty"`
}

type addedToCartProps struct {
	Value                shop.Money `json:"$value"`
	AddedItemProductName string
	AddedItemProductID   string
	AddedItemSKU         string   `json:",omitempty"`
	AddedItemCategories  []string `json:",omitempty"`
	AddedItemImageURL    string   `json:",omitempty"`
	AddedItemURL         string   `json:",omitempty"`
	AddedItemPrice       shop.Money
	AddedItemQuantity    int64
	ItemNames            []string
	CheckoutURL          string `json:",omitempty"`
	Items                []cartItem
}

type startedCheckoutProps struct {
	EventID     string     `json:"$event_id"`
	Value       shop.Money `json:"$value"`
	ItemNames   []string
	CheckoutURL string   `json:",omitempty"`
	Categories  []string `json:",omitempty"`
	Items       []cartItem
}

type identifyProps struct {
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
	FirstName   string `json:"first_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
}

func wantViewedProduct(p shop.Product) []any {
	return []any{
		[]any{"track", "Viewed Product", viewedProductProps{
			ProductName: p.Name, ProductID: p.ID, SKU: p.SKU, Categories: p.Categories,
			ImageURL: p.ImageURL, URL: p.URL, Brand: p.Brand, Price: p.Price, CompareAtPrice: p.CompareAtPrice,
		}},
		[]any{"trackViewedItem", viewedItem{
			Title: p.Name, ItemId: p.ID, Categories: p.Categories, ImageUrl: p.ImageURL, Url: p.URL,
			Metadata: viewedItemMetadata{Brand: p.Brand, Price: p.Price, CompareAtPrice: p.CompareAtPrice},
		}},
	}
}

// total sums the rows with big-enough integers, independently of
// shop.Cart.Total.
func total(c shop.Cart) shop.Money {
	var cents int64
	for _, l := range c.Items {
		cents += l.Product.Price.Cents() * l.Quantity
	}
	return shop.Cents(cents)
}

// union returns the distinct categories of the lines, in the order of
// lines given by order.
func union(c shop.Cart, order []int) []string {
	seen := map[string]bool{}
	var out []string
	for _, i := range order {
		for _, cat := range c.Items[i].Product.Categories {
			if !seen[cat] {
				seen[cat] = true
				out = append(out, cat)
			}
		}
	}
	return out
}

func items(c shop.Cart) ([]string, []cartItem) {
	var names []string
	var out []cartItem
	for _, l := range c.Items {
		p := l.Product
		names = append(names, p.Name)
		out = append(out, cartItem{
			ProductID: p.ID, SKU: p.SKU, ProductName: p.Name, Quantity: l.Quantity,
			ItemPrice: p.Price, RowTotal: shop.Cents(p.Price.Cents() * l.Quantity),
			ProductURL: p.URL, ImageURL: p.ImageURL, ProductCategories: p.Categories,
		})
	}
	return names, out
}

func wantAddedToCart(c shop.Cart, added shop.LineItem) []any {
	idx := -1
	for i, l := range c.Items {
		if l.Product.ID == added.Product.ID && l.Product.SKU == added.Product.SKU {
			idx = i
			break
		}
	}
	order := []int{idx}
	for i := range c.Items {
		if i != idx {
			order = append(order, i)
		}
	}
	names, its := items(c)
	p := added.Product
	return []any{[]any{"track", "Added to Cart", addedToCartProps{
		Value:                total(c),
		AddedItemProductName: p.Name, AddedItemProductID: p.ID, AddedItemSKU: p.SKU,
		AddedItemCategories: union(c, order), AddedItemImageURL: p.ImageURL, AddedItemURL: p.URL,
		AddedItemPrice: p.Price, AddedItemQuantity: added.Quantity,
		ItemNames: names, CheckoutURL: c.CheckoutURL, Items: its,
	}}}
}

func wantStartedCheckout(c shop.Cart, at time.Time) []any {
	var order []int
	for i := range c.Items {
		order = append(order, i)
	}
	names, its := items(c)
	return []any{[]any{"track", "Started Checkout", startedCheckoutProps{
		EventID: c.ID + "_" + strconv.FormatInt(at.Unix(), 10), Value: total(c),
		ItemNames: names, CheckoutURL: c.CheckoutURL, Categories: union(c, order), Items: its,
	}}}
}

func wantIdentify(k shop.Customer) []any {
	return []any{[]any{"identify", identifyProps{
		Email: k.Email, PhoneNumber: k.PhoneNumber, ExternalID: k.ExternalID, FirstName: k.FirstName, LastName: k.LastName,
	}}}
}
