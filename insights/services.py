"""Writes of the event store: inserting records, draining the Redis buffer, the partitions, and the
analytics events made from the domain event log.

How events get here (docs/architecture.md, "Insights: events"):

* ``core.analytics.track`` appends JSON records to a Redis list; :func:`events_flush` (beat, every
  few seconds, and ``manage.py insights_flush``) drains it into :class:`insights.models.Event`.
  Without Redis, ``track`` calls :func:`events_insert` directly (``ANALYTICS_DIRECT_SINK``).
* :func:`domain_events_ingest` (beat) turns orders' and membership's domain events into "Order
  Completed", "Order Cancelled", "Order Refunded" and "Membership Joined", after a cursor.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import events as account_events
from checkout import events as checkout_events
from core import analytics
from core import selectors as core_selectors
from insights import events as analytics_events
from insights import selectors
from insights.models import Cursor, Event, Session
from membership import events as membership_events
from orders import events as orders_events
from orders import selectors as orders_selectors

logger = logging.getLogger(__name__)

_MAX_PROPERTIES_BYTES = 16_000


@dataclass
class InsertReport:
    accepted: int = 0  # valid records handed to the database (duplicates of stored events are ignored there)
    skipped: int = 0  # malformed records, dropped


# --- inserting -----------------------------------------------------------------------------


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        return None
    return value


def event_from_record(record: Any) -> Event | None:
    """An unsaved :class:`Event` from one record of ``core.analytics`` (a dict, or its JSON text),
    or ``None`` when the record is malformed."""
    try:
        if isinstance(record, bytes | str):
            record = json.loads(record)
        if not isinstance(record, Mapping):
            return None
        name = _text(record.get("name"), 64)
        visitor_id = _text(record.get("visitor_id", ""), 36)
        occurred_at = parse_datetime(record.get("occurred_at") or "")
        event_id = uuid.UUID(str(record.get("event_id")))
        user_id = record.get("user_id")
        properties = record.get("properties", {})
        if not name or visitor_id is None or occurred_at is None or timezone.is_naive(occurred_at):
            return None
        if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int)):
            return None
        if not isinstance(properties, Mapping):
            return None
        encoded = json.dumps(properties, separators=(",", ":"))
        if len(encoded) > _MAX_PROPERTIES_BYTES or "\\u0000" in encoded:  # jsonb refuses NUL
            return None
    except (TypeError, ValueError, AttributeError):
        return None
    channel = record.get("channel")
    device = record.get("device")
    return Event(
        event_id=event_id, name=name, occurred_at=occurred_at, received_at=timezone.now(), visitor_id=visitor_id,
        user_id=user_id, channel=channel if channel in Event.Channel.values else Event.Channel.WEB,
        device=device if device in Event.Device.values else Event.Device.OTHER,
        is_bot=bool(record.get("is_bot")) or analytics.is_bot(str(record.get("user_agent") or "")),
        properties=dict(properties),
    )


def events_insert(records: Iterable[Any]) -> InsertReport:
    """Store ``records`` (``core.analytics`` records, dicts or JSON), skipping malformed ones and
    events already stored (same event id and time: ``INSERT ... ON CONFLICT DO NOTHING``), in one
    transaction. Also ``settings.ANALYTICS_DIRECT_SINK``: what ``track`` calls without Redis."""
    report = InsertReport()
    rows = []
    for record in records:
        event = event_from_record(record)
        if event is None:
            report.skipped += 1
        else:
            rows.append(event)
    if report.skipped:
        logger.warning("insights: %d malformed event records skipped", report.skipped)
    if not rows:
        return report
    try:
        with transaction.atomic():
            Event.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        report.accepted = len(rows)
    except (DataError, IntegrityError):
        # One row the database refuses must not hold back the others: insert them one by one. (A
        # database that cannot be reached raises: a flush then keeps its batch in the buffer.)
        logger.warning("insights: batch insert failed, inserting %d events one by one", len(rows), exc_info=True)
        for row in rows:
            try:
                with transaction.atomic():
                    Event.objects.bulk_create([row], ignore_conflicts=True)
                report.accepted += 1
            except (DataError, IntegrityError):
                report.skipped += 1
                logger.warning("insights: event %s refused by the database", row.event_id, exc_info=True)
    return report


# --- draining the buffer -------------------------------------------------------------------

# Remove the first ARGV[2] records, only while this flusher (ARGV[1]) still holds the lock, and
# extend the lock: a flusher whose lock expired never trims records someone else is inserting.
_TRIM_IF_OWNER = """
if redis.call('get', KEYS[2]) == ARGV[1] then
  redis.call('ltrim', KEYS[1], tonumber(ARGV[2]), -1)
  redis.call('pexpire', KEYS[2], tonumber(ARGV[3]))
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_LOCK_MS = 120_000


