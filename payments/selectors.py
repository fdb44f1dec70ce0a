"""Reads of payments for other contexts (orders, membership) and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from payments.models import Payment, WebhookEvent


def payment_get(*, pk: int) -> Payment | None:
    return Payment.objects.filter(pk=pk).first()


def payment_get_by_idempotency_key(*, idempotency_key: str) -> Payment | None:
    return Payment.objects.filter(idempotency_key=idempotency_key).first()


def payment_list_for_reference(*, reference: str) -> QuerySet[Payment]:
    return Payment.objects.filter(reference=reference).prefetch_related("refunds").order_by("id")


def webhook_event_list(*, provider: str | None = None) -> QuerySet[WebhookEvent]:
    qs = WebhookEvent.objects.all()
    return qs.filter(provider=provider) if provider else qs
