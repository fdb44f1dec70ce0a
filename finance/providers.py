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

from django.conf import settings
from django.utils.module_loading import import_string


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


@cache
def _provider_class(path: str) -> type:
    return import_string(path)


def get_provider() -> PayoutProvider:
    return _provider_class(settings.FINANCE_PAYOUT_PROVIDER)()
