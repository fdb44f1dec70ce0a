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


# --- sessions and daily KPIs (insights.sessions, insights.rollups) -------------------------------


@shared_task(acks_late=True, ignore_result=True)
def rollup_day(day: str | None = None, days_ago: int = 0) -> int:
    """Beat: sessionise and roll up one UTC day (``day`` as YYYY-MM-DD, else today minus ``days_ago``):
    yesterday at 00:30 UTC (its final figures) and today every 15 minutes. Idempotent."""
    from datetime import UTC, date, datetime, timedelta

    from insights import rollups

    target = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=days_ago)
    return rollups.rollup_day(target).sessions


# --- end of sessions and daily KPIs --------------------------------------------------------------


# --- the analytics export (insights.lake) ----------------------------------------------------------


@shared_task(acks_late=True, ignore_result=True)
def export_lake(days: int = 2) -> int:
    """Beat, nightly: the lake's last ``days`` days (yesterday and today), only those missing or changed.
    Returns the number of day files written (0 when another export holds the lock)."""
    import logging

    from insights import lake

    try:
        reports = lake.export(days=lake.recent_days(days))
    except lake.LakeBusy:
        logging.getLogger(__name__).warning("insights: lake export skipped, another one is running")
        return 0
    return sum(1 for r in reports if r.status == "written")


# --- end of the analytics export -------------------------------------------------------------------


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def forget_closed_account(user_id: int, event_id: int | None = None, **_event) -> int:
    """``accounts.account_closed``: the user's events and sessions forget who they were (idempotent)."""
    return services.user_forget(user_id=user_id)
