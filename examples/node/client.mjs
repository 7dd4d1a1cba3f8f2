// snippetd from Node 20+: render a snippet for a page and send an order.
// Plain fetch, no npm packages.
//
//   SNIPPETD_URL=http://localhost:8080 SNIPPETD_API_TOKEN=dev-token node examples/node/client.mjs
//
// Run from the repository root (it reads examples/cart.json).
import { readFile } from "node:fs/promises";

const base = process.env.SNIPPETD_URL ?? "http://localhost:8080";
const token = process.env.SNIPPETD_API_TOKEN;
if (!token) {
  console.error("set SNIPPETD_API_TOKEN to the token the server was started with");
  process.exit(2);
}

// Render: the Added to Cart snippet for a cart page. The answer is an HTML
// partial to put in the page as is (it escapes everything it embeds).
const cart = await readFile(new URL("../cart.json", import.meta.url), "utf8");
const render = await fetch(`${base}/v1/render/added-to-cart`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: cart,
});
if (!render.ok) {
  // Errors are JSON: {"error": {"code", "message", "field"}}.
  const { error } = await render.json();
  throw new Error(`render: ${render.status} ${error.code} ${error.field ?? ""}: ${error.message}`);
}
console.log(await render.text());

// Orders: 202 once the events are stored; snippetd delivers them to Klaviyo.
// Sending the same order again is safe (also 202).
const order = {
  id: "node-1001",
  placed_at: new Date().toISOString(),
  currency: "USD",
  customer: { email: "ann@example.com", first_name: "Ann" },
  items: [{ product: { id: "1111", name: "Winnie the Pooh", price: 9.99 }, quantity: 2 }],
  total: 19.98,
};
const res = await fetch(`${base}/v1/orders`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
  body: JSON.stringify(order),
});
const body = await res.text();
console.log(`order ${order.id}: HTTP ${res.status} ${body.trim()}`);
if (res.status !== 202) process.exit(1);
