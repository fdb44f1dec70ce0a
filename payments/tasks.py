"""Payment jobs run by workers."""

from __future__ import annotations

from celery import shared_task

from payments.exceptions import PaymentUnavailable


@shared_task(autoretry_for=(PaymentUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=10,
             acks_late=True)
def void_late_authorization(payment_id: int) -> bool:
    """A payment we had given up was authorized at the provider after all: release the hold."""
    from payments import selectors, services

    payment = selectors.payment_get(pk=payment_id)
    return services.payment_void_at_provider(payment=payment) if payment is not None else False
