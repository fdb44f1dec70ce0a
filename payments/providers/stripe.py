"""Stripe adapter: PaymentIntents with manual capture, refunds, and signed webhooks.

Settings: ``STRIPE_SECRET_KEY`` and ``STRIPE_WEBHOOK_SECRET`` (from the environment). Every call that
changes money sends our idempotency key to Stripe, so a retried call never charges twice.
``payment_method`` is a Stripe PaymentMethod id (``pm_...``) collected by Stripe.js in the browser.
:meth:`StripeProvider.tokenize` keeps that id as the saved payment method (no call to Stripe).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

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
    InvalidPaymentMethod,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderResult,
)

SIGNATURE_HEADER = "Stripe-Signature"

_INTENT_STATUS = {
    "requires_capture": AUTHORIZED,
    "succeeded": CAPTURED,
    "processing": PENDING,
    "canceled": CANCELLED,
    "requires_payment_method": DECLINED,
    "requires_action": DECLINED,  # 3-D Secure needs the browser; server-side confirm cannot finish it
    "requires_confirmation": FAILED,
}
_REFUND_STATUS = {"succeeded": REFUNDED, "pending": PENDING, "requires_action": PENDING}


def to_minor(amount: Decimal, currency: str) -> int:
    return int(quantize(amount, currency).scaleb(minor_units(currency)))


def from_minor(value: Any, currency: str) -> Decimal | None:
    if value is None:
        return None
    return quantize(Decimal(int(value)).scaleb(-minor_units(currency)), currency)


SAVED_SEPARATOR = "|"  # a saved card: "cus_...|pm_..."


class StripeProvider:
    code = "stripe"

    def __init__(self, *, secret_key: str | None = None, webhook_secret: str | None = None, http_client=None):
        self.secret_key = secret_key if secret_key is not None else settings.STRIPE_SECRET_KEY
        self.webhook_secret = webhook_secret if webhook_secret is not None else settings.STRIPE_WEBHOOK_SECRET
        self.client = stripe.StripeClient(self.secret_key or "", http_client=http_client, max_network_retries=2)

    # --- money -------------------------------------------------------------------------------

    def authorize(self, amount, currency, payment_method, idempotency_key, metadata) -> ProviderResult:
        metadata = dict(metadata or {})
        off_session = metadata.pop("off_session", "") == "true"
        customer, _sep, method = str(payment_method).rpartition(SAVED_SEPARATOR)
        params = {
            "amount": to_minor(amount, currency),
            "currency": currency.lower(),
            "payment_method": method,
            "payment_method_types": ["card"],
            "capture_method": "manual",
            "confirm": True,
            "metadata": metadata,
        }
        if customer:  # a saved card: charged on its customer, off-session when nobody is there
            params["customer"] = customer
            if off_session:
                params["off_session"] = True
        try:
            intent = self.client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        except stripe.CardError as exc:
            return self._declined(exc)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        status = _INTENT_STATUS.get(intent.status, FAILED)
        if status == DECLINED:
            last = intent.to_dict().get("last_payment_error") or {}
            code = last.get("decline_code") or last.get("code") or intent.status
            return ProviderResult(status, intent.id, code, last.get("message", ""))
        return ProviderResult(status, intent.id)

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

    def tokenize(self, payment_method: str) -> tuple[str, str]:
        """Make the ``pm_...`` id from Stripe.js reusable: a Customer with the card attached, so
        renewals can charge it off-session. The token is ``cus_...|pm_...``; the label names the
        card ("Visa ending 4242"). A token is returned as it is."""
        value = str(payment_method or "").strip()
        customer, _sep, method = value.rpartition(SAVED_SEPARATOR)
        if customer and customer.startswith("cus_") and method.startswith("pm_") and len(value) <= 255:
            return value, ""
        if not value.startswith("pm_") or len(value) > 200:
            raise InvalidPaymentMethod(_("That is not a Stripe payment method (pm_...)."))
        try:
            created = self.client.v1.customers.create(
                {"payment_method": value, "invoice_settings": {"default_payment_method": value}},
                {"idempotency_key": f"bazaar-customer-{value}"},
            )
            card = (self.client.v1.payment_methods.retrieve(value).to_dict().get("card") or {})
        except stripe.CardError as exc:
            raise InvalidPaymentMethod(_("The card could not be saved: %(reason)s") % {
                "reason": (exc.json_body or {}).get("error", {}).get("message") or str(exc)})
        except stripe.InvalidRequestError as exc:
            raise InvalidPaymentMethod(_("That payment method cannot be saved: %(reason)s") % {"reason": str(exc)})
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        label = ""
        if card.get("last4"):
            label = _("%(brand)s ending %(last4)s") % {
                "brand": str(card.get("brand") or _("Card")).title(), "last4": card["last4"]}
        return f"{created.id}{SAVED_SEPARATOR}{value}", label

    def _call(self, fn):
        try:
            return fn()
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc

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
