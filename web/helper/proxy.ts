// Proxy mode: track and identify go to the first-party endpoint instead of
// klaviyo.js, batched per tick, one unique id per event so that a retried
// request never creates a second event. Only in builds with PROXY set.

import type { Props, Push } from "./types";

declare const CONSENT: boolean;

let events: Props[] = [];
let profile: Props = {};
let identified: unknown;
let timer: unknown;

/**
 * post sends body with sendBeacon (it survives the page unloading) as
 * text/plain, which the proxy accepts and which needs no CORS preflight,
 * else (queue full, or a browser that refuses the beacon) fetch with keepalive.
 */
const post = (url: string, body: Props, data = JSON.stringify(body)) => {
  try {
    if (navigator.sendBeacon(url, data)) return;
  } catch (_) {}
  fetch(url, { method: "POST", body: data, keepalive: true }).catch(() => 0);
};

/**
 * toProxy queues one push for prefix: ["identify", customer] merges into
 * the profile (POSTed flat to {prefix}i), [metric, inputs] becomes an
 * event (POSTed to {prefix}e with the profile) with a fresh unique id
 * (the proxy uses Started Checkout's own, from the cart, instead) and no
 * time: the proxy takes the time it receives the beacon, as klaviyo.js
 * takes the time it sends (events held for consent count from consent).
 * In the consent build (which only sends after snippetd.consent(true))
 * both carry "consent": true. No kx: the proxy reads the landing page's
 * _kx from the Referer of the first request from that page (the helper's
 * Active on Site when klaviyo.js is blocked) and keeps it for the browser.
 */
export const toProxy = (prefix: string, x: Push) => {
  x[0] == "identify"
    ? (identified = Object.assign(profile, x[1]))
    : events.push(Object.assign({ metric: x[0], unique_id: (Math.random() + "").slice(2) }, x[1]));
  // A microtask, not a timer: it still batches every call of this task,
  // and runs before a click that submits a form can unload the page.
  timer ||= Promise.resolve().then((_: void, extra = { consent: CONSENT || undefined }) => {
    identified && post(prefix + "i", Object.assign({}, profile, extra));
    // An event's profile names the shopper only: location and custom
    // properties go with identify.
    events[0] && post(prefix + "e", Object.assign({ events, profile: Object.assign({}, profile, { location: undefined, properties: undefined }) }, extra));
    timer = identified = 0;
    events = [];
  });
};
