// snippetd demo, ?debug=1 in proxy mode: records what the browser helper
// sends to the first-party proxy ({prefix}e events, {prefix}i identify),
// by sendBeacon or fetch, on window._sdSent for shop.js's overlay. Loaded
// synchronously before the loader, so it sees the helper's first send.
(function (w, n, d) {
  var prefix = d.currentScript.getAttribute("data-proxy");
  var sent = (w._sdSent = []);
  var record = function (url, body) {
    var path = String(url).replace(/^[a-z]+:\/\/[^\/]+/i, "");
    if (typeof body !== "string" || (path !== prefix + "e" && path !== prefix + "i")) return;
    try {
      var b = JSON.parse(body);
    } catch (_) {
      return;
    }
    if (path === prefix + "i") sent.push(["identify", b]);
    else (b.events || []).forEach(function (e) { sent.push([e.metric, e]); });
  };
  var beacon = n.sendBeacon;
  if (beacon) {
    n.sendBeacon = function (url, data) {
      var ok = beacon.call(n, url, data);
      if (ok) record(url, data);
      return ok;
    };
  }
  var f = w.fetch;
  if (f) {
    w.fetch = function (url, init) {
      if (init) record(url, init.body);
      return f.apply(this, arguments);
    };
  }
})(window, navigator, document);
