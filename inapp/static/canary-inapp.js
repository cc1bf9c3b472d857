/* Canary in-app messages: the snippet a customer's product loads beside its usage tracking.
 *
 *   <script src="https://canary.example.com/inapp/v1/canary-inapp.js?v=VERSION"></script>
 *   <script>Canary.init({workspace: "acme", userId: "u-42", userHash: "<hex HMAC-SHA256 from your server>"});</script>
 *
 * It asks Canary for the signed-in end user's pending messages and shows them one at a time: a banner or a
 * modal dialog (role="dialog", focus moved in and kept there, Esc closes it, focus given back). Closing
 * records a dismissal; the call-to-action records a click, which Canary also stores as the product event
 * "In-App CTA Clicked". No cookies are sent; every call carries the user id and its hash.
 * Canary.enablePush({serviceWorker: "/canary-inapp-sw.js"}) — call it from a click handler — asks the browser
 * for permission and registers a Web Push subscription for the user.
 */
(function () {
  "use strict";
  if (window.Canary && window.Canary.version) { return; }
  var script = document.currentScript;
  var defaultBase = script && script.src ? new URL(script.src).origin : "";
  var cfg = null;
  var queue = [];
  var showing = null;
  var P = "canary-inapp-";

  function api(path, method, body) {
    var headers = {"X-Canary-User": cfg.userId, "X-Canary-User-Hash": cfg.userHash};
    var init = {method: method || "GET", headers: headers, credentials: "omit", mode: "cors", cache: "no-store"};
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(cfg.apiBase + "/inapp/v1/w/" + encodeURIComponent(cfg.workspace) + path, init)
      .then(function (r) {
        if (!r.ok) { throw new Error("Canary in-app: " + method + " " + path + " answered " + r.status); }
        return r.status === 204 ? null : r.json();
      });
  }

  function record(id, what) { return api("/messages/" + id + "/" + what, "POST"); }

  function style() {
    if (document.getElementById(P + "style")) { return; }
    var css = document.createElement("style");
    css.id = P + "style";
    css.textContent =
      "." + P + "banner{position:fixed;top:0;left:0;right:0;z-index:2147483000;display:flex;gap:12px;align-items:center;" +
      "padding:12px 16px;background:#1f3a5f;color:#fff;font:15px/1.4 system-ui,sans-serif;box-shadow:0 2px 6px rgba(0,0,0,.3)}" +
      "." + P + "banner ." + P + "text{flex:1}" +
      "." + P + "backdrop{position:fixed;inset:0;z-index:2147483000;background:rgba(0,0,0,.45);display:flex;" +
      "align-items:center;justify-content:center}" +
      "." + P + "modal{background:#fff;color:#111;max-width:480px;width:calc(100% - 32px);border-radius:8px;padding:20px;" +
      "font:15px/1.5 system-ui,sans-serif;box-shadow:0 8px 30px rgba(0,0,0,.35)}" +
      "." + P + "modal h2{margin:0 0 8px;font-size:18px}." + P + "actions{display:flex;gap:8px;justify-content:flex-end;margin-top:16px}" +
      "." + P + "cta{background:#0b63ce;color:#fff;border-radius:4px;padding:6px 12px;text-decoration:none}" +
      "." + P + "banner ." + P + "cta{background:#fff;color:#1f3a5f}" +
      "." + P + "close{background:transparent;border:1px solid currentColor;color:inherit;border-radius:4px;padding:5px 10px;cursor:pointer}" +
      "." + P + "cta:focus,." + P + "close:focus{outline:3px solid #f5b700;outline-offset:2px}";
    document.head.appendChild(css);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = P + cls; }
    if (text) { e.textContent = text; }
    return e;
  }

  function safeUrl(url) { return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null; }

  function close(m, root, what, after) {
    if (showing !== m) { return; }
    document.removeEventListener("keydown", root._canaryKeys, true);
    root.remove();
    if (m._returnFocus && m._returnFocus.focus) { m._returnFocus.focus(); }
    showing = null;
    var done = record(m.id, what).catch(function (e) { if (window.console) { console.warn(e.message); } });
    if (after) { done.then(after); } else { next(); }
  }

  function render(m) {
    style();
    showing = m;
    var modal = m.kind === "modal";
    var titleId = P + "title-" + m.id;
    var box = el("div", modal ? "modal" : "banner");
    box.setAttribute("data-canary-message", String(m.id));
    var root = box;
    if (modal) {
      root = el("div", "backdrop");
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      box.setAttribute("aria-labelledby", titleId);
      root.appendChild(box);
    } else {
      box.setAttribute("role", "region");
      box.setAttribute("aria-labelledby", titleId);
    }
    var title = el(modal ? "h2" : "strong", "title", m.title);
    title.id = titleId;
    var text = el("div", "text");
    text.appendChild(title);
    text.appendChild(el(modal ? "p" : "span", "body", (modal ? "" : " ") + m.body));
    box.appendChild(text);
    var actions = el("div", "actions");
    var url = safeUrl(m.ctaUrl);
    var cta = null;
    if (m.ctaLabel && url) {
      cta = el("a", "cta", m.ctaLabel);
      cta.href = url;
      cta.addEventListener("click", function (ev) {
        ev.preventDefault();
        var go = function () { window.location.assign(url); };
        var timer = setTimeout(go, 2000);
        close(m, root, "clicked", function () { clearTimeout(timer); go(); });
      });
      actions.appendChild(cta);
    }
    var dismiss = el("button", "close", modal ? "Close" : "Dismiss");
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", (modal ? "Close" : "Dismiss") + ": " + m.title);
    dismiss.addEventListener("click", function () { close(m, root, "dismissed"); });
    actions.appendChild(dismiss);
    box.appendChild(actions);
    m._returnFocus = document.activeElement;
    root._canaryKeys = function (ev) {
      if (!modal) { return; }
      if (ev.key === "Escape") { ev.preventDefault(); close(m, root, "dismissed"); return; }
      if (ev.key === "Tab") {
        var items = [cta, dismiss].filter(Boolean);
        var i = items.indexOf(document.activeElement);
        ev.preventDefault();
        items[(i + (ev.shiftKey ? items.length - 1 : 1)) % items.length].focus();
      }
    };
    document.addEventListener("keydown", root._canaryKeys, true);
    document.body.appendChild(root);
    if (modal) { (cta || dismiss).focus(); }
    record(m.id, "shown").catch(function () {});
  }

  function next() {
    if (showing || !queue.length) { return; }
    render(queue.shift());
  }

  function refresh() {
    return api("/messages", "GET").then(function (answer) {
      queue = (answer && answer.messages) || [];
      next();
      return queue.length + (showing ? 1 : 0);
    });
  }

  function urlB64ToBytes(text) {
    var pad = "=".repeat((4 - text.length % 4) % 4);
    var raw = atob((text + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function enablePush(options) {
    var sw = (options && options.serviceWorker) || "/canary-inapp-sw.js";
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      return Promise.reject(new Error("this browser has no Web Push"));
    }
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { throw new Error("notifications not allowed"); }
      return Promise.all([navigator.serviceWorker.register(sw), api("/push/key", "GET")]);
    }).then(function (both) {
      var registration = both[0], key = both[1] && both[1].publicKey;
      if (!key) { throw new Error("Web Push is not set up for this workspace"); }
      return registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: urlB64ToBytes(key)});
    }).then(function (subscription) {
      return api("/push/subscription", "POST", subscription.toJSON());
    });
  }

  window.Canary = {
    version: "1",
    init: function (options) {
      if (!options || !options.workspace || !options.userId || !options.userHash) {
        throw new Error("Canary.init needs {workspace, userId, userHash}");
      }
      cfg = {workspace: String(options.workspace), userId: String(options.userId), userHash: String(options.userHash),
             apiBase: String(options.apiBase || defaultBase).replace(/\/$/, "")};
      var start = function () { return refresh().catch(function (e) { if (window.console) { console.warn(e.message); } }); };
      if (document.readyState === "loading") {
        return new Promise(function (resolve) { document.addEventListener("DOMContentLoaded", function () { resolve(start()); }); });
      }
      return start();
    },
    refresh: refresh,
    enablePush: enablePush
  };
})();
