// snippetd browser helper. Include it with the loader partial; it reads its
// settings from its own script element:
//
//   data-klaviyo    klaviyo.js URL, loaded on snippetd.consent(true) (consent build) or at start (proxy build)
//   data-proxy      first-party endpoint prefix: events go to {prefix}e, identify to {prefix}i (proxy build)
//   data-email      CSS selector of checkout email inputs
//   data-phone      CSS selector of checkout phone inputs
//   data-offers     CSS selector of the checkout's "email me offers" checkbox
//   data-list       Klaviyo list id for signups without the proxy
//
// Declarative attributes: data-snippetd-add-to-cart and data-snippetd-cart
// (click), data-snippetd-checkout (checkout inputs), data-snippetd-category
// and data-snippetd-search (sent once when the page is read),
// data-snippetd-back-in-stock (a button next to an email or phone input)
// and data-snippetd-subscribe (a signup form).
//
// It never throws on the page: a blocked klaviyo.js leaves calls in the
// queue, and bad declarative JSON is ignored. Written for size (the helper
// must stay under web.MaxGzipBytes gzipped): terse on purpose.

import * as B from "./payloads";
import { toProxy } from "./proxy";
import type { Cart, Category, Customer, LineItem, Product, Push, Search } from "./types";

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
 * held (consent build): the pushes held until consent is decided; kept:
 * the cart kept between clicks; known (proxy build): klaviyo.js's fate is
 * known, loaded or not; loaded: klaviyo.js was inserted.
 */
let held: Push[] = [],
  kept: Cart | undefined,
  known: unknown,
  loaded: unknown;

/**
 * on listens (capturing) to name with f(target), swallowing errors from
 * malformed page data; ev is the event being handled.
 */
let ev: Event;
const on = (name: string, f: Fn) =>
  d.addEventListener(
    name,
    (e) => {
      try {
        f((ev = e).target);
      } catch (_) {}
    },
    1 as any, // capture (1 for true: one byte less)
  );

/**
 * attr reads the JSON of data-snippetd-{name} on el or its closest ancestor
 * having it (empty or none: 0). el is an event target: one without closest
 * throws into on's guard, as malformed JSON does.
 */
const attr = (el: Element, name: string) =>
  JSON.parse(((el.closest("[" + (name = "data-snippetd-" + name) + "]") || el).getAttribute(name) || 0) as string);

/**
 * ids are the shopper identifiers the helper reads from inputs (checkout,
 * back in stock): the profile key, the inputs' selector, the characters
 * removed before checking, and the check (an email; a phone in E.164 —
 * normalising national numbers is the server's job).
 */
const ids = [
  ["email", cfg.email || "[type=email],[autocomplete=email]", /\s/g, /^[^@]+@[^@]+\.[^@]+$/],
  ["phone_number", cfg.phone || "[type=tel],[autocomplete=tel]", /[\s().-]/g, /^\+[1-9]\d{6,14}$/],
] as [string, string, RegExp, RegExp][];

/**
 * post sends a signup or back-in-stock request, which is the shopper's own
 * consent and so never waits for tracking consent: in the proxy build to
 * {prefix}path as text/plain (no preflight; the server stores and
 * delivers it), else data to Klaviyo's client endpoint path with the
 * public key: key, else the one in the klaviyo.js URL. It resolves to
 * whether it was accepted.
 */
