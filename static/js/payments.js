/* Bazaar: card payments with the provider's own element (Stripe's Payment Element).
 *
 * The card is typed into Stripe's element and goes from the browser straight to Stripe; our server
 * only ever sees ids. The flow on a form holding [data-payment-element]:
 *   1. elements.submit() checks what was typed;
 *   2. POST the form to data-intent-url: the server places the order (or saves nothing yet, for a
 *      card-saving form) and answers with an intent's client secret and where to come back to;
 *   3. stripe.confirmPayment / confirmSetup confirms it (3-D Secure included) and sends the shopper
 *      to the return URL, where the server reads the outcome (its webhook may have it already);
 *   4. a failure in the browser is reported to data-failed-url, which ends that attempt.
 * A [data-payment-next-action] block finishes a payment the bank wants confirmed, then submits its form.
 */
(function () {
  "use strict";

  var GENERIC = "Your payment could not be started. Please try again in a moment.";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, form, extra) {
    var body = new FormData(form);
    Object.keys(extra || {}).forEach(function (name) { body.append(name, extra[name]); });
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(form), "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return { error: { message: GENERIC } }; });
    });
  }

  function stripeFor(box) {
    if (typeof window.Stripe !== "function") return null;
    return window.Stripe(box.getAttribute("data-publishable-key"));
  }

  function setUp(box) {
    var form = box.closest("form");
    var errorBox = box.querySelector("[data-payment-element-error]");
    var loading = box.querySelector("[data-payment-element-loading]");
    var button = form.querySelector("[data-pay-button]") || form.querySelector("button[type=submit]");
    var mode = box.getAttribute("data-mode") === "setup" ? "setup" : "payment";

    function showError(message) {
      errorBox.textContent = message || "";
      errorBox.hidden = !message;
      if (message) errorBox.focus && errorBox.setAttribute("tabindex", "-1");
    }
    function busy(on) {
      form.setAttribute("aria-busy", on ? "true" : "false");
      if (button) button.disabled = on;
    }

    var stripe = stripeFor(box);
    if (!stripe) {
      if (loading) loading.textContent = "The secure card form could not be loaded. Please reload the page.";
      if (button) button.disabled = true;
      return;
    }
    var options = { mode: mode, currency: box.getAttribute("data-currency"), paymentMethodTypes: ["card"] };
    if (mode === "payment") {
      options.amount = parseInt(box.getAttribute("data-amount"), 10);
      options.captureMethod = box.getAttribute("data-capture-method") || "manual";
    } else {
      options.setupFutureUsage = "off_session";
    }
    var elements = stripe.elements(options);
    var element = elements.create("payment");
    element.on("ready", function () { if (loading) loading.remove(); });
    element.mount(box.querySelector("[data-payment-element-mount]"));

    function failed(error) {
      var message = (error && error.message) || GENERIC;
      var url = box.getAttribute("data-failed-url");
      if (!url) return Promise.resolve({ message: message });
      return post(url, form, { message: message }).then(function (data) {
        if (data.redirect) window.location.assign(data.redirect);
        return { message: (data.error && data.error.message) || data.message || message };
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;  // a double click pays once
      busy(true);
      showError("");
      elements.submit().then(function (checked) {
        if (checked.error) return { message: checked.error.message };
        return post(box.getAttribute("data-intent-url"), form).then(function (data) {
          if (data.redirect) {
            window.location.assign(data.redirect);
            return { done: true };
          }
          if (!data.client_secret) return { message: (data.error && data.error.message) || GENERIC };
          var confirm = mode === "payment" ? stripe.confirmPayment : stripe.confirmSetup;
          return confirm.call(stripe, {
            elements: elements, clientSecret: data.client_secret,
            confirmParams: { return_url: data.return_url }
          }).then(function (result) {
            // Success leaves the page for the return URL; only a failure comes back here.
            return result && result.error ? failed(result.error) : { done: true };
          });
        });
      }).catch(function () {
        return { message: GENERIC };
      }).then(function (outcome) {
        if (outcome && outcome.message) {
          showError(outcome.message);
          busy(false);
        }
      });
    });
  }

  function nextAction(block) {
    var form = block.closest("form") || block.querySelector("form");
    var errorBox = block.querySelector("[data-payment-element-error]");
    var stripe = stripeFor(block);
    if (!stripe || !form) return;
    stripe.handleNextAction({ clientSecret: block.getAttribute("data-client-secret") }).then(function (result) {
      if (result && result.error) {
        if (errorBox) {
          errorBox.textContent = result.error.message || GENERIC;
          errorBox.hidden = false;
        }
        return;
      }
      form.submit();
    });
  }

  ready(function () {
    document.querySelectorAll("[data-payment-element]").forEach(setUp);
    document.querySelectorAll("[data-payment-next-action]").forEach(nextAction);
  });
})();
