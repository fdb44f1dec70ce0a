"""Stripe adapter: PaymentIntents (manual capture), SetupIntents, Customers, refunds, signed webhooks.

Settings: ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET`` (and, for pages, ``STRIPE_PUBLISHABLE_KEY``),
``PAYMENT_PROVIDER_TIMEOUT`` (seconds to wait for an answer) and ``PAYMENT_PROVIDER_RETRIES``
(network retries; every retry sends the same idempotency key, so it never charges twice).

Card numbers never reach us: pages mount Stripe's Payment Element, which confirms an intent we
create (:meth:`StripeProvider.create_intent`, :meth:`StripeProvider.create_setup`) right in the
browser, 3-D Secure included. Server-side confirmation (:meth:`StripeProvider.authorize`) takes a
``pm_...`` id collected by a client app with Stripe's SDK, or a saved ``cus_...|pm_...`` card.

Errors: a card decline is a result (DECLINED); an error Stripe answered about the request itself
(invalid request, authentication, permission, idempotency) raises :class:`ProviderRefused`, since
nothing happened and retrying will not help; only when Stripe could not answer (connection,
timeout, its own 5xx, rate limit) is the outcome unknown, and :class:`ProviderError` is raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from core.money import minor_units, quantize
from payments.providers.base import (
    AUTHORIZED,
    CANCELLED,
    CAPTURED,
    DECLINED,
    FAILED,
    PENDING,
    REFUNDED,
    REQUIRES_ACTION,
    REQUIRES_PAYMENT_METHOD,
    SAVED_SEPARATOR,
    SUCCEEDED,
    InvalidPaymentMethod,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderRefused,
    ProviderResult,
    SavedCard,
    SetupResult,
    split_saved,
)

SIGNATURE_HEADER = "Stripe-Signature"
CONNECT_TIMEOUT = 3.05  # seconds to open a connection; the read timeout is PAYMENT_PROVIDER_TIMEOUT

_INTENT_STATUS = {
    "requires_capture": AUTHORIZED,
    "succeeded": CAPTURED,
    "processing": PENDING,
    "canceled": CANCELLED,
    "requires_payment_method": REQUIRES_PAYMENT_METHOD,
    "requires_confirmation": REQUIRES_PAYMENT_METHOD,
    "requires_action": REQUIRES_ACTION,
}
_SETUP_STATUS = {
    "succeeded": SUCCEEDED,
    "processing": PENDING,
    "canceled": CANCELLED,
    "requires_payment_method": REQUIRES_PAYMENT_METHOD,
    "requires_confirmation": REQUIRES_PAYMENT_METHOD,
    "requires_action": REQUIRES_ACTION,
}
_REFUND_STATUS = {"succeeded": REFUNDED, "pending": PENDING, "requires_action": PENDING}
# Stripe answered, and the request itself was wrong: retrying the same call cannot succeed.
_REFUSALS = (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError,
             stripe.IdempotencyError)

T = TypeVar("T")


def to_minor(amount: Decimal, currency: str) -> int:
    return int(quantize(amount, currency).scaleb(minor_units(currency)))


def from_minor(value: Any, currency: str) -> Decimal | None:
    if value is None:
        return None
    return quantize(Decimal(int(value)).scaleb(-minor_units(currency)), currency)


def _card(payment_method: Any, customer: str) -> SavedCard | None:
    """A SavedCard from an expanded PaymentMethod object (None for a bare id)."""
    if not isinstance(payment_method, dict) or not payment_method.get("id"):
        return None
    card = payment_method.get("card") or {}
    label = ""
    if card.get("last4"):
        label = _("%(brand)s ending %(last4)s") % {
            "brand": str(card.get("brand") or _("Card")).title(), "last4": card["last4"]}
    token = f"{customer}{SAVED_SEPARATOR}{payment_method['id']}" if customer else payment_method["id"]
    return SavedCard(token, label, str(card.get("fingerprint") or ""))


def _capture_before(intent: dict) -> datetime | None:
    """When Stripe will release this authorization (the latest charge's ``capture_before``)."""
    charge = intent.get("latest_charge")
    if not isinstance(charge, dict):
        return None
    details = (charge.get("payment_method_details") or {}).get("card") or {}
    stamp = details.get("capture_before")
    return datetime.fromtimestamp(int(stamp), tz=UTC) if stamp else None


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


class StripeProvider:
    code = "stripe"
    confirms_in_browser = True

    def __init__(self, *, secret_key: str | None = None, webhook_secret: str | None = None, http_client=None):
        self.secret_key = secret_key if secret_key is not None else settings.STRIPE_SECRET_KEY
        self.webhook_secret = webhook_secret if webhook_secret is not None else settings.STRIPE_WEBHOOK_SECRET
        if http_client is None:
            # Stripe's default waits 80 s for an answer; ours fits well inside a web worker's timeout.
            http_client = stripe.RequestsClient(
                timeout=(CONNECT_TIMEOUT, float(getattr(settings, "PAYMENT_PROVIDER_TIMEOUT", 8)))
            )
        self.client = stripe.StripeClient(
            self.secret_key or "", http_client=http_client,
            max_network_retries=int(getattr(settings, "PAYMENT_PROVIDER_RETRIES", 1)),
        )

    # --- calling Stripe ----------------------------------------------------------------------

    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except stripe.CardError:
            raise  # a decline: the caller makes it a DECLINED result
        except _REFUSALS as exc:
            error = (exc.json_body or {}).get("error") or {}
            raise ProviderRefused(error.get("message") or str(exc), code=str(error.get("code") or "")) from exc
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc

    def _intent_result(self, intent: Any) -> ProviderResult:
        data = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
        status = _INTENT_STATUS.get(str(data.get("status")), FAILED)
        last = data.get("last_payment_error") or {}
        if status == REQUIRES_PAYMENT_METHOD and last:
            code = last.get("decline_code") or last.get("code") or "card_declined"
            if code in ("", "generic_decline"):
                code = last.get("code") or "card_declined"
            return ProviderResult(DECLINED, str(data.get("id")), code, str(last.get("message") or ""))
        customer = _id(data.get("customer"))
        card = _card(data.get("payment_method"), customer)
        return ProviderResult(
            status, str(data.get("id")), client_secret=str(data.get("client_secret") or "")
            if status in (REQUIRES_ACTION, REQUIRES_PAYMENT_METHOD) else "",
            payment_method=card.token if card else _id(data.get("payment_method")),
            authorization_expires_at=_capture_before(data) if status == AUTHORIZED else None,
            card=card,
        )

    # --- payments ----------------------------------------------------------------------------

    def authorize(self, amount, currency, payment_method, idempotency_key, metadata) -> ProviderResult:
        metadata = dict(metadata or {})
        off_session = metadata.pop("off_session", "") == "true"
        customer, method = split_saved(str(payment_method))
        params: dict[str, Any] = {
            "amount": to_minor(amount, currency),
            "currency": currency.lower(),
            "payment_method": method,
            "payment_method_types": ["card"],
            "capture_method": "manual",
            "confirm": True,
            "metadata": metadata,
            "expand": ["latest_charge"],
        }
        if customer:  # a saved card: charged on its customer, off-session when nobody is there
            params["customer"] = customer
            if off_session:
                params["off_session"] = True
        try:
            intent = self._call(
                lambda: self.client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
            )
        except stripe.CardError as exc:
            return self._declined(exc)
        return self._intent_result(intent)

    def create_intent(self, amount, currency, idempotency_key, metadata, *, customer="", capture=False,
                      save_card=False) -> ProviderResult:
        params: dict[str, Any] = {
            "amount": to_minor(amount, currency),
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "capture_method": "automatic" if capture else "manual",
            "metadata": dict(metadata or {}),
        }
        if customer:
            params["customer"] = customer
        if save_card:
            params["setup_future_usage"] = "off_session"
        intent = self._call(
            lambda: self.client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        )
        return self._intent_result(intent)

    def retrieve(self, reference) -> ProviderResult:
        intent = self._call(lambda: self.client.v1.payment_intents.retrieve(
            reference, {"expand": ["latest_charge", "payment_method"]}))
        return self._intent_result(intent)

    def capture(self, reference, amount, currency, idempotency_key) -> ProviderResult:
        params = {"amount_to_capture": to_minor(amount, currency)}
        intent = self._call(
            lambda: self.client.v1.payment_intents.capture(reference, params, {"idempotency_key": idempotency_key})
        )
        return ProviderResult(_INTENT_STATUS.get(intent.status, FAILED), intent.id)

    def refund(self, reference, amount, currency, idempotency_key) -> ProviderResult:
        params = {"payment_intent": reference, "amount": to_minor(amount, currency)}
        refund = self._call(lambda: self.client.v1.refunds.create(params, {"idempotency_key": idempotency_key}))
        reason = refund.to_dict().get("failure_reason") or ""
        return ProviderResult(_REFUND_STATUS.get(refund.status, FAILED), refund.id, "", reason)

    def cancel(self, reference, idempotency_key) -> ProviderResult:
        intent = self._call(
            lambda: self.client.v1.payment_intents.cancel(reference, {}, {"idempotency_key": idempotency_key})
        )
        return ProviderResult(_INTENT_STATUS.get(intent.status, FAILED), intent.id)

    # --- customers and saved cards -----------------------------------------------------------

    def ensure_customer(self, owner: str) -> str:
        customer = self._call(lambda: self.client.v1.customers.create(
            {"metadata": {"owner": owner}}, {"idempotency_key": f"bazaar-customer-{owner}"}))
        return str(customer.id)

    def tokenize(self, payment_method: str, customer: str) -> SavedCard:
        """Attach the ``pm_...`` id from Stripe.js (or a client app) to ``customer`` so renewals can
        charge it off-session. The token is ``cus_...|pm_...``. A saved token is returned as it is
        (the payments service checks it belongs to the customer)."""
        value = str(payment_method or "").strip()
        saved_customer, method = split_saved(value)
        if saved_customer:
            if not (saved_customer.startswith("cus_") and method.startswith("pm_") and len(value) <= 255):
                raise InvalidPaymentMethod(_("That saved card is not valid."))
            return SavedCard(value)
        if not value.startswith("pm_") or len(value) > 200:
            raise InvalidPaymentMethod(_("That is not a Stripe payment method (pm_...)."))
        try:
            attached = self._call(lambda: self.client.v1.payment_methods.attach(value, {"customer": customer}))
        except ProviderRefused as exc:
            raise InvalidPaymentMethod(_("That payment method cannot be saved: %(reason)s") % {"reason": exc.message})
        card = _card(attached.to_dict(), customer)
        return card or SavedCard(f"{customer}{SAVED_SEPARATOR}{value}")

    def create_setup(self, customer: str, idempotency_key: str) -> SetupResult:
        setup = self._call(lambda: self.client.v1.setup_intents.create(
            {"customer": customer, "usage": "off_session", "payment_method_types": ["card"]},
            {"idempotency_key": idempotency_key}))
        return self._setup_result(setup)

    def retrieve_setup(self, reference: str) -> SetupResult:
        setup = self._call(lambda: self.client.v1.setup_intents.retrieve(reference, {"expand": ["payment_method"]}))
        return self._setup_result(setup)

    @staticmethod
    def _setup_result(setup: Any) -> SetupResult:
        data = setup.to_dict() if hasattr(setup, "to_dict") else dict(setup)
        status = _SETUP_STATUS.get(str(data.get("status")), FAILED)
        customer = _id(data.get("customer"))
        card = _card(data.get("payment_method"), customer) if status == SUCCEEDED else None
        if status == SUCCEEDED and card is None and data.get("payment_method"):
            card = SavedCard(f"{customer}{SAVED_SEPARATOR}{_id(data.get('payment_method'))}")
        last = data.get("last_setup_error") or {}
        return SetupResult(status, str(data.get("id")), str(data.get("client_secret") or ""), customer, card,
                           str(last.get("message") or ""))

    @staticmethod
    def _declined(exc: stripe.CardError) -> ProviderResult:
        error = (exc.json_body or {}).get("error") or {}
        intent = error.get("payment_intent") or {}
        code = error.get("decline_code") or ""
        if code in ("", "generic_decline"):
            code = error.get("code") or exc.code or "card_declined"
        if code == "incorrect_number":
            code = "invalid_number"
        return ProviderResult(DECLINED, intent.get("id", ""), code, error.get("message") or str(exc))

    # --- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        try:
            stripe.WebhookSignature.verify_header(body, headers.get(SIGNATURE_HEADER), self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature(_("The webhook signature is missing or does not match.")) from exc
        try:
            payload = json.loads(body)  # the signature checked, so this is UTF-8 text
        except ValueError:
            payload = None
        data = payload.get("data") if isinstance(payload, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict) or not payload.get("id") or not payload.get("type"):
            raise InvalidSignature(_("The webhook body is not valid."))
        try:
            event = stripe.Webhook.construct_event(body, headers.get(SIGNATURE_HEADER), self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature(_("The webhook signature is missing or does not match.")) from exc
        currency = str(obj.get("currency") or "usd").upper()
        reference = obj.get("payment_intent") if obj.get("object") == "charge" else obj.get("id")
        last_error = obj.get("last_payment_error") or {}
        data: dict[str, Any] = {
            "decline_code": str(last_error.get("decline_code") or last_error.get("code") or ""),
            "message": str(last_error.get("message") or ""),
        }
        for ours, theirs in (
            ("amount", "amount"),
            ("amount_captured", "amount_received" if obj.get("object") == "payment_intent" else "amount_captured"),
            ("amount_refunded", "amount_refunded"),
        ):
            if obj.get(theirs) is not None:
                data[ours] = from_minor(obj[theirs], currency)
        return ProviderEvent(str(event.id), str(event.type), str(reference or ""), data, payload)
