// snippetd browser helper. Include it with the loader partial; it reads its
// settings from its own script element:
//
//   data-klaviyo    klaviyo.js URL, loaded on snippetd.consent(true) (consent build) or at start (proxy build)
//   data-proxy      first-party endpoint prefix: events go to {prefix}e, identify to {prefix}i (proxy build)
//   data-email      CSS selector of checkout email inputs
//   data-phone      CSS selector of checkout phone inputs
//
// It never throws on the page: a blocked klaviyo.js leaves calls in the
// queue, and bad declarative JSON is ignored. Written for size (the helper
// must stay under 1,500 bytes gzipped): terse on purpose.

import * as B from "./payloads";
import { toProxy } from "./proxy";
import type { Cart, LineItem, Product, Push } from "./types";

declare global {
  interface Window {
    snippetd?: unknown;
    klaviyo?: { push(x: unknown): unknown };
    _klOnsite?: unknown[];
  }
}

/**
 * CONSENT and PROXY are set at build time (web.Features): the loader picks
 * the build for its options, so a page without consent gating or proxy
 * mode never downloads their code.
 */
declare const CONSENT: boolean, PROXY: boolean;

type Fn = (...a: any[]) => any;

const w = window;
const d = document;
const script = (d.currentScript || {}) as HTMLScriptElement;
const cfg: DOMStringMap = script.dataset || {};

/**
 * state.h (consent build): the held pushes until consent is decided, then
 * the decision (true sends, false drops); state.k: the kept cart; state.l:
 * klaviyo.js was inserted; state.a (proxy build): klaviyo.js's fate is
 * known, loaded or not.
 */
const state: { h: any; k?: Cart; l?: unknown; a?: number } = { h: [] };

/** safe runs f, swallowing errors from malformed page data. */
const safe =
  (f: Fn): Fn =>
  (...a) => {
    try {
      f(...a);
    } catch (_) {}
  };

/** first is false when another copy of the helper already runs on the page: this one stays idle. */
const first = !((w.snippetd || 0) as any).setCart;

const on = (name: string, f: Fn) => first && d.addEventListener(name, safe(f), true);

/** attr reads the JSON of data-snippetd-{name} on el or its closest ancestor having it (empty: 0). */
const attr = (el: Element | null, name: string) =>
  (el = el && el.closest("[" + (name = "data-snippetd-" + name) + "]")) && JSON.parse(el.getAttribute(name) || "0");

/** deliver hands one push to klaviyo's queue (the loader's stand-in, or the bare array), or to the proxy. */
const deliver = (x: Push) =>
  PROXY ? toProxy(cfg.proxy!, x) : (w.klaviyo || (w._klOnsite = w._klOnsite || [])).push(x);

/** queue makes an API method: build the pushes, then deliver, hold or drop them by consent. */
const queue =
  (build: Fn): Fn =>
  (...a) =>
    B.clean(build(...a)).forEach(
      CONSENT ? (x: Push) => (state.h.push ? state.h.push(x) : state.h && deliver(x)) : deliver,
    );

/**
 * active (proxy build) stands in for klaviyo.js's Active on Site when
 * klaviyo.js did not load: once per browser session (a sessionStorage flag;
 * where storage is unavailable, once per page) through the proxy.
 */
const active = () => {
  if (state.a) return;
  state.a = 1;
  try {
    if (sessionStorage.snippetdA) return;
    sessionStorage.snippetdA = 1;
  } catch (_) {}
  deliver(["Active on Site"]); // no properties: the proxy records {}
};

/**
 * load inserts klaviyo.js (data-klaviyo) once: on consent in the consent
 * build, at start in the proxy build (the loader leaves its tag out so
 * that the helper sees it fail). An inserted script is async by default;
 * the CSP nonce goes on. In the proxy build a failed load (an error event:
 * blocked, 404) or none within 5 s (a stalled request) counts as blocked.
 */
