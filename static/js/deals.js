/* Bazaar lightning deals: keep every countdown ticking. The server already rendered the time
   left (H:MM:SS), so pages work without this file; with it, [data-deal-countdown] elements are
   rewritten every second from their data-ends-at (ISO 8601) attribute. Loaded once per page,
   whatever the number of deal boxes that include it. */
(function () {
  "use strict";

  if (window.bazaarDealsTicking) return;
  window.bazaarDealsTicking = true;

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function format(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    return Math.floor(s / 3600) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deal-countdown]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-ends-at"));
      if (isNaN(end)) return;
      var left = end - now;
      if (left <= 0) {
        el.textContent = el.getAttribute("data-done-text") || format(0);
        el.removeAttribute("data-deal-countdown");
        var card = el.closest("[data-deal]");
        if (card) card.setAttribute("data-deal-done", "true");
        return;
      }
      var text = format(left);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  function start() {
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
