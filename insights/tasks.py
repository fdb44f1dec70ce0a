"""Insights work for Celery beat: the buffer flush, the partitions, the domain event log."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from insights import services


@shared_task(acks_late=True, ignore_result=True)
def flush_events(batch_size: int = 5000) -> int:
    """Beat, every few seconds: buffered events into the event table (at least once, deduplicated)."""
    return services.events_flush(batch_size=batch_size).accepted


@shared_task(acks_late=True, ignore_result=True)
def ensure_partitions() -> list[str]:
    """Beat, hourly: the daily partitions of the next INSIGHTS_PARTITIONS_AHEAD_DAYS days (idempotent)."""
    return services.partitions_ensure(days_ahead=settings.INSIGHTS_PARTITIONS_AHEAD_DAYS)


@shared_task(acks_late=True, ignore_result=True)
def drop_old_partitions() -> list[str]:
    """Beat, daily: drop the partitions older than INSIGHTS_RETENTION_DAYS (whole days, never DELETE)."""
    return services.partitions_drop_older_than(days=settings.INSIGHTS_RETENTION_DAYS)


@shared_task(acks_late=True, ignore_result=True)
def ingest_domain_events(batch_size: int = 500, max_batches: int = 20) -> int:
    """Beat, every few seconds: orders' and membership's domain events into analytics events."""
    total = 0
    for _ in range(max_batches):
        read = services.domain_events_ingest(batch_size=batch_size)
        total += read
        if read < batch_size:
            break
    return total


# --- recommendations -------------------------------------------------------------------------------


@shared_task(acks_late=True, ignore_result=True)
def compute_recommendations() -> dict[str, int]:
    """Beat, nightly: every recommendation list from the event store (insights.recommendations)."""
    from insights import recommendations

    return recommendations.recommendations_compute()
