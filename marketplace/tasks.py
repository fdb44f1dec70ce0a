"""Marketplace background jobs."""

from celery import shared_task

from marketplace import services


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5, acks_late=True)
def refresh_buy_boxes(product_ids: list[int]) -> dict[str, int | None]:
    """Recompute the buy box of these products. Idempotent: it reads the current state."""
    winners = services.buy_box_refresh(product_ids=product_ids)
    return {str(k): v for k, v in winners.items()}
