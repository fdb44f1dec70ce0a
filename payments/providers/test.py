"""The built-in test provider: deterministic, no network, safe for development and tests.

Cards (spaces and dashes are ignored):

* ``4242 4242 4242 4242`` authorizes;
* ``4000 0000 0000 0002`` is declined (``card_declined``);
* ``4000 0000 0000 9995`` is declined (``insufficient_funds``);
* ``4000 0000 0000 0341`` authorizes while the customer is there, but a saved copy of it is
  declined off-session (a membership renewal): the card that lets you try dunning;
* any number failing the Luhn check is declined (``invalid_number``); other valid numbers authorize.

Saved cards: :meth:`TestProvider.tokenize` turns a card number into a reusable token
``cus_test_<owner hash>|pm_test_<outcome>_<last4>`` (outcome ``ok``, ``card_declined``,
``insufficient_funds``, ``offsession_declined``) that ``authorize`` accepts and answers as the card
itself would; a number failing the Luhn check is refused. A token with the outcome ``invalid`` (or
an unknown one) is declined as ``invalid_number``. The customer part ties the card to its owner.

The test provider has no browser step (``confirms_in_browser`` is False): pages post the number to
our own form, which is fine for test cards and nothing else (production refuses this provider).

Webhooks carry ``X-Bazaar-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with a
secret derived from ``settings.SECRET_KEY``; older than five minutes is refused as a replay.
The body is JSON: ``{"id": "evt_...", "type": "payment_intent.succeeded",
"data": {"reference": "...", "amount": "12.50", ...}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from payments.providers.base import (
    AUTHORIZED,
    CANCELLED,
    CAPTURED,
    DECLINED,
    REFUNDED,
    SAVED_SEPARATOR,
    InvalidPaymentMethod,
    InvalidSignature,
    ProviderEvent,
    ProviderRefused,
    ProviderResult,
    SavedCard,
    SetupResult,
    split_saved,
)

SIGNATURE_HEADER = "X-Bazaar-Signature"
TOLERANCE_SECONDS = 5 * 60

CARD_SUCCESS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_INSUFFICIENT_FUNDS = "4000000000009995"
CARD_DECLINED_OFF_SESSION = "4000000000000341"  # accepted while the customer is there; renewals fail
_DECLINES = {CARD_DECLINED: "card_declined", CARD_INSUFFICIENT_FUNDS: "insufficient_funds"}
TOKEN_PREFIX = "pm_test_"  # noqa: S105 - a prefix of test tokens, not a secret
CUSTOMER_PREFIX = "cus_test_"
AUTHORIZATION_VALIDITY = timedelta(days=7)  # as card authorizations at Stripe
_TOKEN_OUTCOMES = ("ok", "card_declined", "insufficient_funds", "invalid", "offsession_declined")


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def webhook_secret() -> str:
    return salted_hmac("bazaar.payments.test-webhook", "secret", algorithm="sha256").hexdigest()


def sign(body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
    """Headers that make ``body`` a valid test-provider webhook (for tests and local simulation)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new((secret or webhook_secret()).encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {SIGNATURE_HEADER: f"t={ts},v1={mac}"}


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidSignature(_("The webhook body is not valid."))


def _token_outcome(token: str) -> str:
    """``pm_test_card_declined_0002`` -> ``card_declined`` ("" when malformed)."""
    body = token[len(TOKEN_PREFIX):]
    outcome, _sep, last4 = body.rpartition("_")
    return outcome if len(last4) == 4 and last4.isdigit() else ""


def customer_for(owner: str) -> str:
    """The test provider's customer id for an owner: derived, so nothing is stored or sent."""
    return f"{CUSTOMER_PREFIX}{hashlib.sha256(owner.encode()).hexdigest()[:16]}"


def card_fingerprint(number: str) -> str:
    """The same card number always gives the same fingerprint (as Stripe's ``card.fingerprint``)."""
    return hashlib.sha256(f"bazaar-test-card:{number}".encode()).hexdigest()[:32]


class TestProvider:
    """Deterministic provider; every reference is derived from the idempotency key."""

    __test__ = False  # not a pytest test class
    code = "test"
    confirms_in_browser = False  # our own simple card form posts the number (test cards only)

    def authorize(self, amount, currency, payment_method, idempotency_key, metadata) -> ProviderResult:
        reference = _ref("test_pi", idempotency_key)
        expires = timezone.now() + AUTHORIZATION_VALIDITY
        _customer, method = split_saved(str(payment_method))
        if method.startswith(TOKEN_PREFIX):
            outcome = _token_outcome(method)
            if outcome == "offsession_declined":
                outcome = "card_declined" if (metadata or {}).get("off_session") else "ok"
            if outcome == "ok":
                return ProviderResult(AUTHORIZED, reference, authorization_expires_at=expires)
            if outcome in _DECLINES.values():
                return ProviderResult(DECLINED, reference, outcome, "The card was declined.")
            return ProviderResult(DECLINED, reference, "invalid_number", "The saved card is not valid.")
        number = "".join(ch for ch in str(payment_method) if ch not in " -")
        if not luhn_valid(number):
            return ProviderResult(DECLINED, reference, "invalid_number", "The card number is not a valid number.")
        if number in _DECLINES:
            return ProviderResult(DECLINED, reference, _DECLINES[number], "The card was declined.")
        return ProviderResult(AUTHORIZED, reference, authorization_expires_at=expires)

    def create_intent(self, amount, currency, idempotency_key, metadata, *, customer="", capture=False,
                      save_card=False) -> ProviderResult:
        raise ProviderRefused("The test provider takes the card number on our own form; send it as payment_method.",
                              code="payment_method_required")

    def retrieve(self, reference) -> ProviderResult:
        raise ProviderRefused("The test provider keeps no payments to look up.")

    def capture(self, reference, amount, currency, idempotency_key) -> ProviderResult:
        return ProviderResult(CAPTURED, reference)

    def ensure_customer(self, owner: str) -> str:
        return customer_for(owner)

    def tokenize(self, payment_method: str, customer: str) -> SavedCard:
        """``<customer>|pm_test_<outcome>_<last4>``: what ``authorize`` will answer for this card,
        and its last four digits (the only part of the number kept). A saved card is returned as
        it is (the payments service checks it belongs to the customer)."""
        value = str(payment_method or "").strip()
        saved_customer, method = split_saved(value)
        if method.startswith(TOKEN_PREFIX):
            if _token_outcome(method) not in _TOKEN_OUTCOMES:
                raise InvalidPaymentMethod(_("That saved card is not valid."))
            label = _("Card ending %(last4)s") % {"last4": method[-4:]}
            return SavedCard(f"{saved_customer or customer}{SAVED_SEPARATOR}{method}", label,
                             card_fingerprint(method))
        number = "".join(ch for ch in value if ch not in " -")
        if not luhn_valid(number):
            raise InvalidPaymentMethod(_("That card number is not valid."))
        outcome = "offsession_declined" if number == CARD_DECLINED_OFF_SESSION else _DECLINES.get(number, "ok")
        token = f"{customer}{SAVED_SEPARATOR}{TOKEN_PREFIX}{outcome}_{number[-4:]}"
        return SavedCard(token, _("Card ending %(last4)s") % {"last4": number[-4:]}, card_fingerprint(number))

    def create_setup(self, customer: str, idempotency_key: str) -> SetupResult:
        raise ProviderRefused("The test provider saves cards from our own form.", code="payment_method_required")

    def retrieve_setup(self, reference: str) -> SetupResult:
        raise ProviderRefused("The test provider keeps no card-saving intents.")

    def refund(self, reference, amount, currency, idempotency_key) -> ProviderResult:
        return ProviderResult(REFUNDED, _ref("test_re", idempotency_key))

    def cancel(self, reference, idempotency_key) -> ProviderResult:
        return ProviderResult(CANCELLED, reference)

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        header = headers.get(SIGNATURE_HEADER) or ""
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise InvalidSignature(_("The webhook signature is missing or malformed."))
        expected = sign(body, timestamp=timestamp)[SIGNATURE_HEADER].split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise InvalidSignature(_("The webhook signature does not match."))
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise InvalidSignature(_("The webhook is too old (a replay?)."))
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidSignature(_("The webhook body is not valid."))
        if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
            raise InvalidSignature(_("The webhook body is not valid."))
        data = payload.get("data") or {}
        event_id, event_type = str(payload.get("id") or ""), str(payload.get("type") or "")
        if not event_id or not event_type:
            raise InvalidSignature(_("The webhook body is not valid."))
        normalized = {
            key: _decimal(data.get(key)) for key in ("amount", "amount_captured", "amount_refunded") if key in data
        }
        normalized.update(decline_code=str(data.get("decline_code") or ""), message=str(data.get("message") or ""))
        return ProviderEvent(event_id, event_type, str(data.get("reference") or ""), normalized, payload)
