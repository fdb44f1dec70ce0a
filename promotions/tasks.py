"""Promotions' periodic work (Celery beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def bump_deal_boundaries() -> int:
    """Beat, every minute: pages of products whose lightning deal started or ended since the last
    run render afresh (see services.deals_bump_boundaries). Idempotent."""
    from promotions import services

    return services.deals_bump_boundaries()
