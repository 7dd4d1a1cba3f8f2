// Proxy mode: track and identify go to the first-party endpoint instead of
// klaviyo.js, batched per tick, one unique id per event so that a retried
// request never creates a second event. Only in builds with PROXY set.

import type { Props, Push } from "./types";

let events: Props[] = [];
let profile: Props = {};
let identified: unknown;
let timer: unknown;

/** post sends body with sendBeacon (it survives the page unloading), else fetch with keepalive. */
const post = (url: string, body: Props, data = JSON.stringify(body)) =>
  navigator.sendBeacon(url, new Blob([data], { type: "application/json" })) ||
  fetch(url, { method: "POST", body: data, keepalive: true }).catch(() => 0);

/**
 * toProxy queues one push for prefix: identify merges into the profile
 * (POSTed to {prefix}i), track becomes an event (POSTed to {prefix}e with
 * the profile). trackViewedItem only feeds klaviyo.js and is dropped.
 */
export const toProxy = (prefix: string, x: Push, p?: any) => {
  x[0] == "identify"
    ? (identified = Object.assign(profile, x[1]))
    : x[0] == "track" &&
      events.push({
        metric: x[1],
        properties: (p = Object.assign({}, x[2])),
        time: new Date().toISOString(),
        unique_id: p.$event_id || Date.now() + (Math.random() + "").slice(1),
        value: p.$value,
      }) &&
      // undefined vanishes in JSON.stringify
      (p.$value = p.$event_id = undefined);
  timer ||= setTimeout(() => {
    identified && post(prefix + "i", { profile });
    events[0] && post(prefix + "e", { events, profile });
    timer = identified = 0;
    events = [];
  });
};
