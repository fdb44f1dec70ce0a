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
def release_cancelled_order(order_id: int, to_status: str = "", event_id: int | None = None, **_event) -> int:
    """``orders.status_changed``: a cancelled order gives back its lightning-deal units (on sale
    again at the deal price) and its voucher use (idempotent: each is given back once). Other
    changes do nothing. Returns the deal units given back."""
    from orders import selectors as orders_selectors
    from promotions import services

    if to_status != orders_selectors.OrderStatus.CANCELLED:
        return 0
    order = orders_selectors.order_get(pk=order_id)
    if order is None:
        return 0
    return services.order_benefits_release(order_number=order.number)
