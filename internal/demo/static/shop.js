// snippetd demo shop: the shop's own behaviour, nothing Klaviyo-specific.
// Add to Cart forms post in the background (the helper has already pushed
// Added to Cart from the click), product pages in proxy mode report the
// view through the helper, and ?debug=1 shows what the page pushed.
(function (w, d) {
  function $(sel) { return d.querySelector(sel); }
  function toast(text) {
    var t = $("#toast");
    if (!t) return;
    t.textContent = text;
    t.className = "toast show";
    clearTimeout(t._h);
    t._h = setTimeout(function () { t.className = "toast"; }, 1800);
  }
  d.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f.matches || !f.matches("form[data-demo-add]") || !w.fetch) return;
    e.preventDefault();
    fetch(f.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(f)),
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (c) {
        var b = $("#cart-count");
        if (b) b.textContent = c.count;
        toast("Added " + f.getAttribute("data-demo-add") + " to your cart");
      })
      .catch(function () { toast("Could not add to cart"); });
  });
  // Newsletter: in proxy mode the form goes from the browser to the
  // proxy's {prefix}subscribe (data-demo-subscribe); in direct mode it
  // posts to the shop, which subscribes from the server.
  d.addEventListener("submit", function (e) {
    var f = e.target, to = f.getAttribute && f.getAttribute("data-demo-subscribe");
    if (!to || !w.fetch) return;
    e.preventDefault();
    fetch(to, {
      method: "POST",
      body: JSON.stringify({ email: f.email.value, source: "newsletter" }),
      credentials: "include",
      headers: { "Content-Type": "application/json" }
    }).then(function (r) { if (!r.ok) return Promise.reject(r.status); f.reset(); toast("Subscribed: watch your inbox"); })
      .catch(function () { toast("Could not sign you up"); });
  });
  if (/[?&]subscribed=1/.test(location.search)) toast("Subscribed: watch your inbox");
  // Proxy mode: the helper sends the product view to the first-party proxy.
  w.addEventListener("load", function () {
    var p = $("[data-demo-viewed]");
    if (p && w.snippetd && w.snippetd.viewedProduct) {
      w.snippetd.viewedProduct(JSON.parse(p.getAttribute("data-demo-viewed")));
    }
  });
  // ?debug=1: list every push of this page (window._klOnsite), or in proxy
  // mode what the helper sent to the proxy (window._sdSent, static/debug.js).
  var list = $("#kl-debug ol");
  if (list) {
    var shown = -1;
    var proxied = $("#kl-debug").hasAttribute("data-proxy");
    setInterval(function () {
      var q = (proxied ? w._sdSent : w._klOnsite) || [];
      if (q.length === shown) return;
      shown = q.length;
      list.innerHTML = "";
      for (var i = 0; i < q.length; i++) {
        var li = d.createElement("li");
        li.textContent = JSON.stringify(q[i], function (k, v) { return typeof v === "function" ? undefined : v; });
        list.appendChild(li);
      }
      var n = $("#kl-debug-count");
      if (n) n.textContent = q.length;
    }, 250);
  }
})(window, document);
