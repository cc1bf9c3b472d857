// The audience editor's live count: after each change, the typed audience is counted on the server
// (POST /audiences/preview with the form, CSRF token included) and the count and first people are shown.
(function () {
  "use strict";
  var form = document.getElementById("audience-form");
  if (!form) { return; }
  var count = document.getElementById("audience-count");
  var error = document.getElementById("audience-error");
  var body = document.querySelector("#audience-people tbody");
  var timer = null;
  var asked = 0;
  function cell(text) { var td = document.createElement("td"); td.textContent = text || ""; return td; }
  function refresh() {
    var mine = ++asked;
    fetch(form.getAttribute("data-preview-url"), {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== asked) { return; }
        if (data.error) { error.textContent = data.error; error.hidden = false; count.textContent = "–"; return; }
        error.hidden = true;
        count.textContent = data.count.toLocaleString("en");
        body.textContent = "";
        data.people.forEach(function (p) {
          var tr = document.createElement("tr");
          tr.appendChild(cell(p.email)); tr.appendChild(cell(p.name)); tr.appendChild(cell(p.time_zone));
          body.appendChild(tr);
        });
      });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
