"""An in-memory Stripe for tests: the state that our server (through the ``stripe`` library with
its HTTP client stubbed) and the browser (through the Stripe.js stand-in) share.

It answers the requests :mod:`payments.providers.stripe` sends, the way Stripe does: form-encoded
bodies, ``expand[]``, the ``Idempotency-Key`` header (the same key and parameters replay the first
answer; other parameters are an ``idempotency_error``), and Stripe's error shapes (a ``card_error``
402 carrying the PaymentIntent, an ``invalid_request_error`` 400 or 404, a 401 for a wrong secret
key). The test cards behave like Stripe's:

========================  ==================================================================
4242 4242 4242 4242       succeeds (any other Luhn-valid number too)
4000 0000 0000 0002       declined (``card_declined`` / ``generic_decline``)
4000 0000 0000 9995       declined (``insufficient_funds``); can still be saved on a SetupIntent
4000 0027 6000 3184       3-D Secure on every payment and setup; off-session it is declined
                          (``authentication_required``)
4000 0025 0000 3155       3-D Secure on setup and on on-session payments; once set up (a
                          SetupIntent, or a payment with ``setup_future_usage``), off-session
                          payments on its customer succeed
========================  ==================================================================

Stripe's test payment method ids (``pm_card_visa``, ``pm_card_chargeDeclined``,
``pm_card_authenticationRequired``...) make a fresh PaymentMethod of the matching card, as Stripe does.

Every change records the event Stripe would send (``payment_intent.amount_capturable_updated``,
``.payment_failed``, ``.canceled``, ``.succeeded``, ``.requires_action``, ``charge.refunded``...);
:meth:`FakeStripe.send` signs one with the webhook secret and hands it to
``payments.services.webhook_receive`` or posts it to ``/payments/webhooks/stripe/``.
:attr:`FakeStripe.unreachable` makes every call fail with a connection error, and
:attr:`FakeStripe.drop_responses` does the work but loses the answer (the outcome is unknown to us).

Card numbers stay inside the fake: what it hands out are ``pm_...`` ids, brand, last4 and a
fingerprint (the same number always has the same fingerprint).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

SECRET_KEY = "sk_test_fake"
PUBLISHABLE_KEY = "pk_test_fake"
WEBHOOK_SECRET = "whsec_fake_secret"
AUTHORIZATION_DAYS = 7  # how long a manual-capture authorization holds (latest_charge.capture_before)

OK, DECLINE, AUTH_ALWAYS, AUTH_ON_SESSION = "ok", "decline", "auth_always", "auth_on_session"

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
NO_FUNDS_CARD = "4000 0000 0000 9995"
THREE_D_SECURE_CARD = "4000 0027 6000 3184"
SETUP_THREE_D_SECURE_CARD = "4000 0025 0000 3155"


@dataclass(frozen=True)
class TestCard:
    brand: str
    behaviour: str = OK
    decline_code: str = ""
    message: str = ""


CARDS = {
    "4242424242424242": TestCard("visa"),
    "5555555555554444": TestCard("mastercard"),
    "4000000000000002": TestCard("visa", DECLINE, "generic_decline", "Your card was declined."),
    "4000000000009995": TestCard("visa", DECLINE, "insufficient_funds", "Your card has insufficient funds."),
    "4000002760003184": TestCard("visa", AUTH_ALWAYS),
    "4000002500003155": TestCard("visa", AUTH_ON_SESSION),
}
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
}
_CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
_CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
AUTHENTICATION_FAILED = ("We are unable to authenticate your payment method. Please choose a different payment method "
                         "and try again.")


def digits(number: str) -> str:
    return re.sub(r"[\s-]", "", str(number or ""))


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_of(number: str) -> TestCard:
    known = CARDS.get(number)
    if known is not None:
        return known
    return TestCard("mastercard" if number[:1] == "5" else "amex" if number[:2] in ("34", "37") else "visa")


def fingerprint_of(number: str) -> str:
    return hashlib.sha256(f"fake-stripe-fingerprint:{number}".encode()).hexdigest()[:16]


def decode_form(text: str) -> dict[str, Any]:
    """Stripe's form encoding back into objects: ``metadata[a]=1&expand[0]=x&items[]=y``."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text or "", keep_blank_values=True):
        match = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        if not match:
            continue
        names = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))]
        node = root
        for name in names[:-1]:
            node = node.setdefault(name or str(len(node)), {})
        last = names[-1] or str(len(node))
        node[last] = value
    return _lists(root)


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _lists(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


class StripeAPIError(Exception):
    """An error answer: HTTP status and Stripe's ``error`` object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def invalid_request(message: str, *, code: str = "", param: str = "", status: int = 400) -> StripeAPIError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return StripeAPIError(status, error)


def missing(kind: str, ident: str, *, param: str = "", status: int = 404) -> StripeAPIError:
    return invalid_request(f"No such {kind}: '{ident}'", code="resource_missing", param=param, status=status)


@dataclass
class ApiRequest:
    """A request our server sent to the fake Stripe API."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str = ""
    status: int = 0


@dataclass
class _CardState:
    """What only Stripe knows about a PaymentMethod."""

    number: str
    consumed: bool = False  # used without a customer: Stripe refuses to use or attach it again
    set_up: bool = False  # saved for off-session use (SetupIntent or setup_future_usage)


@dataclass
class FakeStripe:
    """The Stripe account of a test: objects, the events it would send, the requests it got."""

    secret_key: str = SECRET_KEY
    publishable_key: str = PUBLISHABLE_KEY
    webhook_secret: str = WEBHOOK_SECRET
    unreachable: bool = False  # every API call fails to connect (nothing happens at Stripe)
    drop_responses: bool = False  # Stripe does the work, but the answer never reaches us
    api_key_valid: bool = True  # False: Stripe answers 401 (a revoked or wrong secret key)
    customers: dict[str, dict] = field(default_factory=dict)
    payment_methods: dict[str, dict] = field(default_factory=dict)
    intents: dict[str, dict] = field(default_factory=dict)
    setups: dict[str, dict] = field(default_factory=dict)
    charges: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    connected_accounts: set[str] = field(default_factory=set)  # Connect accounts transfers may go to
    transfers: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    requests: list[ApiRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The live server answers the browser in another thread: one lock around every change.
        self.lock = threading.RLock()
        self._cards: dict[str, _CardState] = {}
        self._idempotent: dict[str, tuple[str, int, dict]] = {}
        self.http_client = FakeHTTPClient(self)

    # --- the HTTP API our server calls --------------------------------------------------------------

    def handle(self, method: str, url: str, headers: dict[str, str], body: str | None) -> tuple[int, dict]:
        parts = urlsplit(url)
        method = method.upper()
        params = decode_form(body if method == "POST" else parts.query)
        key = str(headers.get("Idempotency-Key") or "")
        with self.lock:
            request = ApiRequest(method, parts.path, params, key)
            self.requests.append(request)
            if headers.get("Authorization") != f"Bearer {self.secret_key}" or not self.api_key_valid:
                request.status = 401
                return 401, {"error": {"type": "invalid_request_error",
                                       "message": "Invalid API Key provided: sk_test_****" + self.secret_key[-4:]}}
            fingerprint = json.dumps([method, parts.path, params], sort_keys=True)
            if key and method == "POST" and key in self._idempotent:
                first, status, answer = self._idempotent[key]
                if first != fingerprint:
                    request.status = 400
                    return 400, {"error": {"type": "idempotency_error", "message": (
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.")}}
                request.status = status
                return status, copy.deepcopy(answer)
            try:
                status, answer = 200, self._route(method, parts.path, params)
            except StripeAPIError as exc:
                status, answer = exc.status, {"error": exc.error}
            if key and method == "POST" and status in (200, 402):  # Stripe keeps what it started doing
                self._idempotent[key] = (fingerprint, status, copy.deepcopy(answer))
            request.status = status
            return status, answer

    def _route(self, method: str, path: str, params: dict) -> dict:
        expand = params.pop("expand", []) or []
        routes = [
            ("POST", r"/v1/customers", lambda: self._customer_create(params)),
            ("POST", r"/v1/payment_intents", lambda: self._intent_create(params, expand)),
            ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", lambda id: self._render_intent(self._intent(id), expand)),
            ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/capture", lambda id: self._intent_capture(id, params, expand)),
            ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/cancel", lambda id: self._intent_cancel(id, params, expand)),
            ("POST", r"/v1/refunds", lambda: self._refund_create(params)),
            ("POST", r"/v1/transfers", lambda: self._transfer_create(params)),
            ("POST", r"/v1/payment_methods/(?P<id>[^/]+)/attach", lambda id: self._attach(id, params)),
            ("POST", r"/v1/setup_intents", lambda: self._setup_create(params)),
            ("GET", r"/v1/setup_intents/(?P<id>[^/]+)", lambda id: self._render_setup(self._setup(id), expand)),
        ]
        for verb, pattern, answer in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return answer(**match.groupdict())
        raise invalid_request(f"Unrecognized request URL ({method}: {path}).", status=404)

    # --- customers and payment methods ----------------------------------------------------------------

    def _customer_create(self, params: dict) -> dict:
        customer = {"id": _new_id("cus"), "object": "customer", "created": int(time.time()),
                    "email": params.get("email"), "metadata": params.get("metadata") or {}, "livemode": False}
        self.customers[customer["id"]] = customer
        return copy.deepcopy(customer)

    def _new_payment_method(self, number: str, *, exp_month: int = 12, exp_year: int = 2034) -> dict:
        card = card_of(number)
        method = {"id": _new_id("pm"), "object": "payment_method", "type": "card", "customer": None,
                  "created": int(time.time()), "livemode": False, "billing_details": {}, "metadata": {},
                  "card": {"brand": card.brand, "last4": number[-4:], "fingerprint": fingerprint_of(number),
                           "exp_month": exp_month, "exp_year": exp_year, "funding": "credit", "country": "US"}}
        self.payment_methods[method["id"]] = method
        self._cards[method["id"]] = _CardState(number)
        return method

    def _method_for(self, ref: str, *, customer: str | None) -> dict:
        """The PaymentMethod a server-side request names, checked the way Stripe checks it."""
        if ref in TEST_PAYMENT_METHODS:
            return self._new_payment_method(TEST_PAYMENT_METHODS[ref])
        method = self.payment_methods.get(ref)
        if method is None:
            raise missing("PaymentMethod", ref, param="payment_method", status=400)
        owner = method["customer"]
        if owner and owner != customer:
            if customer is None:
                raise invalid_request(
                    "The provided PaymentMethod belongs to a Customer, but you did not provide the Customer. Please "
                    "provide the Customer in the `customer` parameter.", param="payment_method")
            raise invalid_request("The provided PaymentMethod belongs to another Customer.", param="payment_method")
        if self._cards[ref].consumed:
            raise self._consumed(ref)
        return method

    @staticmethod
    def _consumed(ref: str) -> StripeAPIError:
        return invalid_request(
            f"The provided PaymentMethod {ref} was previously used without being attached to a Customer or was "
            "detached from a Customer, and may not be used again.", param="payment_method")

    def _attach(self, ref: str, params: dict) -> dict:
        method = self.payment_methods.get(ref)
        if method is None:
            raise missing("PaymentMethod", ref)
        customer = params.get("customer") or ""
        if customer not in self.customers:
            raise missing("customer", customer, param="customer", status=400)
        if method["customer"] and method["customer"] != customer:
            raise invalid_request("The payment method you provided has already been attached to a customer.",
                                  param="payment_method")
        if self._cards[ref].consumed:
            raise self._consumed(ref)
        method["customer"] = customer
        return copy.deepcopy(method)

    # --- PaymentIntents ---------------------------------------------------------------------------------

    def _intent(self, ident: str) -> dict:
        intent = self.intents.get(ident)
        if intent is None:
            raise missing("payment_intent", ident)
        return intent

    def _intent_create(self, params: dict, expand: list) -> dict:
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            raise invalid_request("Missing required param: amount.", code="parameter_missing", param="amount")
        currency = str(params.get("currency") or "").lower()
        if amount < 50:
            raise invalid_request(f"Amount must be at least $0.50 {currency}", code="amount_too_small",
                                  param="amount")
        customer = params.get("customer") or None
        if customer is not None and customer not in self.customers:
            raise missing("customer", customer, param="customer", status=400)
        ident = _new_id("pi")
        intent = {
            "id": ident, "object": "payment_intent", "amount": amount, "amount_capturable": 0, "amount_received": 0,
            "currency": currency, "capture_method": params.get("capture_method") or "automatic",
            "client_secret": f"{ident}_secret_{secrets.token_hex(12)}", "customer": customer,
            "payment_method": None, "payment_method_types": params.get("payment_method_types") or ["card"],
            "setup_future_usage": params.get("setup_future_usage") or None, "metadata": params.get("metadata") or {},
            "status": "requires_payment_method", "last_payment_error": None, "latest_charge": None,
            "next_action": None, "canceled_at": None, "cancellation_reason": None, "created": int(time.time()),
            "livemode": False,
        }
        method = None
        if params.get("payment_method"):
            method = self._method_for(params["payment_method"], customer=customer)
            intent["payment_method"] = method["id"]
            intent["status"] = "requires_confirmation"
        self.intents[ident] = intent
        self._event("payment_intent.created", intent)
        if _true(params.get("confirm")):
            if method is None:
                raise invalid_request("You cannot confirm this PaymentIntent because it's missing a payment method.",
                                      code="payment_intent_unexpected_state")
            error = self._confirm_intent(intent, method, off_session=_true(params.get("off_session")))
            if error is not None:
                raise StripeAPIError(402, error)
        return self._render_intent(intent, expand)

    def _confirm_intent(self, intent: dict, method: dict, *, off_session: bool) -> dict | None:
        """Confirm with this card: succeeds, waits for 3-D Secure, or fails (the card error)."""
        state = self._cards[method["id"]]
        card = card_of(state.number)
        intent.update(payment_method=method["id"], last_payment_error=None, next_action=None)
        if card.behaviour == DECLINE:
            return self._intent_fail(intent, method, {"type": "card_error", "code": "card_declined",
                                                      "decline_code": card.decline_code, "message": card.message})
        set_up = state.set_up and method["customer"] is not None and method["customer"] == intent["customer"]
        needs_auth = card.behaviour == AUTH_ALWAYS or (
            card.behaviour == AUTH_ON_SESSION and not (off_session and set_up))
        if needs_auth:
            if off_session:
                return self._intent_fail(intent, method, {
                    "type": "card_error", "code": "authentication_required", "decline_code": "authentication_required",
                    "message": "Your card was declined. This transaction requires authentication."})
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            self._event("payment_intent.requires_action", intent)
            return None
        self._intent_succeed(intent, method)
        return None

    def _intent_succeed(self, intent: dict, method: dict) -> None:
        manual = intent["capture_method"] == "manual"
        details = dict(method["card"])
        if manual:
            details["capture_before"] = int(time.time()) + AUTHORIZATION_DAYS * 86400
        charge = {"id": _new_id("ch"), "object": "charge", "amount": intent["amount"], "amount_captured": 0,
                  "amount_refunded": 0, "captured": False, "refunded": False, "paid": True, "status": "succeeded",
                  "currency": intent["currency"], "payment_intent": intent["id"], "payment_method": method["id"],
                  "customer": intent["customer"], "payment_method_details": {"type": "card", "card": details}}
        self.charges[charge["id"]] = charge
        intent.update(latest_charge=charge["id"], next_action=None, last_payment_error=None)
        state = self._cards[method["id"]]
        if intent["setup_future_usage"] and intent["customer"]:
            method["customer"] = intent["customer"]
            state.set_up = True
        elif method["customer"] is None:
            state.consumed = True
        if manual:
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self._event("payment_intent.amount_capturable_updated", intent)
        else:
            charge.update(captured=True, amount_captured=intent["amount"])
            intent.update(status="succeeded", amount_received=intent["amount"])
            self._event("charge.succeeded", charge)
            self._event("payment_intent.succeeded", intent)

    def _intent_fail(self, intent: dict, method: dict | None, error: dict) -> dict:
        intent.update(status="requires_payment_method", next_action=None,
                      last_payment_error={**error, "payment_method": copy.deepcopy(method)})
        if method is not None and error.get("type") == "card_error":
            charge = {"id": _new_id("ch"), "object": "charge", "amount": intent["amount"], "amount_captured": 0,
                      "amount_refunded": 0, "captured": False, "refunded": False, "paid": False, "status": "failed",
                      "currency": intent["currency"], "payment_intent": intent["id"], "payment_method": method["id"],
                      "failure_code": error.get("code"), "failure_message": error.get("message"),
                      "payment_method_details": {"type": "card", "card": dict(method["card"])}}
            self.charges[charge["id"]] = charge
            intent["latest_charge"] = charge["id"]
            self._event("charge.failed", charge)
        self._event("payment_intent.payment_failed", intent)
        return {**error, "payment_intent": self._render_intent(intent, []),
                **({"payment_method": copy.deepcopy(method)} if method else {})}

    def _intent_capture(self, ident: str, params: dict, expand: list) -> dict:
        intent = self._intent(ident)
        if intent["status"] != "requires_capture":
            raise invalid_request(
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}. Only a "
                "PaymentIntent with one of the following statuses may be captured: requires_capture.",
                code="payment_intent_unexpected_state")
        amount = int(params.get("amount_to_capture") or intent["amount_capturable"])
        if amount > intent["amount_capturable"]:
            raise invalid_request("The amount to capture is greater than the amount capturable.",
                                  code="amount_too_large", param="amount_to_capture")
        charge = self.charges[intent["latest_charge"]]
        charge.update(captured=True, amount_captured=amount)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._event("charge.captured", charge)
        self._event("payment_intent.succeeded", intent)
        return self._render_intent(intent, expand)

    def _intent_cancel(self, ident: str, params: dict, expand: list) -> dict:
        intent = self._intent(ident)
        if intent["status"] not in _CANCELABLE:
            raise invalid_request(
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                "PaymentIntent with one of the following statuses may be canceled: " + ", ".join(_CANCELABLE) + ".",
                code="payment_intent_unexpected_state")
        intent.update(status="canceled", amount_capturable=0, next_action=None, canceled_at=int(time.time()),
                      cancellation_reason=params.get("cancellation_reason") or None)
        self._event("payment_intent.canceled", intent)
        return self._render_intent(intent, expand)

    def _render_intent(self, intent: dict, expand: list) -> dict:
        rendered = copy.deepcopy(intent)
        if "latest_charge" in expand and intent["latest_charge"]:
            rendered["latest_charge"] = copy.deepcopy(self.charges[intent["latest_charge"]])
        if "payment_method" in expand and intent["payment_method"]:
            rendered["payment_method"] = copy.deepcopy(self.payment_methods[intent["payment_method"]])
        return rendered

    # --- refunds -----------------------------------------------------------------------------------------

    def _refund_create(self, params: dict) -> dict:
        intent = self._intent(str(params.get("payment_intent") or ""))
        if intent["status"] != "succeeded":
            raise invalid_request(f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                                  code="charge_not_refundable")
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(params.get("amount") or left)
        if amount > left:
            raise invalid_request(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left}).",
                                  code="amount_too_large", param="amount")
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "currency": intent["currency"],
                  "payment_intent": intent["id"], "charge": charge["id"], "status": "succeeded",
                  "created": int(time.time()), "failure_reason": None}
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._event("charge.refunded", charge)
        return copy.deepcopy(refund)

    # --- Connect transfers -------------------------------------------------------------------------------

    def _transfer_create(self, params: dict) -> dict:
        destination = str(params.get("destination") or "")
        if destination not in self.connected_accounts:
            raise invalid_request(f"No such destination: '{destination}'", code="resource_missing",
                                  param="destination")
        amount = int(params.get("amount") or 0)
        if amount < 1:
            raise invalid_request("Amount must be at least 1 cent.", code="amount_too_small", param="amount")
        transfer = {"id": _new_id("tr"), "object": "transfer", "amount": amount, "currency": params.get("currency"),
                    "destination": destination, "metadata": params.get("metadata") or {},
                    "created": int(time.time())}
        self.transfers[transfer["id"]] = transfer
        return copy.deepcopy(transfer)

    # --- SetupIntents ------------------------------------------------------------------------------------

    def _setup(self, ident: str) -> dict:
        setup = self.setups.get(ident)
        if setup is None:
            raise missing("setup_intent", ident)
        return setup

    def _setup_create(self, params: dict) -> dict:
        customer = params.get("customer") or None
        if customer is not None and customer not in self.customers:
            raise missing("customer", customer, param="customer", status=400)
        ident = _new_id("seti")
        setup = {"id": ident, "object": "setup_intent", "customer": customer, "status": "requires_payment_method",
                 "usage": params.get("usage") or "off_session",
                 "client_secret": f"{ident}_secret_{secrets.token_hex(12)}",
                 "payment_method": None, "payment_method_types": params.get("payment_method_types") or ["card"],
                 "last_setup_error": None, "next_action": None, "created": int(time.time()), "livemode": False,
                 "metadata": params.get("metadata") or {}}
        self.setups[ident] = setup
        self._event("setup_intent.created", setup)
        return copy.deepcopy(setup)

    def _confirm_setup(self, setup: dict, method: dict) -> dict | None:
        card = card_of(self._cards[method["id"]].number)
        setup.update(payment_method=method["id"], last_setup_error=None, next_action=None)
        if card.behaviour == DECLINE and card.decline_code != "insufficient_funds":  # saving charges nothing
            return self._setup_fail(setup, method, {"type": "card_error", "code": "card_declined",
                                                    "decline_code": card.decline_code, "message": card.message})
        if card.behaviour in (AUTH_ALWAYS, AUTH_ON_SESSION):
            setup["status"] = "requires_action"
            setup["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            self._event("setup_intent.requires_action", setup)
            return None
        self._setup_succeed(setup, method)
        return None

    def _setup_succeed(self, setup: dict, method: dict) -> None:
        if setup["customer"]:
            method["customer"] = setup["customer"]
        self._cards[method["id"]].set_up = True
        setup.update(status="succeeded", next_action=None, last_setup_error=None)
        self._event("setup_intent.succeeded", setup)

    def _setup_fail(self, setup: dict, method: dict | None, error: dict) -> dict:
        setup.update(status="requires_payment_method", next_action=None,
                     last_setup_error={**error, "payment_method": copy.deepcopy(method)})
        self._event("setup_intent.setup_failed", setup)
        return {**error, "setup_intent": self._render_setup(setup, [])}

    def _render_setup(self, setup: dict, expand: list) -> dict:
        rendered = copy.deepcopy(setup)
        if "payment_method" in expand and setup["payment_method"]:
            rendered["payment_method"] = copy.deepcopy(self.payment_methods[setup["payment_method"]])
        return rendered

    # --- what Stripe.js does in the browser (the stand-in's endpoints call these) ----------------------

    def _by_secret(self, client_secret: str) -> tuple[str, dict]:
        secret = str(client_secret or "")
        ident = secret.partition("_secret_")[0]
        table = self.setups if ident.startswith("seti_") else self.intents
        found = table.get(ident)
        if found is None or not hmac.compare_digest(found["client_secret"], secret):
            kind = "setup_intent" if ident.startswith("seti_") else "payment_intent"
            raise invalid_request(f"No such {kind}: '{ident}'", code="resource_missing", status=404)
        return ("setup" if table is self.setups else "payment"), found

    def _public(self, kind: str, obj: dict) -> dict:
        """What Stripe.js gets back: the intent as the publishable key may see it."""
        rendered = self._render_setup(obj, []) if kind == "setup" else self._render_intent(obj, [])
        return {name: rendered.get(name) for name in (
            "id", "object", "status", "client_secret", "amount", "currency", "capture_method", "payment_method",
            "last_payment_error", "last_setup_error", "next_action", "usage", "setup_future_usage") if name in rendered}

    def _browser(self, publishable_key: str, client_secret: str) -> tuple[str, dict]:
        if publishable_key != self.publishable_key:
            raise invalid_request(f"Invalid API Key provided: {str(publishable_key)[:12]}", status=401)
        return self._by_secret(client_secret)

    def confirm(self, client_secret: str, card: str = GOOD_CARD, *, publishable_key: str | None = None,
                exp: str = "12 / 34", elements: dict | None = None) -> dict:
        """``stripe.confirmPayment`` / ``confirmSetup`` with this card typed into the element:
        ``{"intent": {...}}`` (``status`` tells whether 3-D Secure is next) or ``{"error": {...}}``."""
        with self.lock:
            try:
                kind, obj = self._browser(publishable_key or self.publishable_key, client_secret)
                mismatch = _elements_mismatch(kind, obj, elements)
                if mismatch:
                    return {"error": {"type": "invalid_request_error", "code": "integration_error",
                                      "message": mismatch}}
                number = digits(card)
                if not luhn_valid(number):
                    return {"error": {"type": "card_error", "code": "incorrect_number",
                                      "message": "Your card number is incorrect."}}
                if obj["status"] not in _CONFIRMABLE:
                    return {"error": {"type": "invalid_request_error", "code": f"{kind}_intent_unexpected_state",
                                      "message": f"You cannot confirm this {_title(kind)} because it has a status of "
                                                 f"{obj['status']}.", f"{kind}_intent": self._public(kind, obj)}}
                month, year = _expiry(exp)
                method = self._new_payment_method(number, exp_month=month, exp_year=year)
                if kind == "payment":
                    error = self._confirm_intent(obj, method, off_session=False)
                else:
                    error = self._confirm_setup(obj, method)
            except StripeAPIError as exc:
                return {"error": exc.error}
            if error is not None:
                return {"error": error}
            return {"intent": self._public(kind, obj)}

    def authenticate(self, client_secret: str, *, complete: bool = True, publishable_key: str | None = None) -> dict:
        """The customer answers their bank's 3-D Secure challenge: "Complete" or "Fail"."""
        with self.lock:
            try:
                kind, obj = self._browser(publishable_key or self.publishable_key, client_secret)
            except StripeAPIError as exc:
                return {"error": exc.error}
            if obj["status"] != "requires_action":
                return {"error": {"type": "invalid_request_error", "code": f"{kind}_intent_unexpected_state",
                                  "message": f"This {_title(kind)} does not need to be authenticated: its status is "
                                             f"{obj['status']}.", f"{kind}_intent": self._public(kind, obj)}}
            method = self.payment_methods[obj["payment_method"]]
            if kind == "payment":
                if complete:
                    self._intent_succeed(obj, method)
                else:
                    error = self._intent_fail(obj, method, {"type": "invalid_request_error",
                                                            "code": "payment_intent_authentication_failure",
                                                            "message": AUTHENTICATION_FAILED})
                    return {"error": {**error, "payment_intent": self._public(kind, obj)}}
            elif complete:
                self._setup_succeed(obj, method)
            else:
                error = self._setup_fail(obj, method, {"type": "invalid_request_error",
                                                       "code": "setup_intent_authentication_failure",
                                                       "message": AUTHENTICATION_FAILED})
                return {"error": {**error, "setup_intent": self._public(kind, obj)}}
            return {"intent": self._public(kind, obj)}

    def retrieve(self, client_secret: str, *, publishable_key: str | None = None) -> dict:
        """``stripe.retrievePaymentIntent`` (what ``handleNextAction`` looks at first)."""
        with self.lock:
            try:
                kind, obj = self._browser(publishable_key or self.publishable_key, client_secret)
            except StripeAPIError as exc:
                return {"error": exc.error}
            return {"intent": self._public(kind, obj)}

    # --- helpers for tests -------------------------------------------------------------------------------

    def payment_method(self, card: str = GOOD_CARD, *, customer: str | None = None) -> str:
        """A PaymentMethod made by a client app's SDK from this card (attached to ``customer``)."""
        with self.lock:
            method = self._new_payment_method(digits(card))
            if customer:
                method["customer"] = customer
            return method["id"]

    def cancel_in_dashboard(self, ident: str) -> dict:
        """Somebody cancels the PaymentIntent in Stripe's dashboard (not through our server)."""
        with self.lock:
            return self._intent_cancel(ident, {"cancellation_reason": "requested_by_customer"}, [])

    def intent(self, ident: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._intent(ident))

    def setup(self, ident: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._setup(ident))

    def intent_by_secret(self, client_secret: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._by_secret(client_secret)[1])

    def calls(self, method: str, pattern: str) -> list[ApiRequest]:
        """The API requests whose method and path (a regular expression, matched whole) match."""
        with self.lock:
            return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    @contextlib.contextmanager
    def down(self, *, drop_responses: bool = False):
        """Stripe cannot be reached (or, with ``drop_responses``, does the work and the answer is lost)."""
        attribute = "drop_responses" if drop_responses else "unreachable"
        setattr(self, attribute, True)
        try:
            yield self
        finally:
            setattr(self, attribute, False)

    # --- events and webhooks -------------------------------------------------------------------------------

    def _event(self, type_: str, obj: dict) -> None:
        self.events.append({
            "id": _new_id("evt"), "object": "event", "type": type_, "api_version": "2024-06-20",
            "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
            "data": {"object": copy.deepcopy(obj)},
        })

    def events_for(self, ident: str, type_: str | None = None) -> list[dict]:
        """Events about an intent (or its charges), oldest first."""
        with self.lock:
            found = []
            for event in self.events:
                obj = event["data"]["object"]
                if ident in (obj.get("id"), obj.get("payment_intent")) and type_ in (None, event["type"]):
                    found.append(copy.deepcopy(event))
            return found

    def event(self, type_: str, ident: str) -> dict:
        """The last event of this type Stripe sent about ``ident``; fails if Stripe would not have sent one."""
        found = self.events_for(ident, type_)
        assert found, f"Stripe sent no {type_} for {ident}: {[e['type'] for e in self.events_for(ident)]}"
        return found[-1]

    def signed(self, event: dict, *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, dict]:
        body = json.dumps(event).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new((secret or self.webhook_secret).encode(), f"{stamp}.{body.decode()}".encode(),
                       hashlib.sha256).hexdigest()
        return body, {"Stripe-Signature": f"t={stamp},v1={mac}"}

    def deliver(self, event: dict, *, client=None):
        """Send a webhook: to ``payments.services.webhook_receive`` (returns the WebhookEvent), or
        with ``client`` through ``POST /payments/webhooks/stripe/`` (returns the response). Stripe's
        request commits: what the webhook set off after the commit has run when this returns."""
        from payments import services
        from tests.commit import committed

        body, headers = self.signed(event)
        with committed():
            if client is not None:
                return client.post("/payments/webhooks/stripe/", data=body, content_type="application/json",
                                   headers=headers)
            return services.webhook_receive(provider="stripe", body=body, headers=headers)

    def send(self, type_: str, ident: str, *, client=None):
        """Deliver the last ``type_`` event Stripe recorded about ``ident`` (see :meth:`deliver`)."""
        return self.deliver(self.event(type_, ident), client=client)


class FakeHTTPClient(stripe.HTTPClient):
    """The ``stripe`` library's HTTP client, answered by a :class:`FakeStripe` instead of the network."""

    name = "fake-stripe"

    def __init__(self, fake: FakeStripe) -> None:
        super().__init__()
        self.fake = fake

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        if self.fake.unreachable:
            # should_retry=False: the library would retry after a pause; the outcome is the same.
            raise stripe.APIConnectionError("Could not connect to Stripe (the fake is down).", should_retry=False)
        status, body = self.fake.handle(method, url, dict(headers or {}), post_data)
        if self.fake.drop_responses:
            raise stripe.APIConnectionError("The connection to Stripe was reset.", should_retry=False)
        return json.dumps(body), status, {"request-id": "req_fake"}

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise NotImplementedError

    def close(self):
        pass


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _title(kind: str) -> str:
    return "SetupIntent" if kind == "setup" else "PaymentIntent"


def _expiry(text: str) -> tuple[int, int]:
    found = re.findall(r"\d+", str(text or ""))
    if len(found) >= 2:
        month, year = int(found[0]), int(found[1])
        return (month if 1 <= month <= 12 else 12), (2000 + year if year < 100 else year)
    return 12, 2034


def _elements_mismatch(kind: str, obj: dict, elements: dict | None) -> str:
    """Stripe.js refuses to confirm an intent that does not fit the Elements group it was mounted with."""
    if not elements:
        return ""
    if elements.get("mode") != kind:
        return f"stripe.confirm{_title(kind)[:-6]}(): the Elements group was created with mode " \
               f"'{elements.get('mode')}', but the client secret is a {_title(kind)}'s."
    if kind == "payment":
        if str(elements.get("currency") or "").lower() != obj["currency"]:
            return "The currency of the Elements group does not match the PaymentIntent's."
        if (elements.get("captureMethod") or "automatic") != obj["capture_method"]:
            return "The captureMethod of the Elements group does not match the PaymentIntent's capture_method."
        if (elements.get("setupFutureUsage") or None) != obj["setup_future_usage"]:
            return "The setupFutureUsage of the Elements group does not match the PaymentIntent's."
    return ""
