"""Promotions' jobs: periodic work (Celery beat) and what an order's events undo."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def bump_deal_boundaries() -> int:
    """Beat, every minute: pages of products whose lightning deal started or ended since the last
    run render afresh (see services.deals_bump_boundaries). Idempotent."""
    from promotions import services

    return services.deals_bump_boundaries()


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def release_cancelled_order(order_number: str, event_id: int | None = None, **_event) -> int:
    """``orders.order_cancelled``: the order gives back its lightning-deal units (on sale again at
    the deal price) and its voucher use; each once, whatever the retries. Returns the deal units
    given back."""
    from promotions import services

    return services.order_benefits_release(order_number=order_number)
