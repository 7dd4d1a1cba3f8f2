// Payload builders. They mirror the Go builders of package snippets: same
// keys, same numbers, absent optional fields left out. Money is computed in
// integer cents, as shop.Money does, and only divided by 100 on output.
// Written for size: the whole helper must stay under web.MaxGzipBytes gzipped.

import type { Cart, Category, Customer, LineItem, Product, Props, Push, Search } from "./types";

/**
 * cents converts an amount such as 19.99 to 1999 exactly (through its
 * decimal text, so 1.005 rounds half up to 101); absent is 0, and so is an
 * amount whose text has an exponent, which "e2" cannot extend: below a
 * millionth (0 cents anyway) or from 1e21 on (which the Go side refuses).
 */
export const cents = (n?: number): number => Math.round((n + "e2") as any) || 0;

/** money rounds an input amount to cents; absent stays absent. */
const money = (n?: number) => (n == null ? n : cents(n) / 100);

/**
 * clean returns a deep copy of x without absent values: undefined, null,
 * "" and empty arrays, as the Go builders leave them out.
 */
export const clean = <T>(x: T): T =>
  JSON.parse(JSON.stringify(x, (_, v) => (([v] as any) == "" ? undefined : v)));

/** union joins the categories of ls in order, without duplicates. */
const union = (ls: LineItem[], _?: unknown): string[] =>
  [...new Set(([] as string[]).concat(...ls.map((l) => l.product.categories || [])))];

const row = (l: LineItem) => cents(l.product.price) * l.quantity;

/** item is one entry of Items. */
const item = (p: Product, l: LineItem): Props => ({
  ProductName: p.name,
  ProductID: p.id,
  SKU: p.sku,
  ImageURL: p.image_url,
  ProductURL: p.url,
  ProductCategories: p.categories,
  ItemPrice: money(p.price),
  Quantity: l.quantity,
  RowTotal: row(l) / 100,
});

/** cart is the property set Added to Cart and Started Checkout share, after o's. */
const cart = (c: Cart, o: Props, v = 0): Props =>
  Object.assign(o, {
    ItemNames: c.items.map((l) => l.product.name),
    CheckoutURL: c.checkout_url,
    Items: c.items.map((l) => ((v += row(l)), item(l.product, l))),
    $value: v / 100,
  });

export const viewedProduct = (p: Product): Push[] => [
  [
    "track",
    "Viewed Product",
    ({
      ProductName: p.name,
      ProductID: p.id,
      SKU: p.sku,
      ImageURL: p.image_url,
      URL: p.url,
      Categories: p.categories,
      Price: money(p.price),
      Brand: p.brand,
      CompareAtPrice: money(p.compare_at_price),
    }),
  ],
  // trackViewedItem only feeds klaviyo.js (the proxy build has no builders).
  [
    "trackViewedItem",
    ({
      Title: p.name,
      ItemId: p.id,
      ImageUrl: p.image_url,
      Url: p.url,
      Categories: p.categories,
      Metadata: ({ Price: money(p.price), Brand: p.brand, CompareAtPrice: money(p.compare_at_price) }),
    }),
  ],
];

/** added is Added to Cart's own properties: the line added, product first. */
const added = (p: Product, l: LineItem, c: Cart): Props => ({
  AddedItemProductName: p.name,
  AddedItemProductID: p.id,
  AddedItemSKU: p.sku,
  AddedItemImageURL: p.image_url,
  AddedItemURL: p.url,
  AddedItemCategories: union([l, ...c.items]),
  AddedItemPrice: money(p.price),
  AddedItemQuantity: l.quantity,
});

export const addedToCart = (c: Cart, l: LineItem): Push[] => [["track", "Added to Cart", cart(c, added(l.product, l, c))]];

/**
 * startedCheckout's $event_id is "<cart id>_<unix seconds>" of t (an
 * RFC 3339 string, a Date or epoch milliseconds; default now).
 */
export const startedCheckout = (c: Cart, t?: string | number | Date): Push[] => [
  [
    "track",
    "Started Checkout",
    cart(c, {
      $event_id: c.id + "_" + Math.floor((new Date(t || Date.now()) as any) / 1000),
      Categories: union(c.items),
    }),
  ],
];

/**
 * viewedCategory and searchedSite use the property names of Klaviyo's SFCC
 * cartridge, as the Go builders do (snippets/browse.go).
 */
export const viewedCategory = (c: Category): Push[] => [
  [
    "track",
    "Viewed Category",
    { "Viewed Category": c.id, "Category Name": c.name, "Category URL": c.url, "Product IDs": c.product_ids },
  ],
];

export const searchedSite = (s: Search): Push[] => [
  [
    "track",
    "Searched Site",
    { "Search Term": s.term, "Search Results Count": s.results_count || 0, "Product IDs": s.product_ids },
  ],
];

export const identify = (c: Customer): Push[] => [
  [
    "identify",
    ({
      email: c.email,
      phone_number: c.phone_number,
      external_id: c.external_id,
      first_name: c.first_name,
      last_name: c.last_name,
      location: c.location,
      properties: c.properties,
    }),
  ],
];

/**
 * addLine returns a copy of c holding l: a product already there gets its
 * quantity raised.
 */
export const addLine = (c: Cart, l: LineItem, i?: LineItem): Cart => (
  (i = (c = JSON.parse(JSON.stringify(c)) as Cart).items.find((x) => x.product.id == l.product.id))
    ? (i.quantity += l.quantity)
    : c.items.push(l),
  c
);
