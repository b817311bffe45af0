// Josef web console: reloads the #live part of pages that ask for it (data-refresh on
// <body>, in seconds). Pages work without this script; it only keeps lag and throughput
// current.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  var live = document.getElementById("live");
  if (!seconds || !live || !window.fetch || !window.DOMParser) {
    return;
  }
  function refresh() {
    fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("live");
        if (fresh) {
          live.innerHTML = fresh.innerHTML;
          document.body.setAttribute("data-refreshed", new Date().toISOString());
        }
      })
      .catch(function () { /* keep the last values; try again next tick */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
