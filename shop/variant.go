package shop

// Variant is one purchasable version of a catalog product (a size, a
// colour): what Klaviyo's back-in-stock flows watch. Only the catalog uses
// it; fields left empty take the product's values when sent to Klaviyo.
type Variant struct {
	ID    string `json:"id"`
	SKU   string `json:"sku,omitempty"`
	Title string `json:"title,omitempty"`
	Price Money  `json:"price,omitzero"`
	// InventoryQuantity is the quantity in stock (required in a catalog).
	InventoryQuantity *int64 `json:"inventory_quantity,omitempty"`
	// InventoryPolicy is Klaviyo's 1 (hide when out of stock) or 2 (always
	// show, Klaviyo's default when 0 here).
	InventoryPolicy int    `json:"inventory_policy,omitempty"`
	ImageURL        string `json:"image_url,omitempty"`
	URL             string `json:"url,omitempty"`
}
