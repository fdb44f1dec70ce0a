"""Jobs of the composition point: work that needs the shop's strategy (stock, deals, benefits)."""

from __future__ import annotations

from celery import shared_task

from marketplace import services as marketplace_services
from shop.strategy import for_job


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5, acks_late=True)
def refresh_buy_boxes(product_ids: list[int], **_event) -> dict[str, int | None]:
    """``marketplace.buy_box_stale``: recompute and store these products' buy boxes for everyone.
    Idempotent: it reads the current state."""
    winners = marketplace_services.buy_box_refresh(product_ids=product_ids, inputs=for_job())
    return {str(k): v for k, v in winners.items()}
