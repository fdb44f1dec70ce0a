"""Core background jobs: the outbox sweeper (Celery beat, every minute)."""

from __future__ import annotations

from celery import shared_task

from core import outbox


@shared_task(acks_late=True)
def sweep_outbox() -> dict[str, int | bool]:
    """Publish outbox rows whose first send failed (broker down) or whose sender died; delete
    sent rows past the retention period. Safe to run concurrently (rows are claimed with
    SELECT ... FOR UPDATE SKIP LOCKED)."""
    report = outbox.sweep()
    return {"sent": report.sent, "failed": report.failed, "deleted": report.deleted, "broker_down": report.broker_down}


@shared_task(acks_late=True)
def prune_events() -> int:
    """Delete domain events older than EVENT_RETENTION_DAYS (daily)."""
    from core import events

    return events.prune()
