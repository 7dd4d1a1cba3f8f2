package check

// bindingName is the function the hook calls to hand each push to the
// checker (Runtime.addBinding): a binding survives navigations, so pushes
// made just before a page unloads (an add-to-cart form that posts) are not
// lost the way a queue read at the end would lose them.
const bindingName = "__snippetdCheckPush"

// hookJS runs in every document before any page script
// (Page.addScriptToEvaluateOnNewDocument). It turns window.klaviyo,
// window._learnq and window._klOnsite into accessors, so that whatever the
// page or klaviyo.js assigns to them is wrapped: an array gets a recording
// push, an object (the loader's Proxy, klaviyo.js's object) a Proxy whose
// push, track, identify and trackViewedItem record their call. A call made
// from inside another recorded call (the loader forwarding klaviyo.track to
// _klOnsite.push) is not recorded again. Values are serialized when pushed,
// as the page may change them afterwards.
const hookJS = `(function () {
  var w = window, B = w[` + "\"" + bindingName + "\"" + `];
  if (typeof B !== "function" || w.__snippetdCheckHooked) return;
  Object.defineProperty(w, "__snippetdCheckHooked", { value: true });
  var stringify = JSON.stringify, slice = Array.prototype.slice;
  var depth = 0, wrappedArrays = new WeakSet(), proxies = new WeakSet(), queued = new WeakSet();
  var METHODS = { track: 1, identify: 1, trackViewedItem: 1 };
  function enc(v) {
    var stack = [];
    try {
      return stringify(v, function (k, x) {
        if (typeof x === "function") return undefined;
        if (x && typeof x === "object") {
          if (stack.indexOf(x) >= 0) return undefined;
          stack.push(x);
        }
        return x;
      });
    } catch (e) { return null; }
  }
  function record(via, item) {
    if (depth > 0 || !item || typeof item !== "object") return;
    var j = enc(item);
    if (!j) return;
    try { B('{"via":' + stringify(via) + ',"url":' + stringify(String(location.href)) + ',"call":' + j + "}"); } catch (e) {}
  }
  function guard(fn, before) {
    return function () {
      if (depth === 0) before.apply(null, arguments);
      depth++;
      try { return fn.apply(this, arguments); } finally { depth--; }
    };
  }
  function hookArray(a, via) {
    if (wrappedArrays.has(a)) return a;
    wrappedArrays.add(a);
    // Calls queued before the array was handed over (var _learnq = [[...]]).
    for (var i = 0; i < a.length; i++) {
      if (a[i] && typeof a[i] === "object" && !queued.has(a[i])) { queued.add(a[i]); record(via, a[i]); }
    }
    // Each function assigned to push gets its own recording layer, so
    // that one wrapping the push it read before (klaviyo.js, a stand-in)
    // calls the layer below, not itself.
    function layer(fn) {
      return guard(function () { return fn.apply(this, arguments); }, function () {
        for (var i = 0; i < arguments.length; i++) {
          if (arguments[i] && typeof arguments[i] === "object") queued.add(arguments[i]);
          record(via + ".push", arguments[i]);
        }
      });
    }
    var current = layer(Object.prototype.hasOwnProperty.call(a, "push") ? a.push : Array.prototype.push);
    try {
      Object.defineProperty(a, "push", { configurable: true, enumerable: false, get: function () { return current; }, set: function (f) { current = layer(f); } });
    } catch (e) {}
    return a;
  }
  function hook(v, via) {
    if (Array.isArray(v)) return hookArray(v, via);
    if (!v || (typeof v !== "object" && typeof v !== "function") || proxies.has(v)) return v;
    var p = new Proxy(v, {
      get: function (t, name) {
        var f = Reflect.get(t, name, t);
        if (typeof f !== "function" || typeof name !== "string") return f;
        if (name === "push") {
          return guard(function () { return f.apply(t, arguments); }, function () {
            for (var i = 0; i < arguments.length; i++) record(via + ".push", arguments[i]);
          });
        }
        if (METHODS[name] === 1) {
          return guard(function () { return f.apply(t, arguments); }, function () {
            var args = slice.call(arguments);
            while (args.length && typeof args[args.length - 1] === "function") args.pop();
            record(via + "." + name, [name].concat(args));
          });
        }
        return f;
      }
    });
    proxies.add(p);
    return p;
  }
  ["klaviyo", "_learnq", "_klOnsite"].forEach(function (name) {
    var d = Object.getOwnPropertyDescriptor(w, name);
    var shown = hook(d && "value" in d ? d.value : undefined, name);
    try {
      Object.defineProperty(w, name, {
        configurable: true, enumerable: true,
        get: function () { return shown; },
        set: function (v) { shown = hook(v, name); }
      });
    } catch (e) {}
  });
})();`

