// snippetd demo: a local stand-in for klaviyo.js, served only while the
// demo runs with its fake public key. It does what the inspector needs of
// klaviyo.js and nothing else: it watches the queue the loader set up
// (window._klOnsite, which it leaves in place so the ?debug=1 overlay and
// tests can read it), and reports each push to snippetd, which shows it in
// the inspector as what klaviyo.js would have sent from the browser.
(function (w, d) {
  var s = d.currentScript;
  var src = s && s.src ? new URL(s.src, location.href) : null;
  var view = (src && src.searchParams.get("view")) || "";
  var endpoint = "/demo/onsite";
  var q = (w._klOnsite = w._klOnsite || []);
  var sent = 0;
  var profile = "";
  var timer = 0;
  function clean(x) {
    if (!Array.isArray(x) || typeof x[0] !== "string") return null;
    var out = [];
    for (var i = 0; i < x.length; i++) {
      if (typeof x[i] === "function") {
        // a queued method call's resolver: answer it like klaviyo.js would
        try { x[i](x[0] === "isIdentified" ? !!profile : undefined); } catch (e) {}
        continue;
      }
      out.push(x[i]);
    }
    if (out[0] === "identify" && out[1]) {
      var p = out[1];
      profile = p.email || p.$email || p.phone_number || p.$phone_number || p.external_id || profile;
    }
    return out;
  }
  function flush() {
    timer = 0;
    var pushes = [];
    for (; sent < q.length; sent++) {
      var c = clean(q[sent]);
      if (c) pushes.push(c);
    }
    if (!pushes.length) return;
    var body = JSON.stringify({ view: view, profile: profile, pushes: pushes });
    try {
      if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain" })))) {
        fetch(endpoint, { method: "POST", body: body, keepalive: true, headers: { "Content-Type": "text/plain" } }).catch(function () {});
      }
    } catch (e) {}
  }
  var push = q.push;
  q.push = function () {
    var r = push.apply(q, arguments);
    timer = timer || setTimeout(flush, 0);
    return r;
  };
  // Back-in-stock requests go from the helper straight to Klaviyo's client
  // API, not through klaviyo.js: the stand-in answers them here (202, as
  // Klaviyo does) so nothing leaves the machine, and reports each as a
  // ["backInStock", {...}] push for the inspector.
  var realFetch = w.fetch;
  w.fetch = function (url, opts) {
    if (String(url).indexOf("https://a.klaviyo.com/client/back-in-stock-subscriptions") === 0) {
      var data = {};
      try { data = JSON.parse((opts && opts.body) || "{}").data || {}; } catch (e) {}
      var a = data.attributes || {};
      var who = ((a.profile || {}).data || {}).attributes || {};
      profile = who.email || who.phone_number || profile;
      q.push(["backInStock", { variant: (((data.relationships || {}).variant || {}).data || {}).id, channels: a.channels, profile: who }]);
      return Promise.resolve(new Response(null, { status: 202 }));
    }
    return realFetch.apply(w, arguments);
  };
  flush();
})(window, document);
