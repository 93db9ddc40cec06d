// Ordinary page code: no token handling anywhere. tokenhook.js adds the
// Authorization header to these same-origin POSTs.
(function () {
  "use strict";
  var out = document.getElementById("out");

  function show(text) { out.textContent = text; }

  function postFetch(body) {
    return fetch("/api/echo", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) { show(r.status + "\n" + t); });
    }, function (err) { show("failed: " + err); });
  }

  function postXHR(body) {
    var x = new XMLHttpRequest();
    x.open("POST", "/api/echo");
    x.setRequestHeader("Content-Type", "application/json");
    x.onload = function () { show(x.status + "\n" + x.responseText); };
    x.onerror = function () { show("failed"); };
    x.send(JSON.stringify(body));
  }

  document.getElementById("fetch").addEventListener("click", function () { postFetch({via: "fetch"}); });
  document.getElementById("xhr").addEventListener("click", function () { postXHR({via: "xhr"}); });
  document.getElementById("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    postFetch({via: "form", note: new FormData(ev.target).get("note")});
  });
  document.getElementById("signout").addEventListener("click", function () { TokenHook.signOut(); });

  // Who is signed in (tokenhook's own endpoint, with the session cookie).
  fetch("/_tokenhook/userinfo", {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (u) { document.getElementById("user").textContent = u.email || "nobody"; });
})();
