"""Durable domain events: what happened, recorded in the transaction that made it happen.

A service that must tell others what happened calls :func:`record` inside its transaction. The
event is written to the event log (:class:`core.models.DomainEvent`) and, in the same transaction,
one outbox task per consumer that the composition point declared for it (``EVENT_CONSUMERS`` in
settings: event name -> Celery task names). After the commit each consumer runs at least once
with ``event_id`` and the payload as keyword arguments; consumers are idempotent. A rolled-back
transaction leaves neither the event nor its tasks; a broker outage only delays them (the outbox
sweeper). There is no in-process bus: nothing waits on, or silently loses, an event.

Each context names its events and payloads in its own ``events.py``. Payloads are JSON values
(ids, strings, decimals as strings). :func:`replay` hands stored events to their consumers again
(``manage.py events_replay``); :func:`prune` deletes events older than ``EVENT_RETENTION_DAYS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core import outbox
from core.models import DomainEvent, OutboxMessage


def consumers(name: str) -> tuple[str, ...]:
    return tuple(getattr(settings, "EVENT_CONSUMERS", {}).get(name, ()))


def record(name: str, *, aggregate: str, aggregate_id: Any = "", **payload: Any) -> DomainEvent:
    """Record that ``name`` happened to ``aggregate`` ``aggregate_id``, in the caller's transaction,
    and hand it to its consumers after the commit (at least once).

    The event row and its consumers' outbox rows are written by one statement (events are
    recorded on the busiest paths, placing an order among them: a round trip each counts)."""
    event = DomainEvent(
        name=name, aggregate=aggregate, aggregate_id=str(aggregate_id), payload=payload, occurred_at=timezone.now()
    )
    tasks = consumers(name)
    if not tasks:
        if not _one_statement():
            event.save(force_insert=True)
            return event
        with connection.cursor() as cursor:  # as the ORM's INSERT, without building it per event
            cursor.execute(_RECORD, [name, event.aggregate, event.aggregate_id, json.dumps(payload), event.occurred_at])
            event.pk = cursor.fetchone()[0]
        event._state.adding, event._state.db = False, connection.alias
        return event
    for task in tasks:
        outbox.check_task(task)  # an unknown consumer is a programming error: raised in the transaction
    if not _one_statement():  # SQLite (the embedded default): the event, then a row per consumer
        event.save(force_insert=True)
        _hand_out(event, tasks)
        return event
    created_at, available_at = outbox.fresh_row_times()
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_WITH_CONSUMERS, [
            name, event.aggregate, event.aggregate_id, json.dumps(payload), event.occurred_at,
            json.dumps(payload), created_at, available_at, list(tasks),
        ])
        rows = cursor.fetchall()
    event.pk = rows[0][0]
    outbox.send_after_commit([
        OutboxMessage(pk=pk, task_name=task, args=[], kwargs=json.loads(kwargs) if isinstance(kwargs, str) else kwargs,
                      created_at=created_at, available_at=available_at)
        for _event_id, pk, task, kwargs in rows
    ])
    return event


def _one_statement() -> bool:
    """Whether the database writes an event and its outbox rows in one statement (PostgreSQL)."""
    return connection.vendor == "postgresql"


_RECORD = """
INSERT INTO core_domainevent (name, aggregate, aggregate_id, payload, occurred_at)
VALUES (%s, %s, %s, %s::jsonb, %s)
RETURNING id
"""

# The event, then one outbox row per consumer (in the order declared) whose keyword arguments are
# the payload plus the new event's id. PostgreSQL runs the data-modifying CTE exactly once.
_RECORD_WITH_CONSUMERS = """
WITH event AS (
    INSERT INTO core_domainevent (name, aggregate, aggregate_id, payload, occurred_at)
    VALUES (%s, %s, %s, %s::jsonb, %s)
    RETURNING id
)
INSERT INTO core_outboxmessage (task_name, args, kwargs, created_at, available_at, attempts, last_error)
SELECT consumer.task_name, '[]'::jsonb, %s::jsonb || jsonb_build_object('event_id', event.id), %s, %s, 0, ''
FROM event CROSS JOIN unnest(%s::varchar[]) WITH ORDINALITY AS consumer(task_name, position)
ORDER BY consumer.position
RETURNING (kwargs ->> 'event_id')::bigint, id, task_name, kwargs
"""


def _hand_out(event: DomainEvent, names: Iterable[str]) -> int:
    count = 0
    for task in names:
        outbox.enqueue(task, event_id=event.pk, **event.payload)
        count += 1
    return count


def events_for(*, aggregate: str, aggregate_id: Any) -> list[DomainEvent]:
    """One aggregate's history, oldest first."""
    return list(DomainEvent.objects.filter(aggregate=aggregate, aggregate_id=str(aggregate_id)).order_by("id"))


def replay(*, since_id: int = 0, names: Iterable[str] = (), only: Iterable[str] = (), limit: int = 10_000) -> int:
    """Hand stored events (id > ``since_id``, of ``names`` if given) to their consumers again (only
    the consumer tasks in ``only``, if given), oldest first. Consumers are idempotent, so a replay
    repairs what a lost or buggy consumer missed. Returns how many tasks were enqueued."""
    queryset = DomainEvent.objects.filter(pk__gt=since_id).order_by("id")
    names, only = set(names), set(only)
    if names:
        queryset = queryset.filter(name__in=names)
    count = 0
    for event in queryset[:limit]:
        count += _hand_out(event, [c for c in consumers(event.name) if not only or c in only])
    return count


def prune(*, before: datetime | None = None, chunk: int = 5000) -> int:
    """Delete events older than the retention period (``EVENT_RETENTION_DAYS``, 90 by default)."""
    before = before or timezone.now() - timedelta(days=int(getattr(settings, "EVENT_RETENTION_DAYS", 90)))
    deleted = 0
    while True:
        old = DomainEvent.objects.filter(occurred_at__lt=before).order_by("id")
        ids = list(old.values_list("pk", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += DomainEvent.objects.filter(pk__in=ids).delete()[0]
