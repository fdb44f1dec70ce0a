"""The interface every payment provider implements, and the registry that picks one by code.

A provider speaks Decimal amounts in a currency (it converts to minor units itself), returns a
:class:`ProviderResult` for every operation that reached the provider (a decline is a result, not an
exception) and raises :class:`ProviderError` when it could not find out what happened (network
down, provider error). Every call that changes money takes an idempotency key that the provider
forwards, so retrying a call is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.exceptions import ApplicationError

# ProviderResult.status values
AUTHORIZED = "authorized"
CAPTURED = "captured"
DECLINED = "declined"
PENDING = "pending"
CANCELLED = "cancelled"
REFUNDED = "refunded"
FAILED = "failed"


class InvalidSignature(ApplicationError):
    """A webhook whose signature, timestamp or body does not check out. A 400, never a 500."""

    code = "invalid_signature"


class UnknownProvider(ApplicationError):
    code = "unknown_provider"


class ProviderError(Exception):
    """The provider could not be reached or failed; the outcome of the call is unknown."""


class InvalidPaymentMethod(ApplicationError):
    """:meth:`PaymentProvider.tokenize` refused what it was given (not a card number, say)."""

    code = "invalid_payment_method"


@dataclass(frozen=True)
class ProviderResult:
    status: str
    reference: str = ""
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook. ``data`` is normalized: ``amount``, ``amount_captured``,
    ``amount_refunded`` (Decimal or absent), ``decline_code`` and ``message``; ``payload`` is the
    provider's JSON as received, stored on the WebhookEvent."""

    event_id: str
    type: str
    reference: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class PaymentProvider(Protocol):
    code: str

    def authorize(
        self, amount: Decimal, currency: str, payment_method: str, idempotency_key: str, metadata: dict[str, str]
    ) -> ProviderResult: ...

    def capture(self, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    def refund(self, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    def cancel(self, reference: str, idempotency_key: str) -> ProviderResult: ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...

    def tokenize(self, payment_method: str) -> tuple[str, str]:
        """A reusable token for ``payment_method`` (charged later, off-session, by ``authorize``)
        and a label fit to show its owner ("Card ending 4242"). Never stores a card number.
        Raises :class:`InvalidPaymentMethod` for input that is not a payment method at all."""
        ...


_factories: dict[str, Callable[[], PaymentProvider]] = {}


def register_provider(code: str, factory: Callable[[], PaymentProvider]) -> Callable[[], PaymentProvider] | None:
    """Register (or replace) the provider for ``code``; returns the factory it replaced, if any."""
    previous = _factories.get(code)
    _factories[code] = factory
    return previous


def unregister_provider(code: str, previous: Callable[[], PaymentProvider] | None = None) -> None:
    if previous is None:
        _factories.pop(code, None)
    else:
        _factories[code] = previous


def default_provider_code() -> str:
    return getattr(settings, "PAYMENT_PROVIDER", "") or "test"


def get_provider(code: str | None = None) -> PaymentProvider:
    code = code or default_provider_code()
    _register_builtins()
    try:
        factory = _factories[code]
    except KeyError:
        raise UnknownProvider(_("Unknown payment provider."))
    return factory()


def _register_builtins() -> None:
    if "test" not in _factories:
        from payments.providers.test import TestProvider

        _factories["test"] = TestProvider
    if "stripe" not in _factories:
        from payments.providers.stripe import StripeProvider

        _factories["stripe"] = StripeProvider