@dataclass
class FlushReport:
    read: int = 0
    accepted: int = 0
    skipped: int = 0
    busy: bool = False  # another flusher held the lock


def events_flush(*, batch_size: int = 5000, max_batches: int = 20) -> FlushReport:
    """Move buffered records from Redis into the event table, ``batch_size`` at a time (at most
    ``max_batches`` per call, so a beat run ends).

    At least once, never lost: a batch is read (``LRANGE``), inserted and committed, and only then
    removed from the list (``LTRIM``, only while this flusher holds its lock). A worker that dies
    in between leaves the batch in the list; the next run inserts it again and the unique
    ``(event_id, occurred_at)`` drops the copies. One flusher at a time (a lock with a time to live).
    Malformed records are counted and dropped with their batch; they never stop the drain.
    """
    report = FlushReport()
    client = analytics.redis_client()
    if client is None:  # no Redis: track() wrote every event directly
        return report
    key = analytics.buffer_key()
    lock = f"{key}:flush-lock"
    token = uuid.uuid4().hex
    if not client.set(lock, token, nx=True, px=_LOCK_MS):
        report.busy = True
        return report
    try:
        for _ in range(max_batches):
            raw = client.lrange(key, 0, batch_size - 1)
            if not raw:
                break
            inserted = events_insert(raw)
            if not client.eval(_TRIM_IF_OWNER, 2, key, lock, token, len(raw), _LOCK_MS):
                logger.warning("insights: flush lock lost; the next flush repeats this batch (deduplicated)")
                break
            report.read += len(raw)
            report.accepted += inserted.accepted
            report.skipped += inserted.skipped
            if len(raw) < batch_size:
                break
    finally:
        client.eval(_RELEASE, 1, lock, token)
    return report


# --- partitions (PostgreSQL) ---------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def partitions_ensure(*, days_ahead: int = 7, today: date | None = None) -> list[str]:
    """Create the daily partitions of today and the next ``days_ahead`` days that do not exist yet
    (idempotent; safe to run concurrently). Moves nothing: a day whose rows already went to the
    default partition gets no partition of its own (logged), its rows stay where they are."""
    if not selectors.partitioned():
        return []
    today = today or timezone.now().astimezone(UTC).date()
    table = Event._meta.db_table
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{table}:partitions"])
        existing = {p.name for p in selectors.event_partitions()}
        for offset in range(days_ahead + 1):
            day = today + timedelta(days=offset)
            name = f"{selectors.PARTITION_PREFIX}{day:%Y%m%d}"
            if name in existing:
                continue
            start, end = _day_start(day), _day_start(day + timedelta(days=1))
            cursor.execute(f"SELECT 1 FROM {selectors.DEFAULT_PARTITION} "  # noqa: S608 - our own names
                           "WHERE occurred_at >= %s AND occurred_at < %s LIMIT 1", [start, end])
            if cursor.fetchone():
                logger.warning("insights: %s not created: the default partition holds events of that day", name)
                continue
            # DDL takes no bound parameters: the bounds are written out (UTC midnights we made).
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} "
                           f"FOR VALUES FROM ('{start:%Y-%m-%d %H:%M:%S}+00') TO ('{end:%Y-%m-%d %H:%M:%S}+00')")
            created.append(name)
    if created:
        logger.info("insights: partitions created: %s", ", ".join(created))
    return created


