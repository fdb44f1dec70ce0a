"""Experiments work for Celery: the schedule (beat, every minute)."""

from __future__ import annotations

from celery import shared_task

from experiments import services


@shared_task
def apply_schedule() -> dict[str, list[str]]:
    """Start the drafts and stop the running experiments whose scheduled time has come (idempotent)."""
    started, stopped = services.experiments_apply_schedule()
    return {"started": started, "stopped": stopped}
