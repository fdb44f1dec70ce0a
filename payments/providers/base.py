"""The interface every payment provider implements, and how one is picked by code (a setting).

A provider speaks Decimal amounts in a currency (it converts to minor units itself), returns a
:class:`ProviderResult` for every operation that reached the provider (a decline is a result, not an
exception), raises :class:`ProviderRefused` when the provider answered with an error of the request
itself (nothing happened; not worth retrying) and :class:`ProviderError` when it could not find out
what happened (network down, timeout, provider error). Every call that changes money takes an
idempotency key that the provider forwards, so retrying a call is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.utils.module_loading import import_string
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
# The customer must act in the browser: enter a card (an intent made for the Payment Element), or
# authenticate it (3-D Secure). ``client_secret`` lets their page finish the payment.
REQUIRES_ACTION = "requires_action"
REQUIRES_PAYMENT_METHOD = "requires_payment_method"


class InvalidSignature(ApplicationError):
    """A webhook whose signature, timestamp or body does not check out. A 400, never a 500."""

    code = "invalid_signature"


class UnknownProvider(ApplicationError):
    code = "unknown_provider"


class ProviderError(Exception):
    """The provider could not be reached, timed out or failed on its side: the outcome of the
    call is unknown, and retrying it with the same idempotency key is safe."""


class ProviderRefused(Exception):
    """The provider answered and refused the request itself (invalid request, authentication,
    permission, idempotency key reused): the call certainly did nothing. Not retried."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidPaymentMethod(ApplicationError):
    """:meth:`PaymentProvider.tokenize` refused what it was given (not a card number, say)."""

    code = "invalid_payment_method"


@dataclass(frozen=True)
class SavedCard:
    """A reusable card: ``token`` to charge later (``cus_...|pm_...``), a label fit to show its
    owner ("Visa ending 4242") and the provider's fingerprint of the card number."""

    token: str
    label: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class ProviderResult:
    status: str
    reference: str = ""
    decline_code: str = ""
    message: str = ""
    client_secret: str = ""  # for REQUIRES_ACTION / REQUIRES_PAYMENT_METHOD
    payment_method: str = ""  # what paid, when the provider says (a browser-confirmed intent)
    authorization_expires_at: datetime | None = None  # AUTHORIZED: capture before this
    card: SavedCard | None = None  # the card that paid, when the provider tells (and can save it)


@dataclass(frozen=True)
class SetupResult:
    """A card-saving intent (Stripe SetupIntent): ``status`` is one of SUCCEEDED, REQUIRES_ACTION,
    REQUIRES_PAYMENT_METHOD, PENDING, CANCELLED; ``card`` is set once it succeeded."""

    status: str
    reference: str
    client_secret: str = ""
    customer: str = ""
    card: SavedCard | None = None
    message: str = ""


SUCCEEDED = "succeeded"
SAVED_SEPARATOR = "|"  # a saved card: "<customer>|<payment method>"


def split_saved(token: str) -> tuple[str, str]:
    """``"cus_1|pm_2"`` -> ``("cus_1", "pm_2")``; a bare payment method has no customer."""
    customer, _sep, method = str(token or "").rpartition(SAVED_SEPARATOR)
    return customer, method


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
    """Every method that changes money takes an idempotency key and forwards it."""

    code: str
    # True: the shopper enters the card in the provider's own element in the browser and
    # confirms there (Stripe Payment Element); our pages never see a card number. False: our
    # simple card form posts to our server (the built-in test provider only).
    confirms_in_browser: bool

    def authorize(
        self, amount: Decimal, currency: str, payment_method: str, idempotency_key: str, metadata: dict[str, str]
    ) -> ProviderResult:
        """Authorize (manual capture) with a payment method we hold, confirmed server-side.
        AUTHORIZED, DECLINED, REQUIRES_ACTION (with a client secret) or FAILED."""
        ...

    def create_intent(
        self, amount: Decimal, currency: str, idempotency_key: str, metadata: dict[str, str], *,
        customer: str = "", capture: bool = False, save_card: bool = False,
    ) -> ProviderResult:
        """An intent the shopper confirms in the browser: REQUIRES_PAYMENT_METHOD with a client
        secret. ``capture``: charged at once when confirmed (else authorized, captured later);
        ``save_card``: the card is kept on ``customer`` for later off-session charges."""
        ...

    def retrieve(self, reference: str) -> ProviderResult:
        """Where the payment stands at the provider now (for a return page, a retry, the settle job)."""
        ...

    def capture(self, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    def refund(self, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    def cancel(self, reference: str, idempotency_key: str) -> ProviderResult: ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...

    def ensure_customer(self, owner: str) -> str:
        """The provider's customer id for ``owner`` ("user:<id>"), created once (idempotently)."""
        ...

    def tokenize(self, payment_method: str, customer: str) -> SavedCard:
        """Make ``payment_method`` reusable on ``customer`` (a card number for the test provider, a
        ``pm_...`` id for Stripe). Never stores a card number. Raises :class:`InvalidPaymentMethod`
        for input that is not a payment method at all."""
        ...

    def create_setup(self, customer: str, idempotency_key: str) -> SetupResult:
        """A card-saving intent the shopper confirms in the browser (no charge)."""
        ...

    def retrieve_setup(self, reference: str) -> SetupResult: ...


def _factories() -> Mapping[str, Any]:
    """``PAYMENT_PROVIDERS``: code -> dotted path of a provider class (or any callable that makes
    one, which tests use to put a fake in). No registry is filled at run time."""
    return getattr(settings, "PAYMENT_PROVIDERS", {})


def default_provider_code() -> str:
    return getattr(settings, "PAYMENT_PROVIDER", "") or "test"


def get_provider(code: str | None = None) -> PaymentProvider:
    code = code or default_provider_code()
    try:
        factory = _factories()[code]
    except KeyError:
        raise UnknownProvider(_("Unknown payment provider."))
    return (import_string(factory) if isinstance(factory, str) else factory)()


def check_providers() -> list[str]:
    """What is wrong with the provider settings (a system check: refused at start-up)."""
    problems = []
    for code, factory in _factories().items():
        if isinstance(factory, str):
            try:
                import_string(factory)
            except ImportError as exc:
                problems.append(f"PAYMENT_PROVIDERS[{code!r}] = {factory!r} cannot be imported: {exc}")
    if default_provider_code() not in _factories():
        problems.append(f"PAYMENT_PROVIDER is {default_provider_code()!r}, which PAYMENT_PROVIDERS does not name "
                        f"(it has {', '.join(sorted(_factories())) or 'none'}).")
    return problems
