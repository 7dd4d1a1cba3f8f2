// A storefront's use of window.snippetd, type-checked against
// web/snippetd.d.ts by TestDeclarationsTypeCheck; bad.ts holds calls the
// declarations must refuse.
/// <reference path="../../snippetd.d.ts" />

const product: Snippetd.Product = { id: "1111", name: "Winnie the Pooh", price: 9.99, categories: ["Fiction"] };
const line: Snippetd.LineItem = { product, quantity: 1 };
const cart: Snippetd.Cart = { id: "1000123", checkout_url: "https://shop.example/checkout", items: [line] };

// Before the helper loads, calls queue up in an array it replays.
window.snippetd = window.snippetd || [];
if (Array.isArray(window.snippetd)) {
  window.snippetd.push(["viewedProduct", product], ["addedToCart", cart, line], ["startedCheckout", cart]);
} else if (window.snippetd) {
  const s: Snippetd.API = window.snippetd;
  s.viewedProduct(product);
  s.addedToCart(cart, line);
  s.startedCheckout(cart, "2026-11-27T10:00:00Z");
  s.startedCheckout(cart, Date.now());
  s.identify({ email: "shopper@example.com", first_name: "Ada" });
  s.identify({ email: "shopper@example.com", location: { city: "Porto", zip: "4000-001" }, properties: { tier: "gold", points: 3, vip: true } });
  s.setCart(cart);
  s.consent(true);
  s.push(["identify", { phone_number: "+15005550006" }], ["consent", false]);
  s.viewedCategory({ id: "fiction", name: "Fiction", url: "https://shop.example/c/fiction", product_ids: ["1111"] });
  s.searchedSite({ term: "pooh", results_count: 1, product_ids: ["1111"] });
  s.push(["searchedSite", { term: "nothing" }], ["viewedCategory", { id: "sale", name: "Sale" }]);
  s.backInStock("1111-M", { email: "shopper@example.com" }).then((ok: boolean) => ok);
}