def partitions_drop_older_than(*, days: int | None = None, today: date | None = None) -> list[str]:
    """Drop (``DROP TABLE``, never ``DELETE``) the daily partitions whose whole day is more than
    ``days`` (``INSIGHTS_RETENTION_DAYS``, 400 by default) days old. The default partition and
    younger days are never touched."""
    if not selectors.partitioned():
        return []
    days = settings.INSIGHTS_RETENTION_DAYS if days is None else days
    today = today or timezone.now().astimezone(UTC).date()
    cutoff = today - timedelta(days=days)
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{Event._meta.db_table}:partitions"])
        for partition in selectors.event_partitions():
            if partition.day is not None and partition.day < cutoff:
                cursor.execute(f"DROP TABLE IF EXISTS {partition.name}")
                dropped.append(partition.name)
    if dropped:
        logger.info("insights: partitions dropped: %s", ", ".join(dropped))
    return dropped


# --- the domain event log ------------------------------------------------------------------

DOMAIN_EVENTS_CURSOR = "domain_events"
# Fixed namespace: the analytics event of domain event N always has the same id, so replays dedupe.
_DOMAIN_EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8a57-4c1e-9a0b-0c7f3b1f5e21")
HANDLED_DOMAIN_EVENTS = (
    orders_events.STATUS_CHANGED, orders_events.ORDER_REFUNDED, orders_events.ORDER_PARTIALLY_REFUNDED,
    membership_events.JOINED, checkout_events.CART_LINE_ADDED, checkout_events.CART_LINE_REMOVED,
    checkout_events.CHECKOUT_STARTED, checkout_events.CHECKOUT_STEP_COMPLETED, account_events.SIGNED_UP,
)
# Domain events of the cart and checkout, and the analytics event each one becomes.
_CART_EVENTS = {
    checkout_events.CART_LINE_ADDED: analytics_events.PRODUCT_ADDED,
    checkout_events.CART_LINE_REMOVED: analytics_events.PRODUCT_REMOVED,
    checkout_events.CHECKOUT_STARTED: analytics_events.CHECKOUT_STARTED,
    checkout_events.CHECKOUT_STEP_COMPLETED: analytics_events.CHECKOUT_STEP_COMPLETED,
}
_CART_PROPERTIES = ("cart_id", "product_id", "sku", "price", "currency", "quantity", "lines", "value", "step",
                    "step_name")


def domain_event_uuid(domain_event_id: int) -> uuid.UUID:
    return uuid.uuid5(_DOMAIN_EVENT_NAMESPACE, f"domain-event:{domain_event_id}")


def _money(value: Decimal | None) -> str:
    """Money in properties: a decimal string ("12.50"), never a float."""
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _order_completed(order: dict) -> dict:
    return {
        "order_id": order["number"], "subtotal": _money(order["subtotal"]), "discount": _money(order["discount"]),
        "shipping": _money(order["shipping"]), "tax": _money(order["tax"]), "total": _money(order["total"]),
        "revenue": _money(order["subtotal"] - order["discount"]), "currency": order["currency"],
        "products": [
            {"product_id": line["product_id"], "sku": line["sku"], "name": line["name"], "category": line["category"],
             "price": _money(line["price"]), "quantity": line["quantity"], "seller_id": line["seller_id"]}
            for line in order["lines"]
        ],
    }


