"""Reads of the event store: its partitions (PostgreSQL) and events."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection
from django.db.models import QuerySet

from insights.models import Event

PARTITION_PREFIX = f"{Event._meta.db_table}_p"
DEFAULT_PARTITION = f"{Event._meta.db_table}_default"
_DAY = re.compile(rf"^{re.escape(PARTITION_PREFIX)}(\d{{8}})$")


@dataclass(frozen=True)
class Partition:
    name: str
    day: date | None  # None: the default partition (or one not named by day)
    bound: str  # PostgreSQL's text of its bounds ("FOR VALUES FROM (...) TO (...)" or "DEFAULT")


def partitioned() -> bool:
    """Whether the event table is partitioned (PostgreSQL; SQLite has an ordinary table)."""
    return connection.vendor == "postgresql"


def event_partitions() -> list[Partition]:
    """The partitions of the event table, by name (empty when it is not partitioned)."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s AND parent.relkind = 'p'
            ORDER BY child.relname
            """,
            [Event._meta.db_table],
        )
        rows = cursor.fetchall()
    result = []
    for name, bound in rows:
        match = _DAY.match(name)
        day = datetime.strptime(match[1], "%Y%m%d").date() if match else None  # noqa: DTZ007 - a date only
        result.append(Partition(name=name, day=day, bound=bound))
    return result


def partition_of_event(*, event_id) -> str | None:
    """The partition an event's row lives in (PostgreSQL; ``None`` elsewhere or when absent)."""
    if not partitioned():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {Event._meta.db_table} WHERE event_id = %s",  # noqa: S608
                       [str(event_id)])
        row = cursor.fetchone()
    return row[0] if row else None


def events_of_visitor(*, visitor_id: str) -> QuerySet[Event]:
    return Event.objects.filter(visitor_id=visitor_id).order_by("occurred_at", "id")


PERSONAL_EVENTS = 10_000  # the most recent events a data export lists


def personal_data(*, user_id: int, limit: int = PERSONAL_EVENTS) -> dict:
    """What ``user_id`` did on the shop as recorded (the most recent ``limit`` events), for their data
    export."""
    return {"events": list(Event.objects.filter(user_id=user_id).order_by("-occurred_at", "-id")[:limit].values(
        "name", "occurred_at", "channel", "device", "properties"))}
