/* Bazaar: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // Sort select submits its form on change (a visible button does it without JavaScript).
    document.querySelectorAll("select[data-auto-submit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.form) select.form.submit();
      });
    });

    // Filters sit in a <details>: collapsed on narrow screens, always open on wide ones.
    var narrow = window.matchMedia("(max-width: 899.98px)");
    var panels = document.querySelectorAll("details[data-collapse-narrow]");
    function fitPanels() {
      panels.forEach(function (panel) {
        var hasErrors = document.querySelector(".error-summary") !== null;
        panel.open = !narrow.matches || hasErrors;
      });
    }
    if (panels.length) {
      fitPanels();
      if (narrow.addEventListener) narrow.addEventListener("change", fitPanels);
    }

    // Product gallery: thumbnails swap the main image instead of opening the file.
    var main = document.getElementById("gallery-main");
    if (main) {
      var thumbs = document.querySelectorAll("[data-gallery-thumb]");
      thumbs.forEach(function (link) {
        link.addEventListener("click", function (event) {
          event.preventDefault();
          main.src = link.getAttribute("href");
          main.alt = link.getAttribute("data-alt") || "";
          thumbs.forEach(function (other) { other.removeAttribute("aria-current"); });
          link.setAttribute("aria-current", "true");
        });
      });
    }

    // Move focus to the error summary so screen-reader and keyboard users hear it first.
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus({ preventScroll: false });

    // Delivery promise: "if you order by 14:00 EST" becomes "order within 3 h 12 min" (within a
    // day of the cutoff), kept current every minute; past the cutoff it says to reload.
    var orderBy = document.querySelectorAll("[data-order-by]");
    function countdown() {
      var now = Date.now();
      orderBy.forEach(function (el) {
        var cutoff = Date.parse(el.getAttribute("data-order-by"));
        if (isNaN(cutoff)) return;
        var minutes = Math.floor((cutoff - now) / 60000);
        if (minutes < 0) { el.textContent = "(order day passed: reload for the new date)"; return; }
        if (minutes >= 24 * 60) return;
        var h = Math.floor(minutes / 60), m = minutes % 60;
        el.textContent = "if you order within " + (h ? h + " h " : "") + m + " min";
      });
    }
    if (orderBy.length) {
      countdown();
      window.setInterval(countdown, 60000);
    }

    // An amount picked from the list or typed, never both on screen: typing clears the choice, and
    // choosing clears what was typed (the server takes the typed amount when both arrive).
    document.querySelectorAll("[data-amount-pick]").forEach(function (group) {
      var typed = group.querySelector("input[type=number], input[type=text]");
      var radios = group.querySelectorAll("input[type=radio]");
      if (!typed) return;
      typed.addEventListener("input", function () {
        if (typed.value !== "") radios.forEach(function (radio) { radio.checked = false; });
      });
      radios.forEach(function (radio) {
        radio.addEventListener("change", function () { if (radio.checked) typed.value = ""; });
      });
    });

    // Checkout review: with "pay with my store credit first" ticked, the pay button says what the
    // card pays (or that the credit pays it all, and then the card field is not needed).
    document.querySelectorAll("[data-use-store-credit] input[type=checkbox]").forEach(function (tick) {
      var form = tick.form;
      var button = form && form.querySelector("[data-pay-button][data-label-credit]");
      if (!button) return;
      var plain = button.textContent;
      var card = form.querySelector("[data-card-field]");
      function show() {
        button.textContent = tick.checked ? button.getAttribute("data-label-credit") : plain;
        if (card) card.hidden = tick.checked && button.hasAttribute("data-credit-covers");
      }
      tick.addEventListener("change", show);
      show();
    });

    // Tells automated tests (and curious developers) that the enhancements are attached.
    document.documentElement.setAttribute("data-enhanced", "true");
  });
})();
