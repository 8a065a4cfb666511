// The desk's one script: the print button, and the sync indicator kept
// fresh without reloading the page. Everything works without it.
"use strict";
(function () {
  var print = document.getElementById("print");
  if (print) {
    print.addEventListener("click", function () { window.print(); });
  }
  var sync = document.getElementById("sync");
  if (!sync || !window.fetch) {
    return;
  }
  function refresh() {
    fetch(sync.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s) {
          sync.textContent = s.text;
          sync.className = s.class;
        }
      })
      .catch(function () {});
  }
  setInterval(refresh, 15000);
})();
