"""Checkout jobs: apply a payment's outcome to its order (after a provider webhook), and settle the
orders nobody finished (beat). Both are idempotent: see :mod:`checkout.services`."""

from __future__ import annotations

from celery import shared_task

from payments.exceptions import PaymentUnavailable


@shared_task(autoretry_for=(PaymentUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=8,
             acks_late=True)
def settle_order_payment(payment_id: int, **_event) -> str:
    """A payment changed at the provider: the order it paid for becomes paid, or is undone."""
    from checkout import services

    return services.settle_order_payment(payment_id=payment_id)


@shared_task(acks_late=True)
def settle_unpaid_orders() -> dict[str, int]:
    """Beat: orders still unpaid after 30 minutes are asked about, paid, or undone."""
    from checkout import services

    return services.settle_unpaid_orders()
