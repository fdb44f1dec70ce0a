"""Payout providers: how a seller's money leaves Bazaar. One interface; the built-in test
provider pays instantly and deterministically (no network). ``FINANCE_PAYOUT_PROVIDER`` names the
provider class by its dotted path.

A provider's ``transfer`` must be idempotent on ``idempotency_key`` (a retried payout never pays
twice) and raise :class:`PayoutFailed` when the money did not move (the payout stays pending and is
retried; the seller's balance is untouched until it succeeds).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Protocol

import stripe
from django.conf import settings
from django.utils.module_loading import import_string

from core.money import minor_units
from marketplace import selectors as marketplace_selectors


class PayoutFailed(Exception):
    """The transfer did not happen (declined, unreachable, timed out): retry later."""


@dataclass(frozen=True)
class Transfer:
    reference: str


class PayoutProvider(Protocol):
    name: str

    def transfer(self, *, amount: Decimal, currency: str, seller_id: int, idempotency_key: str) -> Transfer: ...


class TestPayoutProvider:
    """Pays at once; the reference is derived from the key, so the same key is the same transfer."""

    name = "test"

    def transfer(self, *, amount: Decimal, currency: str, seller_id: int, idempotency_key: str) -> Transfer:
        if amount <= 0:
            raise PayoutFailed("Nothing to transfer.")
        return Transfer(reference="tr_test_" + hashlib.blake2b(idempotency_key.encode(), digest_size=8).hexdigest())


class StripeConnectPayoutProvider:
    """Stripe Connect: a transfer from the platform's Stripe balance to the seller's connected
    account (``Seller.stripe_account``), through the official library. The payout's key is Stripe's
    idempotency key, so a retried transfer is the same transfer."""

    name = "stripe"

    def __init__(self, *, secret_key: str | None = None, http_client=None) -> None:
        if http_client is None:
            http_client = stripe.RequestsClient(timeout=(3.0, float(getattr(settings, "PAYMENT_PROVIDER_TIMEOUT", 8))))
        key = secret_key if secret_key is not None else settings.STRIPE_SECRET_KEY
        self.client = stripe.StripeClient(key or "", http_client=http_client, max_network_retries=1)

    def transfer(self, *, amount: Decimal, currency: str, seller_id: int, idempotency_key: str) -> Transfer:
        account = marketplace_selectors.seller_stripe_accounts(seller_ids=[seller_id]).get(seller_id, "")
        if not account:
            raise PayoutFailed("The seller has no Stripe connected account yet.")
        cents = int((amount * 10 ** minor_units(currency)).to_integral_value())
        try:
            transfer = self.client.v1.transfers.create(
                {"amount": cents, "currency": currency.lower(), "destination": account,
                 "metadata": {"seller_id": str(seller_id)}},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise PayoutFailed(str(exc.user_message or exc)[:300]) from exc
        return Transfer(reference=str(transfer.id))


@cache
def _provider_class(path: str) -> type:
    return import_string(path)


def get_provider() -> PayoutProvider:
    return _provider_class(settings.FINANCE_PAYOUT_PROVIDER)()
