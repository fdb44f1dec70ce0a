/* A stand-in for Stripe.js v3, for browser tests only (served by tests/stripe_standin/urls.py,
 * never shipped). It implements the part of Stripe.js that static/js/payments.js uses:
 *
 *   Stripe(publishableKey)
 *   stripe.elements({mode: "payment", amount, currency, captureMethod, ...} | {mode: "setup", ...})
 *   elements.create("payment") -> element.mount(target), element.on("ready", fn)
 *   elements.submit()                -> {} or {error: {type: "validation_error", code, message}}
 *   stripe.confirmPayment({elements, clientSecret, confirmParams: {return_url}})
 *   stripe.confirmSetup({elements, clientSecret, confirmParams: {return_url}})
 *   stripe.handleNextAction({clientSecret})
 *
 * The "element" is a plain card form (inputs without a name, so a surrounding form never sends the
 * card number to the shop); confirming posts it to the fake Stripe API of the test server
 * (/__stripe__/v1/...). A card that needs 3-D Secure opens a modal dialog "Authenticate this
 * payment" with "Complete" and "Fail". On success the page goes to return_url with
 * payment_intent (or setup_intent), its client secret and redirect_status=succeeded added to the
 * query string; on failure the promise resolves with {error} and the page stays, as with Stripe.
 * It runs under the shop's Content-Security-Policy: a same-origin file, no inline code, no eval.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var BASE = script ? new URL(".", script.src).pathname : "/__stripe__/";
  var counter = 0;

  function api(path, body) {
    return fetch(BASE + "v1/" + path, {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) { return response.json(); });
  }

  function digitsOf(value) { return String(value || "").replace(/[\s-]/g, ""); }

  function luhn(number) {
    if (!/^\d{12,19}$/.test(number)) return false;
    var total = 0;
    for (var i = 0; i < number.length; i++) {
      var d = parseInt(number.charAt(number.length - 1 - i), 10) * (i % 2 ? 2 : 1);
      total += d > 9 ? d - 9 : d;
    }
    return total % 10 === 0;
  }

  function integrationError(message) {
    var error = new Error(message);
    error.name = "IntegrationError";
    return error;
  }

  function field(box, id, label, attrs) {
    var wrap = document.createElement("p");
    wrap.className = "field stripe-standin__field";
    var tag = document.createElement("label");
    tag.setAttribute("for", id);
    tag.textContent = label;
    var input = document.createElement("input");
    input.id = id;
    input.type = "text";
    input.spellcheck = false;
    Object.keys(attrs).forEach(function (name) { input.setAttribute(name, attrs[name]); });
    wrap.appendChild(tag);
    wrap.appendChild(input);
    box.appendChild(wrap);
    return input;
  }

  // --- the Payment Element --------------------------------------------------------------------

  function PaymentElement(group) {
    this.group = group;
    this.handlers = {};
    this.inputs = null;
  }

  PaymentElement.prototype.on = function (name, handler) {
    (this.handlers[name] = this.handlers[name] || []).push(handler);
    return this;
  };

  PaymentElement.prototype.emit = function (name, payload) {
    (this.handlers[name] || []).forEach(function (handler) { handler(payload); });
  };

  PaymentElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    if (!host) throw integrationError("elements.create('payment').mount(): no such element.");
    var n = ++counter;
    var box = document.createElement("div");
    box.className = "stripe-standin";
    box.setAttribute("data-stripe-standin", "");
    this.inputs = {
      number: field(box, "stripe-standin-number-" + n, "Card number",
                    { autocomplete: "cc-number", inputmode: "numeric" }),
      exp: field(box, "stripe-standin-exp-" + n, "Expiration date (MM / YY)",
                 { autocomplete: "cc-exp", inputmode: "numeric", placeholder: "MM / YY" }),
      cvc: field(box, "stripe-standin-cvc-" + n, "Security code (CVC)",
                 { autocomplete: "cc-csc", inputmode: "numeric" })
    };
    host.appendChild(box);
    var self = this;
    window.setTimeout(function () { self.emit("ready", { elementType: "payment" }); }, 0);
    return this;
  };

  PaymentElement.prototype.card = function () {
    return { number: digitsOf(this.inputs.number.value), exp: this.inputs.exp.value, cvc: this.inputs.cvc.value };
  };

  PaymentElement.prototype.validate = function () {
    if (!this.inputs) return { type: "validation_error", code: "incomplete", message: "The card form is not mounted." };
    var number = digitsOf(this.inputs.number.value);
    var problem = null;
    if (!number) problem = { code: "incomplete_number", message: "Your card number is incomplete." };
    else if (!luhn(number)) problem = { code: "invalid_number", message: "Your card number is invalid." };
    else if (this.inputs.exp.value && !/^\s*(0?[1-9]|1[0-2])\s*\/\s*\d{2}\s*$/.test(this.inputs.exp.value)) {
      problem = { code: "incomplete_expiry", message: "Your card's expiration date is incomplete." };
    }
    this.inputs.number.setAttribute("aria-invalid", problem && problem.code.indexOf("number") >= 0 ? "true" : "false");
    return problem ? { type: "validation_error", code: problem.code, message: problem.message } : null;
  };

  function Elements(stripe, options) {
    this.stripe = stripe;
    this.options = options || {};
    this.element = null;
    if (this.options.mode !== "payment" && this.options.mode !== "setup" && !this.options.clientSecret) {
      throw integrationError("stripe.elements(): pass a mode ('payment' or 'setup') or a clientSecret.");
    }
  }

  Elements.prototype.create = function (type) {
    if (type !== "payment") throw integrationError("This stand-in only has the Payment Element.");
    this.element = new PaymentElement(this);
    return this.element;
  };

  Elements.prototype.submit = function () {
    var problem = this.element ? this.element.validate() : { type: "validation_error", message: "Nothing mounted." };
    return Promise.resolve(problem ? { error: problem } : {});
  };

  // --- 3-D Secure -------------------------------------------------------------------------------

  function challenge() {
    return new Promise(function (resolve) {
      var n = ++counter;
      var dialog = document.createElement("dialog");
      dialog.className = "stripe-standin-challenge";
      dialog.setAttribute("aria-labelledby", "stripe-standin-challenge-title-" + n);
      dialog.setAttribute("aria-describedby", "stripe-standin-challenge-text-" + n);
      var title = document.createElement("h2");
      title.id = "stripe-standin-challenge-title-" + n;
      title.textContent = "Authenticate this payment";
      var text = document.createElement("p");
      text.id = "stripe-standin-challenge-text-" + n;
      text.textContent = "Your bank (a test stand-in for 3-D Secure) asks you to confirm.";
      var complete = document.createElement("button");
      complete.type = "button";
      complete.textContent = "Complete";
      var fail = document.createElement("button");
      fail.type = "button";
      fail.textContent = "Fail";
      [title, text, complete, fail].forEach(function (node) { dialog.appendChild(node); });
      var answered = false;
      function answer(outcome) {
        if (answered) return;
        answered = true;
        if (dialog.open) dialog.close();
        dialog.remove();
        resolve(outcome);
      }
      complete.addEventListener("click", function () { answer("complete"); });
      fail.addEventListener("click", function () { answer("fail"); });
      dialog.addEventListener("cancel", function (event) { event.preventDefault(); answer("fail"); });
      document.body.appendChild(dialog);
      dialog.showModal();
      complete.focus();
    });
  }

  // --- Stripe -------------------------------------------------------------------------------------

  function StripeStandIn(key) {
    if (!key) throw integrationError("Please call Stripe() with your publishable key. You used an empty string.");
    this.key = key;
  }

  StripeStandIn.prototype.elements = function (options) { return new Elements(this, options); };

  StripeStandIn.prototype.returnTo = function (kind, intent, returnUrl) {
    var url = new URL(returnUrl, window.location.href);
    var name = kind === "setup" ? "setup_intent" : "payment_intent";
    url.searchParams.set(name, intent.id);
    url.searchParams.set(name + "_client_secret", intent.client_secret);
    url.searchParams.set("redirect_status", "succeeded");
    window.location.assign(url.toString());
    return new Promise(function () {});  // the page is leaving, as with Stripe
  };

  StripeStandIn.prototype.authenticate = function (clientSecret) {
    var key = this.key;
    return challenge().then(function (outcome) {
      return api("authenticate", { key: key, client_secret: clientSecret, outcome: outcome });
    });
  };

  StripeStandIn.prototype.confirm = function (kind, options) {
    options = options || {};
    var group = options.elements;
    var returnUrl = options.confirmParams && options.confirmParams.return_url;
    var name = kind === "setup" ? "confirmSetup" : "confirmPayment";
    if (!group || !(group instanceof Elements) || !group.element) {
      return Promise.reject(integrationError("stripe." + name + "(): pass the elements you mounted."));
    }
    if (!options.clientSecret) return Promise.reject(integrationError("stripe." + name + "(): clientSecret is required."));
    if (!returnUrl) return Promise.reject(integrationError("stripe." + name + "(): confirmParams.return_url is required."));
    var self = this;
    var secret = options.clientSecret;
    return api("confirm", { key: this.key, client_secret: secret, card: group.element.card(), elements: group.options })
      .then(function (result) {
        if (result.error) return { error: result.error };
        if (result.intent.status !== "requires_action") return self.returnTo(kind, result.intent, returnUrl);
        return self.authenticate(secret).then(function (answer) {
          if (answer.error) return { error: answer.error };
          return self.returnTo(kind, answer.intent, returnUrl);
        });
      });
  };

  StripeStandIn.prototype.confirmPayment = function (options) { return this.confirm("payment", options); };
  StripeStandIn.prototype.confirmSetup = function (options) { return this.confirm("setup", options); };

  StripeStandIn.prototype.handleNextAction = function (options) {
    var secret = options && options.clientSecret;
    if (!secret) return Promise.reject(integrationError("stripe.handleNextAction(): clientSecret is required."));
    var self = this;
    function done(intent) {
      return intent.object === "setup_intent" ? { setupIntent: intent } : { paymentIntent: intent };
    }
    return api("retrieve", { key: this.key, client_secret: secret }).then(function (result) {
      if (result.error) return { error: result.error };
      if (result.intent.status !== "requires_action") return done(result.intent);
      return self.authenticate(secret).then(function (answer) {
        return answer.error ? { error: answer.error } : done(answer.intent);
      });
    });
  };

  window.Stripe = function (key) { return new StripeStandIn(key); };
})();
