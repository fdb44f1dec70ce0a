"""Reads of payments for other contexts (orders, membership, checkout) and the admin: payments,
store credit and gift cards."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet

from core.money import Money, default_currency, minor_units, quantize
from payments import gift_cards
from payments.models import (
    GiftCard,
    GiftCardEntry,
    Payment,
    PaymentStatus,
    Refund,
    StoreCreditAccount,
    StoreCreditEntry,
    WebhookEvent,
)

# Other contexts compare ``payment.status`` with ``payments.selectors.PaymentStatus``: the values
# are part of what payments publishes; its models are not (an import-linter contract).


def payment_get(*, pk: int) -> Payment | None:
    return Payment.objects.filter(pk=pk).first()


def payment_get_by_idempotency_key(*, idempotency_key: str) -> Payment | None:
    return Payment.objects.filter(idempotency_key=idempotency_key).first()


def payment_list_for_reference(*, reference: str) -> QuerySet[Payment]:
    return Payment.objects.filter(reference=reference).prefetch_related("refunds").order_by("id")


def authorizations_expiring(*, before) -> list[str]:
    """References (order numbers) of authorized payments whose authorization lapses before then."""
    return list(
        Payment.objects.filter(status=PaymentStatus.AUTHORIZED, authorization_expires_at__lt=before)
        .values_list("reference", flat=True).distinct()
    )


def payment_for_owner(*, provider_reference: str, owner: str) -> Payment | None:
    """The payment with this provider reference if ``owner`` made it; None otherwise (a return URL
    carrying somebody else's intent finds nothing)."""
    if not provider_reference or not owner:
        return None
    return Payment.objects.filter(provider_reference=provider_reference, owner=owner).first()


def payment_latest_for_reference(*, reference: str) -> Payment | None:
    return Payment.objects.filter(reference=reference).order_by("-id").first()


def element_options(*, amount: Decimal, currency: str) -> dict[str, Any]:
    """What a page needs to mount the provider's payment element before an intent exists
    (Stripe's deferred Payment Element): where Stripe.js comes from, the publishable key, and the
    amount in minor units."""
    return {
        "js_url": getattr(settings, "STRIPE_JS_URL", "https://js.stripe.com/v3/"),
        "publishable_key": getattr(settings, "STRIPE_PUBLISHABLE_KEY", ""),
        "amount": int(quantize(amount, currency).scaleb(minor_units(currency))),
        "currency": currency.lower(),
    }


def webhook_event_list(*, provider: str | None = None) -> QuerySet[WebhookEvent]:
    qs = WebhookEvent.objects.all()
    return qs.filter(provider=provider) if provider else qs


def refund_for_key(*, idempotency_key: str) -> Refund | None:
    """The provider refund made under ``idempotency_key``, if any."""
    return Refund.objects.filter(idempotency_key=idempotency_key).first()


# --- store credit --------------------------------------------------------------------------


def store_credit_balance(*, user, currency: str | None = None) -> Money:
    """What the customer can spend in ``currency`` (the shop's by default); zero without an account."""
    currency = (currency or default_currency()).upper()
    if user is None or not getattr(user, "pk", None):
        return Money(0, currency)
    balance = (StoreCreditAccount.objects.filter(user=user, currency=currency)
               .values_list("balance", flat=True).first())
    return Money(balance or 0, currency)


def store_credit_balances(*, user) -> list[Money]:
    """Every balance the customer holds: the shop's currency first (zero included), then others."""
    shop = default_currency()
    held = dict(StoreCreditAccount.objects.filter(user=user).values_list("currency", "balance"))
    return [Money(held.pop(shop, 0), shop), *(Money(held[c], c) for c in sorted(held))]


def store_credit_entries(*, user) -> QuerySet[StoreCreditEntry]:
    """The customer's store credit history, newest first (every currency; ``account`` selected)."""
    return StoreCreditEntry.objects.filter(account__user=user).select_related("account").order_by("-id")


def store_credit_account_entries(*, account_id: int) -> QuerySet[StoreCreditEntry]:
    return StoreCreditEntry.objects.filter(account_id=account_id).select_related("created_by").order_by("-id")


# --- gift cards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GiftCardBalance:
    balance: Money
    last4: str


def gift_card_balance(*, code: str) -> GiftCardBalance | None:
    """What an active card still holds, found by its code; None for any code that cannot be used
    (never issued, used up, redeemed, voided): callers answer all of them the same way."""
    hashes = gift_cards.code_hashes(code)
    if not hashes:
        return None
    found = (GiftCard.objects.filter(code_hash__in=hashes, status=GiftCard.Status.ACTIVE, balance__gt=0)
             .values_list("balance", "currency", "last4").first())
    if found is None:
        return None
    balance, currency, last4 = found
    return GiftCardBalance(balance=Money(balance, currency), last4=last4)


def gift_cards_used(*, references) -> bool:
    """Whether any card issued for these references (an order's bought cards) has been used: spent
    or redeemed, in part or whole, so it can no longer be taken back (see ``gift_card_withdraw``)."""
    references = list(references)
    return bool(references) and GiftCard.objects.filter(reference__in=references).exclude(
        status=GiftCard.Status.VOIDED).exclude(status=GiftCard.Status.ACTIVE, balance=F("initial_amount")).exists()


def gift_card_find(*, code: str) -> GiftCard | None:
    """The card with this code whatever its state (staff looking a code up in admin)."""
    hashes = gift_cards.code_hashes(code)
    return GiftCard.objects.filter(code_hash__in=hashes).first() if hashes else None


def gift_card_get(*, pk: int) -> GiftCard | None:
    return GiftCard.objects.filter(pk=pk).first()


def gift_card_entries(*, card_id: int) -> QuerySet[GiftCardEntry]:
    return GiftCardEntry.objects.filter(card_id=card_id).select_related("created_by").order_by("id")


def gift_card_spends(*, reference: str) -> QuerySet[GiftCardEntry]:
    """What ``reference`` (an order) spent of gift cards, with the card (for its last four characters)."""
    return GiftCardEntry.objects.filter(kind=GiftCardEntry.Kind.SPEND, reference=reference).select_related("card")


def personal_data(*, user_id: int) -> dict:
    """``user_id``'s store credit (balances and every entry), for their data export."""
    return {
        "store_credit": list(StoreCreditAccount.objects.filter(user_id=user_id).order_by("id").values(
            "currency", "balance", "created_at")),
        "store_credit_entries": list(StoreCreditEntry.objects.filter(account__user_id=user_id).order_by("id").values(
            "account__currency", "kind", "amount", "balance_after", "description", "created_at")),
    }


def store_credit_held(*, user_id: int) -> list[Money]:
    """The store credit ``user_id`` still holds, one amount per currency (none when nothing is held)."""
    return [Money(balance, currency) for currency, balance in StoreCreditAccount.objects.filter(
        user_id=user_id, balance__gt=0).order_by("currency").values_list("currency", "balance")]
