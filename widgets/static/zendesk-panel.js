// Canary panel inside the Zendesk sidebar: find the organization in view, load its health.
(function () {
  "use strict";
  var session = document.querySelector('meta[name="canary-session"]').content;
  var fixedOrg = document.querySelector('meta[name="canary-organization"]').content;
  var target = document.getElementById("canary-panel");

  function show(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var body = doc.body;
    document.body.className = body.className || document.body.className;
    target.replaceChildren.apply(target, Array.prototype.slice.call(body.childNodes));
  }

  function message(text) {
    var p = document.createElement("p");
    p.className = "panel muted";
    p.textContent = text;
    target.replaceChildren(p);
  }

  function load(orgId) {
    if (!orgId) { message("This ticket's requester has no organization, so there is no customer health to show."); return; }
    fetch("panel?organization_id=" + encodeURIComponent(orgId), { headers: { Authorization: "Bearer " + session } })
      .then(function (r) { return r.text().then(function (t) { return { status: r.status, text: t }; }); })
      .then(function (res) {
        if (res.status === 200 || res.status === 404) { show(res.text); return; }
        var reason = "Canary could not load this customer.";
        try { reason = JSON.parse(res.text).error || reason; } catch (e) { /* not JSON */ }
        message(reason);
      })
      .catch(function () { message("Canary is not reachable right now."); });
  }

  function orgFromZaf(client) {
    return client.context().then(function (ctx) {
      var loc = ctx.location;
      var path = loc === "ticket_sidebar" ? "ticket.organization" : loc === "user_sidebar" ? "user.organizations" : "organization";
      return client.get(path).then(function (data) {
        var value = data[path];
        if (Array.isArray(value)) { value = value[0]; }
        return value && value.id ? String(value.id) : "";
      });
    });
  }

  if (fixedOrg) { load(fixedOrg); return; }
  if (window.ZAFClient) {
    var client = window.ZAFClient.init();
    client.invoke("resize", { width: "100%", height: "520px" });
    orgFromZaf(client).then(load, function () { message("Zendesk did not say which organization is open."); });
  } else {
    message("Open Canary from the Zendesk sidebar.");
  }
})();
