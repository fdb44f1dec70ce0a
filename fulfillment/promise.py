"""The delivery promise: pure functions of the clock, a warehouse's cutoff and time zone, handling
and transit days, and the days nobody works.

An order placed on a working day before the dispatching warehouse's cutoff (its local time) counts
from that day; after the cutoff, from the next day. The parcel leaves after ``handling_days``
working days of the warehouse (0: the day it counts from) and arrives between ``min_days`` and
``max_days`` working days of the carrier later. Working days are Monday to Friday less the
holidays of the warehouse (leaving) or of the carrier (travelling). ``order_by`` is the cutoff
instant still ahead today, if any: "order within 3 h 12 min". Without a cutoff or holidays this
is plain business-day counting from today, as the shop always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Dispatch:
    """Where a parcel leaves from, as the promise needs it."""

    time_zone: str = "UTC"
    cutoff: time | None = None
    closed: frozenset[date] = frozenset()  # the warehouse's holidays (and the general ones)


@dataclass(frozen=True)
class Promise:
    earliest: date
    latest: date
    order_by: datetime | None  # the cutoff still ahead today (aware), else None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def working(day: date, closed: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in closed


def add_working_days(start: date, days: int, closed: frozenset[date] = frozenset()) -> date:
    """``days`` working days after ``start`` (``start`` itself when 0)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if working(current, closed):
            days -= 1
    return current


def promise(*, now: datetime, dispatch: Dispatch, handling_days: int, min_days: int, max_days: int,
            transit_closed: frozenset[date] = frozenset()) -> Promise:
    tz = zone(dispatch.time_zone)
    local = now.astimezone(tz)
    today = local.date()
    start, order_by = today, None
    if dispatch.cutoff is not None and working(today, dispatch.closed):
        cutoff_at = datetime.combine(today, dispatch.cutoff, tzinfo=tz)
        if local < cutoff_at:
            order_by = cutoff_at
        else:
            start = today + timedelta(days=1)
    leaves = add_working_days(start, handling_days, dispatch.closed)
    return Promise(add_working_days(leaves, min_days, transit_closed),
                   add_working_days(leaves, max_days, transit_closed), order_by)


def next_epoch(*, now: datetime, dispatches: list[Dispatch]) -> datetime:
    """When :func:`epoch` next changes: the first warehouse to reach its cutoff or its next local
    midnight after ``now``."""
    changes = []
    for dispatch in dispatches:
        tz = zone(dispatch.time_zone)
        local = now.astimezone(tz)
        if dispatch.cutoff is not None and local.time() < dispatch.cutoff:
            changes.append(datetime.combine(local.date(), dispatch.cutoff, tzinfo=tz))
        else:
            changes.append(datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz))
    return min(changes)


def epoch(*, now: datetime, dispatches: list[Dispatch]) -> str:
    """What changes when any warehouse's local day or side of its cutoff changes: pages showing
    promises are cached under it, so a cached page never shows yesterday's promise."""
    parts = []
    for dispatch in dispatches:
        local = now.astimezone(zone(dispatch.time_zone))
        after = dispatch.cutoff is not None and local.time() >= dispatch.cutoff
        parts.append(f"{local.date().isoformat()}{'+' if after else ''}")
    return ",".join(sorted(set(parts)))