def analytics_record_of(domain_event) -> dict | None:
    """The analytics record of one domain event, or ``None`` when it is not one insights records."""
    payload = domain_event.payload or {}
    name, properties, visitor_id, user_id = None, None, "", None
    if domain_event.name in (orders_events.STATUS_CHANGED, orders_events.ORDER_REFUNDED,
                             orders_events.ORDER_PARTIALLY_REFUNDED):
        to_status = payload.get("to_status")
        if domain_event.name == orders_events.STATUS_CHANGED and to_status not in ("paid", "cancelled"):
            return None
        order = orders_selectors.order_for_analytics(int(payload.get("order_id") or domain_event.aggregate_id))
        if order is None:
            return None
        visitor_id, user_id = order["visitor_id"], order["user_id"]
        if domain_event.name == orders_events.STATUS_CHANGED and to_status == "paid":
            name, properties = analytics_events.ORDER_COMPLETED, _order_completed(order)
        elif domain_event.name == orders_events.STATUS_CHANGED:
            name = analytics_events.ORDER_CANCELLED
            properties = {"order_id": order["number"], "total": _money(order["total"]),
                          "revenue": _money(order["subtotal"] - order["discount"]), "currency": order["currency"]}
        else:
            name = analytics_events.ORDER_REFUNDED
            amount = payload.get("amount") if domain_event.name == orders_events.ORDER_PARTIALLY_REFUNDED \
                else (order["refunded_amount"] or order["total"])
            properties = {"order_id": order["number"], "currency": order["currency"]}
            if amount is not None:
                properties["amount"] = _money(Decimal(str(amount)))
    elif domain_event.name == membership_events.JOINED:
        name, user_id = analytics_events.MEMBERSHIP_JOINED, payload.get("user_id")
        properties = {key: payload.get(key) for key in ("subscription_id", "plan", "interval", "status")}
    elif domain_event.name in _CART_EVENTS:
        name, visitor_id, user_id = _CART_EVENTS[domain_event.name], payload.get("visitor_id"), payload.get("user_id")
        properties = {key: payload[key] for key in _CART_PROPERTIES if payload.get(key) is not None}
    elif domain_event.name == account_events.SIGNED_UP:
        name, visitor_id, user_id = analytics_events.SIGNED_UP, payload.get("visitor_id"), payload.get("user_id")
        properties = {}
    if name is None:
        return None
    return analytics.make_record(name, visitor_id=visitor_id or "", user_id=user_id, properties=properties,
                                 occurred_at=domain_event.occurred_at, channel="web", device="other",
                                 event_id=domain_event_uuid(domain_event.pk), anonymous=True)


def domain_events_ingest(*, batch_size: int = 500, settle_seconds: int | None = None) -> int:
    """Turn the domain events recorded after the cursor into analytics events; returns how many
    domain events were read. The events and the cursor's move commit together, so a crash repeats
    nothing and skips nothing (and a replay would be deduplicated anyway: the event ids are derived
    from the domain events'). Events of the last ``settle_seconds``
    (``INSIGHTS_DOMAIN_EVENTS_SETTLE_SECONDS``) wait for the next run: a transaction that took a
    lower id may still be committing."""
    settle = settings.INSIGHTS_DOMAIN_EVENTS_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    settled_before = timezone.now() - timedelta(seconds=settle)
    with transaction.atomic():
        cursor, _created = Cursor.objects.select_for_update().get_or_create(name=DOMAIN_EVENTS_CURSOR)
        domain_events = core_selectors.domain_events_after(last_id=cursor.last_id, limit=batch_size,
                                                           names=HANDLED_DOMAIN_EVENTS)
        settled = []
        for domain_event in domain_events:
            if domain_event.occurred_at >= settled_before:
                break
            settled.append(domain_event)
        if not settled:
            return 0
        records = [record for record in (analytics_record_of(e) for e in settled) if record is not None]
        events_insert(records)
        cursor.last_id = settled[-1].pk
        cursor.save(update_fields=["last_id", "updated_at"])
    return len(settled)


def user_forget(*, user_id: int) -> int:
    """A closed account (``accounts.account_closed``): its recorded events and sessions no longer name
    the user, nor the browser they came from (the counts in the KPIs stay). Idempotent. Returns how
    many events were changed."""
    with transaction.atomic():
        changed = Event.objects.filter(user_id=user_id).update(user_id=None, visitor_id="")
        Session.objects.filter(user_id=user_id).update(user_id=None, visitor_id="")
    return changed
