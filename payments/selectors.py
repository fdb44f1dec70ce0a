"""Reads of payments for other contexts (orders, membership) and the admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from core.money import minor_units, quantize
from payments.models import Payment, PaymentStatus, WebhookEvent

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
