"""Reads of core's tables that other contexts may call (the domain event log)."""

from __future__ import annotations

from collections.abc import Iterable

from core.models import DomainEvent


def domain_events_after(*, last_id: int, limit: int = 500, names: Iterable[str] = ()) -> list[DomainEvent]:
    """Events of the log with an id above ``last_id``, oldest first, at most ``limit`` (only those
    named ``names`` when given). A reader that keeps a cursor should leave the last few seconds
    alone: an event's id is taken when it is written, and a transaction holding a lower id may
    still commit after a higher one was read."""
    queryset = DomainEvent.objects.filter(pk__gt=last_id)
    names = list(names)
    if names:
        queryset = queryset.filter(name__in=names)
    return list(queryset.order_by("id")[:limit])