const load = () =>
  cfg.klaviyo &&
  !state.l &&
  (state.l = d.head.appendChild(
    Object.assign(
      d.createElement("script"),
      PROXY ? { src: cfg.klaviyo, nonce: script.nonce, onerror: active, onload: () => (state.a = 1) } : { src: cfg.klaviyo, nonce: script.nonce },
    ),
  )) &&
  PROXY &&
  setTimeout(active, 5e3);

/**
 * The proxy build has no payload builders: it sends the inputs, under the
 * render API's names, as [metric, inputs] and the server builds the
 * properties with the Go builders. Started Checkout's time goes as epoch
 * milliseconds (NaN, for an unparsable one, becomes null: now).
 */
const api: { [k: string]: Fn } = {
  viewedProduct: queue(PROXY ? (product: Product) => [["Viewed Product", { product }]] : B.viewedProduct),
  addedToCart: queue(PROXY ? (cart: Cart, added: LineItem) => [["Added to Cart", { cart, added }]] : B.addedToCart),
  startedCheckout: queue(
    PROXY ? (cart: Cart, t?: string | number | Date) => [["Started Checkout", { cart, time: t && +new Date(t) }]] : B.startedCheckout,
  ),
  identify: queue(B.identify),
  /** setCart tells the helper the cart as it is now, before the next click. */
  setCart: (c: Cart) => (state.k = c),
  consent: (ok: boolean) => {
    if (CONSENT) {
      ok
        ? (state.h.map && state.h.map(deliver), load())
        : // Drop klaviyo's queue and expire __kla_id on the host and each
          // parent domain: "domain=" + the host, then from each dot on, then
          // "" (an empty domain is the host-only cookie).
          ((w._klOnsite || []).length = 0,
          location.hostname.replace(/^|\.|$/g, (_, i, h) => (d.cookie = "__kla_id=;path=/;max-age=0;domain=" + h.slice(i))));
      state.h = ok;
    }
  },
  /** push runs calls queued as ["method", ...args] (several per push, like Array.prototype.push). */
  push: (...c: [string, ...unknown[]][]) => c.map(([m, ...a]) => api[m](...a)),
};
// Declarative Added to Cart.
on("click", (e: Event, v = attr(e.target as Element, "add-to-cart"), q?: any, line?: LineItem) => {
  v &&
    ((q = (e.target as Element).closest("form")),
    (line = v.product ? v : { product: v, quantity: +((q = q && q.quantity) && q.value) || 1 }),
    api.addedToCart((state.k = B.addLine(state.k || attr(e.target as Element, "cart") || { items: [] }, line!)), line));
});

// Checkout identify, then Started Checkout once per cart on this visit.
// The cart is read on each keystroke (inside on's error guard), so the
// debounced callback cannot throw.
const seen: { [k: string]: any } = {};
on(
  "input",
  (
    e: Event,
    t = e.target as HTMLInputElement,
    co = d.querySelector("[data-snippetd-checkout]"),
    cart = co && (attr(co, "checkout") || state.k),
    key = JSON.stringify(cart),
  ) => {
    for (const [k, sel, junk, valid] of [
      ["email", cfg.email || "[type=email],[autocomplete=email]", /\s/g, /^[^@]+@[^@]+\.[^@]+$/],
      ["phone_number", cfg.phone || "[type=tel],[autocomplete=tel]", /[\s().-]/g, /^\+[1-9]\d{6,14}$/],
    ] as [string, string, RegExp, RegExp][])
      co &&
        t.matches(sel) &&
        (clearTimeout(seen[k]),
        (seen[k] = setTimeout((v = t.value.replace(junk, "")) => {
          valid.test(v) &&
            !seen[k + v] &&
            (api.identify({ [k]: v }), cart && !seen[key] && api.startedCheckout(cart), (seen[k + v] = seen[key] = 1));
        }, 750)));
  },
);

// Replay calls queued before the helper loaded (window.snippetd as an
// array), then take their place.
const queued = w.snippetd;
first && ((w.snippetd = api), PROXY && !CONSENT && load());
Array.isArray(queued) && api.push(...queued);