const post = (path: string, data: unknown, key?: string) =>
  fetch(
    PROXY
      ? cfg.proxy + path
      : "https://a.klaviyo.com/client/" +
          path +
          "?company_id=" +
          (key || ((cfg.klaviyo || ((d.querySelector("script[src*='/klaviyo.js']") || 0) as any).src || "").match(/\/js\/(\w+)\//) || 0)[1]),
    PROXY
      ? { method: "POST", body: JSON.stringify(data) }
      : {
          method: "POST",
          headers: { "content-type": "application/vnd.api+json", revision: "2026-07-15" },
          body: JSON.stringify({ data }),
        },
  ).then(
    (r) => r.ok,
    () => false,
  );

/**
 * backInStock asks Klaviyo to tell the shopper (email and/or E.164 phone)
 * when variant (its external id, or Klaviyo's full "$custom:::..." id) is
 * back: through the proxy's {prefix}back-in-stock, or Klaviyo's client
 * endpoint with the public key (key, else the klaviyo.js URL's).
 */
const backInStock = (variant: string, c: Customer, key?: string) =>
  post(
    PROXY ? "back-in-stock" : "back-in-stock-subscriptions",
    PROXY
      ? Object.assign({ variant_id: variant }, B.clean(c))
      : {
          type: "back-in-stock-subscription",
          attributes: {
            channels: [c.email && "EMAIL", c.phone_number && "SMS"].filter((x) => x),
            profile: { data: { type: "profile", attributes: B.clean(c) } },
          },
          relationships: {
            variant: { data: { type: "catalog-variant", id: /:::/.test(variant) ? variant : "$custom:::$default:::" + variant } },
          },
        },
    key,
  );

/**
 * subscribe subscribes the shopper's email and/or E.164 phone (each to
 * its channel, the phone to SMS) to the list: through the proxy's
 * {prefix}subscribe (the server's configured lists; a browser names none),
 * or Klaviyo's client endpoint with o.list (else data-list) and the
 * public key. o.source is the custom source.
 */
const subscribe = (c: Customer, o: { list?: string; source?: string; key?: string } = {}) =>
  post(
    PROXY ? "subscribe" : "subscriptions",
    PROXY
      ? Object.assign({ source: o.source }, B.clean(c))
      : {
          type: "subscription",
          attributes: {
            custom_source: o.source,
            // No subscriptions object: Klaviyo then subscribes each
            // identifier given to its channel's marketing, so a phone is
            // only given with its consent.
            profile: { data: { type: "profile", attributes: B.clean(c) } },
          },
          relationships: { list: { data: { type: "list", id: o.list || cfg.list } } },
        },
    o.key,
  );

/**
 * read returns the valid email and E.164 phone of root's inputs, or 0 when
 * one given is invalid or none is given.
 */
const read = (root: ParentNode, c: any = {}) =>
  ids.some(([k, sel, junk, valid], i?: any) =>
    (i = root.querySelector(sel)) && (i = i.value.replace(junk, "")) ? !valid.test(i) || !(c[k] = i) : 0,
  ) || !(c.email || c.phone_number)
    ? 0
    : c;

/**
 * state tells the page, in el's data-snippetd-state, how a request goes:
 * invalid (none made), sending, then sent or failed.
 */
const state = (el: HTMLElement, p: Promise<boolean> | 0) =>
  (el.dataset.snippetdState = p ? (p.then((ok) => (el.dataset.snippetdState = ok ? "sent" : "failed")), "sending") : "invalid");

/** deliver hands one push to klaviyo's queue (the loader's stand-in, or the bare array), or to the proxy. */
const deliver = (x: Push) =>
  PROXY ? toProxy(cfg.proxy!, x) : (w.klaviyo || (w._klOnsite = w._klOnsite || [])).push(x);

/**
 * send is what queue does with each push: deliver it; in the consent build
 * hold it until consent is decided, then deliver (granted) or drop it.
 */
let send: (x: Push) => unknown = CONSENT ? (x) => held.push(x) : deliver;

/** queue makes an API method (of at most two arguments): build the pushes, then send them. */
const queue =
  (build: Fn): Fn =>
  (a, b) =>
    B.clean(build(a, b)).forEach(CONSENT ? send : deliver);

/**
 * active (proxy build) stands in for klaviyo.js's Active on Site when
 * klaviyo.js did not load: once per browser session (a sessionStorage flag;
 * where storage is unavailable, once per page) through the proxy.
 */
const active = () => {
  if (known) return;
  known = 1;
  try {
    if (sessionStorage.snippetdA) return;
    sessionStorage.snippetdA = 1;
  } catch (_) {}
  deliver(["Active on Site"]); // no properties: the proxy records {}
};

/**
 * load (proxy builds) inserts klaviyo.js (data-klaviyo), once: at start,
 * or on the first consent(true) with consent gating (the loader leaves its
 * tag out so that the helper sees it fail; the consent-only build inserts
 * it in consent itself). An inserted script is async by default; the CSP
 * nonce goes on. A failed load (an error event: blocked, 404) or none
 * within 5 s (a stalled request) counts as blocked.
 */
const load = () =>
  cfg.klaviyo &&
  (PROXY && setTimeout(active, 5e3),
  script.after(
    Object.assign(
      d.createElement("script"),
      PROXY
        ? { src: cfg.klaviyo, nonce: script.nonce, onerror: active, onload: () => (known = 1) }
        : { src: cfg.klaviyo, nonce: script.nonce },
    ),
  ));

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
  viewedCategory: queue(PROXY ? (category: Category) => [["Viewed Category", { category }]] : B.viewedCategory),
  searchedSite: queue(PROXY ? (search: Search) => [["Searched Site", { search }]] : B.searchedSite),
  backInStock: backInStock,
  subscribe: subscribe,
  /** setCart tells the helper the cart as it is now, before the next click. */
  setCart: (c: Cart) => (kept = c),
  consent: (ok: boolean) => {
    if (CONSENT) {
      ok
        ? // flush what is held and load klaviyo.js (once; written out here
          // in the consent-only build: one function less, 5 B gzipped)
          (held.map((send = deliver)),
          loaded ||
            ((loaded = 1),
            PROXY
              ? load()
              : cfg.klaviyo && script.after(Object.assign(d.createElement("script"), { src: cfg.klaviyo, nonce: script.nonce }))))
        : // Drop klaviyo's queue and expire __kla_id on the host and each
          // parent domain: "domain=" + the host (document.domain reads it)
          // from each word boundary on — every parent domain, with and without
          // its dot, a few names that are none (the browser ignores those)
          // and at the end "" (an empty domain is the host-only cookie).
          ((w._klOnsite || []).length = 0,
          d.domain.replace(/\b/g, (_, i, h) => (d.cookie = "__kla_id=;path=/;max-age=0;domain=" + h.slice(i))),
          (send = () => 0));
      held = [];
    }
  },
  /** push runs calls queued as ["method", ...args] (several per push, like Array.prototype.push). */
  push: (...c: [string, ...unknown[]][]) => c.map(([m, ...a]) => api[m](...a)),
};
// A helper that finds another copy already running on the page (its api
// in window.snippetd) stays idle.
const seen: { [k: string]: any } = {},
  queued = w.snippetd;
if (!((queued || 0) as any).setCart) {
  // Declarative Added to Cart.
  on(
    "click",
    (t: Element, v = attr(t, "add-to-cart"), line?: LineItem) =>
      v &&
      ((line = v.product ? v : { product: v, quantity: +(((t.closest("form") || 0) as any).quantity || 0).value || 1 }),
      api.addedToCart((kept = B.addLine(kept || attr(t, "cart") || { items: [] }, line!)), line)),
  );

  // Checkout identify, then Started Checkout once per cart on this visit.
  // The cart is read on each keystroke (inside on's error guard), so the
  // debounced callback cannot throw.
  on(
    "input",
    (
      t: HTMLInputElement,
      // off a checkout page (no data-snippetd-checkout element) attr throws into on's guard: nothing happens
      cart = attr(d.querySelector("[data-snippetd-checkout]")!, "checkout") || kept,
      key = JSON.stringify(cart),
    ) =>
        ids.map(
          ([k, sel, junk, valid]) =>
          t.matches(sel) &&
          (clearTimeout(seen[k]),
          (seen[k] = setTimeout(
            (v = t.value.replace(junk, "")) =>
              valid.test(v) &&
              !seen[k + v] &&
              (api.identify({ [k]: v }), cart && !seen[key] && api.startedCheckout(cart), (seen[k + v] = seen[key] = 1)),
            750,
          ))),
        ),
  );

  // Back in stock: the button (type="button", or it submits its form)
  // names the variant in its JSON (and may give the key); the inputs are
  // those of its form, else the page's. Its data-snippetd-state tells the
  // page: invalid (no valid email or phone), sending, sent or failed.
  on(
    "click",
    (t: Element, b = t.closest("[data-snippetd-back-in-stock]") as HTMLElement, v = attr(b, "back-in-stock"), c = read(b.closest("form") || d)) =>
      state(b, c && backInStock(v.variant, c, v.key)),
  );

  // Signup form: its email and/or phone input, the phone only with its
  // checkbox (SMS consent) ticked; its JSON may give list, source and key.
  // The helper sends it instead of the form (data-snippetd-state as above).
  on(
    "submit",
    (f: HTMLFormElement, c: any = 0, v = attr(f, "subscribe")) =>
      f.matches("[data-snippetd-subscribe]") &&
      (ev.preventDefault(),
      (c = read(f)) && !((f.querySelector("[type=checkbox]") || 0) as any).checked && delete c.phone_number,
      state(f, c && (c.email || c.phone_number) && subscribe(c, v || {}))),
  );

  // Checkout: with the "email me offers" box (data-offers) ticked, the
  // checkout's email is subscribed once, when either changes.
  cfg.offers &&
    on(
      "change",
      (_: unknown, c: any = read(d)) =>
        ((d.querySelector(cfg.offers!) || 0) as any).checked &&
        c.email &&
        !seen["s" + c.email] &&
        subscribe({ email: (seen["s" + c.email] = c.email) }, { source: "checkout" }),
    );

  // Browse pages: Viewed Category and Searched Site for the elements that
  // declare them, once the page is parsed.
  const browse = () =>
    ["category", "search"].map((a, i) =>
      d.querySelectorAll("[data-snippetd-" + a + "]").forEach((el) => {
        try {
          api[i ? "searchedSite" : "viewedCategory"](attr(el, a));
        } catch (_) {}
      }),
    );
  d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", browse) : browse();

  // Replay calls queued before the helper loaded (window.snippetd as an
  // array), then take their place.
  w.snippetd = api;
  PROXY && !CONSENT && load();
  Array.isArray(queued) && api.push(...queued);
}