// standInJS is served in place of klaviyo.js when static.klaviyo.com
// cannot be reached (or always, with Options.StandIn). Like klaviyo.js it
// drains the queues the page filled, replaces window.klaviyo with an object
// that runs calls, answers the callbacks of queued method calls, and sends
// identify and track to Klaviyo's client API (a.klaviyo.com/client/...),
// which the checker records and answers itself. It is a text/plain POST so
// that the browser sends no CORS preflight.
const standInJS = `(function (w, d) {
  var key = "";
  try {
    var u = new URL(d.currentScript.src);
    key = (u.pathname.match(/\/onsite\/js\/([^\/]+)\/klaviyo\.js$/) || [])[1] || u.searchParams.get("company_id") || "";
  } catch (e) {}
  var profile = {};
  // __snippetdCheckPending counts the requests not yet answered, so that
  // the checker waits for them (the checker answers them itself) instead of
  // guessing from a quiet time on a slow machine.
  w.__snippetdCheckPending = w.__snippetdCheckPending || 0;
  function post(path, body) {
    try {
      w.__snippetdCheckPending++;
      fetch("https://a.klaviyo.com/client/" + path + "/?company_id=" + encodeURIComponent(key), {
        method: "POST", body: JSON.stringify(body), keepalive: true, headers: { "Content-Type": "text/plain" }
      }).catch(function () {}).then(function () { w.__snippetdCheckPending--; });
    } catch (e) { w.__snippetdCheckPending--; }
  }
  function run(c) {
    if (typeof c === "function") { try { c(); } catch (e) {} return; }
    if (!c || typeof c[0] !== "string") return;
    var args = Array.prototype.slice.call(c, 1), r;
    var cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    switch (c[0]) {
      case "identify":
        var p = args[0] || {};
        for (var k in p) profile[k] = p[k];
        post("profiles", { data: { type: "profile", attributes: profile } });
        break;
      case "track":
        post("events", { data: { type: "event", attributes: { metric: { data: { type: "metric", attributes: { name: args[0] } } }, properties: args[1] || {}, profile: { data: { type: "profile", attributes: profile } } } } });
        break;
      case "isIdentified":
        r = !!(profile.email || profile.$email || profile.phone_number || profile.$phone_number || profile.external_id);
        break;
    }
    if (cb) { try { cb(r); } catch (e) {} }
    return r;
  }
  function call(name) {
    return function () {
      var args = Array.prototype.slice.call(arguments);
      return new Promise(function (resolve) { args.push(resolve); run([name].concat(args)); });
    };
  }
  var api = {
    push: function () { for (var i = 0; i < arguments.length; i++) run(arguments[i]); },
    track: call("track"), identify: call("identify"), trackViewedItem: call("trackViewedItem"), isIdentified: call("isIdentified")
  };
  ["_klOnsite", "_learnq"].forEach(function (n) {
    var q = w[n] || [];
    var items = Array.prototype.slice.call(q);
    for (var i = 0; i < items.length; i++) run(items[i]);
    q.push = api.push;
    w[n] = q;
  });
  w.klaviyo = api;
})(window, document);`
