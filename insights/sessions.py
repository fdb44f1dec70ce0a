"""Sessionisation: a day's events cut into visits, stored as :class:`insights.models.Session`.

Definitions (the dashboard and the README repeat them):

* **Which events.** One UTC day of ``insights.Event``, without known crawlers (``is_bot``) and
  without events that have neither a visitor nor a user. Health checks never reach the event store
  (``ANALYTICS_EXCLUDED_PATHS`` in ``core.analytics``), and uptime monitors' user agents are bots.
* **Unit** (whose visit it is): the event's ``visitor_id``; for an event with a user and no visitor
  (a server event from the API, an order recorded from the domain log), the visitor that user was
  linked to that day: an event carrying both ids ("Signed In" links them; every later event of a
  signed-in visitor carries both) at or before it, else the first one after it; else
  ``"user:<id>"``. Links are read from the same day only, so each day stays independent.
* **Session**: a unit's events ordered by time (then id); a new session starts when the gap to the
  previous event *exceeds* ``INSIGHTS_SESSION_TIMEOUT_MINUTES`` (30; exactly 30 minutes is the same
  session). **Sessions are cut at midnight UTC**: a visit from 23:50 to 00:10 is two sessions, one
  per day. That is the price of making every day independent: a day is sessionised (and rolled
  up) reading only its own partition, re-running any day never changes another, and the cost does
  not grow with the days kept. Visits across midnight are rare at our traffic's low point (about
  1% of sessions on the synthetic traffic).
* **Id**: ``uuid3(SESSION_NAMESPACE, "<unit>|<start as YYYY-MM-DDTHH:MM:SS.ffffff UTC>")``, so a
  re-run gives the same ids.
* **Where**: in :class:`insights.models.Session` (unit, ``started_at``, ``ended_at`` and the
  figures below). An event's session is the one of its unit whose ``started_at``..``ended_at``
  holds it; ``Event.session_id`` is **not filled**: the events are read, never updated (rewriting
  every row of a day, with its indexes, cost more than all the rest of the rollup).
* **Page** (for pages and bounces): a page-view-like event, one of :data:`PAGE_EVENTS` ("Product
  List Viewed", "Product Viewed", "Products Searched", "Cart Viewed", "Checkout Started", "Checkout
  Step Completed"). Page-view-like events of one unit less than :data:`PAGE_LOAD_SECONDS` (1 s)
  after the previous one count as the same page: one page load can send several (a search results
  page sends "Products Searched" and its "Product List Viewed"; the home page, a list per shelf).
  Clicks, cart changes, orders and sign-ins are interactions, not pages.
* **Bounce**: a session with exactly one page. (A session with no page at all, such as an API
  sign-in only, is a session but not a bounce.)
* **Funnel flags**: *list*: a "Product List Viewed" or "Products Searched"; *product*: a "Product
  Viewed"; *cart*: a "Product Added" or "Cart Viewed"; *checkout*: "Checkout Started" or a
  "Checkout Step Completed"; *order*: an "Order Completed". Each flag says the session reached the
  step, whichever way it came (a product page opened from a search engine has no list before it).
  ``added_to_cart``: a "Product Added" (what cart abandonment counts).
* **Orders, items, revenue**: the session's distinct "Order Completed" (by ``order_id``), the sum of
  their lines' quantities, and the sum of their ``revenue`` (subtotal − discount: net of
  discounts, without tax and shipping; Segment's definition). Amounts are in the shop's currency.
* **Device and channel**: those of the session's first event recorded from a request (the server
  events made from the domain log, "Order Completed" and friends, carry no device), else of its
  first event. **Visitor** and **user**: the unit's visitor id (empty for a "user:" unit) and the
  last user id seen in the session.

Two implementations of the same definitions: on PostgreSQL, set-based SQL over the day's partition
(window functions, no row leaves the database; :func:`sessionise_sql`); elsewhere (SQLite, the
embedded mode) :func:`sessionise_events` in Python over the day's rows. Tests run both on the same
data and compare. Either way the day's sessions are deleted and inserted again in one transaction
(idempotent).

On PostgreSQL the sessionisation reads the day's partition once into lean temporary tables that
the day rollup (``insights.rollups.rollup_day``, same transaction) reads next: one row per event
(:data:`EVENTS_TABLE`: id, time, name, unit, ``seq`` the session's number within the unit, ``sid``
an integer session key, ``is_page``, device, channel, user, and the scalar properties the KPIs use:
category, product, featured seller, normalised search query and results, order key; the whole
properties for orders only), one per distinct order of a session (:data:`ORDERS_TABLE`) and one per
session (:data:`SESSIONS_TABLE`: what :class:`Session` stores; its uuid3 computed once per session).
It costs a sort of the day's events by unit and time, and aggregates; it grows with the day's
events, not with the days kept.
"""

from __future__ import annotations

import bisect
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from insights import events as names
from insights.models import Event, Session

SESSION_NAMESPACE = uuid.UUID("3b0c5f0e-9d53-4b9e-8f63-2f6a7c1d9e40")
PAGE_LOAD_SECONDS = 1

PRODUCT_LIST_VIEWED = names.PRODUCT_LIST_VIEWED
PRODUCT_VIEWED = names.PRODUCT_VIEWED
PRODUCTS_SEARCHED = names.PRODUCTS_SEARCHED
PRODUCT_ADDED = "Product Added"
CART_VIEWED = "Cart Viewed"
CHECKOUT_STARTED = "Checkout Started"
CHECKOUT_STEP_COMPLETED = "Checkout Step Completed"
ORDER_COMPLETED = names.ORDER_COMPLETED

PAGE_EVENTS = (PRODUCT_LIST_VIEWED, PRODUCT_VIEWED, PRODUCTS_SEARCHED, CART_VIEWED, CHECKOUT_STARTED,
               CHECKOUT_STEP_COMPLETED)
LIST_EVENTS = (PRODUCT_LIST_VIEWED, PRODUCTS_SEARCHED)
CART_EVENTS = (PRODUCT_ADDED, CART_VIEWED)
CHECKOUT_EVENTS = (CHECKOUT_STARTED, CHECKOUT_STEP_COMPLETED)
# Made by the server from the domain log: no device, no browser (see insights.services).
SERVER_EVENTS = (ORDER_COMPLETED, names.ORDER_CANCELLED, names.ORDER_REFUNDED, names.MEMBERSHIP_JOINED,
                 names.PRODUCT_ADDED, names.PRODUCT_REMOVED, names.CHECKOUT_STARTED, names.CHECKOUT_STEP_COMPLETED,
                 names.SIGNED_UP)

VALUE_LENGTH = 120  # a category (slice value) is cut to this length
QUERY_LENGTH = 200  # a search query too

_NUMBER = re.compile(r"^-?\d{1,12}(\.\d+)?$")
_ID = re.compile(r"^\d{1,18}$")
_INTEGER = re.compile(r"^\d{1,9}$")


def timeout() -> timedelta:
    return timedelta(minutes=getattr(settings, "INSIGHTS_SESSION_TIMEOUT_MINUTES", 30))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def session_uuid(unit: str, started_at: datetime) -> uuid.UUID:
    """The session's id: the same unit and start always give the same id (SQL computes the same)."""
    return uuid.uuid3(SESSION_NAMESPACE, f"{unit}|{started_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}")


@dataclass
class SessionReport:
    day: date
    sessions: int
    events: int


# --- shared parsing (Python's mirror of the SQL expressions below) --------------------------------


def number(value: Any) -> Decimal | None:
    """A money amount of a property ("12.50", 12.5), or None when it is not one."""
    text = str(value) if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool) else ""
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def order_revenue(properties: dict) -> Decimal:
    """An order's revenue: ``revenue``, else ``subtotal - discount`` (no tax, no shipping), else 0."""
    revenue = number(properties.get("revenue"))
    if revenue is None:
        subtotal = number(properties.get("subtotal"))
        revenue = None if subtotal is None else subtotal - (number(properties.get("discount")) or Decimal(0))
    return (revenue or Decimal(0)).quantize(Decimal("0.01"))


def quantity(line: Any) -> int:
    """A line's quantity (1 when missing or not a whole number)."""
    value = line.get("quantity") if isinstance(line, dict) else None
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if _INTEGER.match(text) else 1


def order_lines(properties: dict) -> list[dict]:
    products = properties.get("products")
    return [line for line in products if isinstance(line, dict)] if isinstance(products, list) else []


def order_key(event_id: Any, properties: dict) -> str:
    order_id = properties.get("order_id")
    return str(order_id) if order_id not in (None, "") else str(event_id)


# --- Python (SQLite, and the reference the SQL is tested against) -------------------------------


@dataclass
class Row:
    """One event, as sessionisation reads it."""

    id: int
    event_id: Any
    name: str
    occurred_at: datetime
    visitor_id: str
    user_id: int | None
    device: str
    channel: str
    properties: dict


@dataclass
class Draft:
    unit: str
    rows: list[Row] = field(default_factory=list)


def _units(rows: Sequence[Row]) -> dict[int, str]:
    links: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    for row in rows:
        if row.visitor_id and row.user_id is not None:
            links[row.user_id].append((row.occurred_at, row.id, row.visitor_id))
    for found in links.values():
        found.sort()
    units = {}
    for row in rows:
        if row.visitor_id:
            units[row.id] = row.visitor_id
            continue
        found = links.get(row.user_id, [])
        at = bisect.bisect_right(found, (row.occurred_at, row.id, "\uffff"))
        if at > 0:
            units[row.id] = found[at - 1][2]  # the last link at or before the event
        elif found:
            units[row.id] = found[0][2]  # else the first one after it
        else:
            units[row.id] = f"user:{row.user_id}"
    return units


def sessionise_events(rows: Iterable[Row], *, day: date) -> tuple[list[Session], dict[int, uuid.UUID]]:
    """The sessions of one day's rows (bots already left out), and each row's session id."""
    rows = sorted(rows, key=lambda row: (row.occurred_at, row.id))
    units = _units(rows)
    by_unit: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_unit[units[row.id]].append(row)
    gap, page_gap = timeout(), timedelta(seconds=PAGE_LOAD_SECONDS)
    sessions, session_of = [], {}
    for unit, unit_rows in by_unit.items():
        drafts: list[Draft] = []
        for row in unit_rows:
            if not drafts or row.occurred_at - drafts[-1].rows[-1].occurred_at > gap:
                drafts.append(Draft(unit))
            drafts[-1].rows.append(row)
        for draft in drafts:
            session = _session_of(draft, day=day, page_gap=page_gap)
            sessions.append(session)
            for row in draft.rows:
                session_of[row.id] = session.id
    sessions.sort(key=lambda s: (s.started_at, s.unit))
    return sessions, session_of


def _session_of(draft: Draft, *, day: date, page_gap: timedelta) -> Session:
    rows = draft.rows
    pages, last_page = 0, None
    for row in rows:
        if row.name in PAGE_EVENTS:
            if last_page is None or row.occurred_at - last_page > page_gap:
                pages += 1
            last_page = row.occurred_at
    seen = {row.name for row in rows}
    orders: dict[str, Row] = {}
    for row in rows:
        if row.name == ORDER_COMPLETED:
            orders.setdefault(order_key(row.event_id, row.properties), row)
    from_request = [row for row in rows if row.name not in SERVER_EVENTS] or rows
    users = [row.user_id for row in rows if row.user_id is not None]
    started_at = rows[0].occurred_at
    return Session(
        id=session_uuid(draft.unit, started_at), day=day, unit=draft.unit,
        visitor_id="" if draft.unit.startswith("user:") else draft.unit, user_id=users[-1] if users else None,
        started_at=started_at, ended_at=rows[-1].occurred_at,
        device=from_request[0].device, channel=from_request[0].channel,
        events=len(rows), pages=pages, is_bounce=pages == 1,
        reached_list=bool(seen & set(LIST_EVENTS)), reached_product=PRODUCT_VIEWED in seen,
        reached_cart=bool(seen & set(CART_EVENTS)), reached_checkout=bool(seen & set(CHECKOUT_EVENTS)),
        reached_order=ORDER_COMPLETED in seen, added_to_cart=PRODUCT_ADDED in seen,
        product_views=sum(1 for row in rows if row.name == PRODUCT_VIEWED),
        orders=len(orders),
        items=sum(quantity(line) for row in orders.values() for line in order_lines(row.properties)),
        revenue=sum((order_revenue(row.properties) for row in orders.values()), Decimal("0.00")),
    )


def _day_rows(day: date) -> list[Row]:
    start, end = day_bounds(day)
    fields = ("id", "event_id", "name", "occurred_at", "visitor_id", "user_id", "device", "channel", "properties")
    queryset = (Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end, is_bot=False)
                .exclude(visitor_id="", user_id__isnull=True).order_by("occurred_at", "id").values_list(*fields))
    return [Row(*values) for values in queryset.iterator(chunk_size=5000)]


@dataclass
class SessionisedDay:
    """What :func:`sessionise_python` keeps for the day rollup: the rows read, the sessions stored,
    and each row's session id (in memory only: events are never written)."""

    report: SessionReport
    rows: list[Row]
    sessions: list[Session]
    session_of: dict[int, uuid.UUID]


def sessionise_python(day: date) -> SessionisedDay:
    """Sessionise ``day`` in Python inside the caller's transaction, replacing its :class:`Session` rows."""
    rows = _day_rows(day)
    sessions, session_of = sessionise_events(rows, day=day)
    Session.objects.filter(day=day).delete()
    Session.objects.bulk_create(sessions, batch_size=1000)
    return SessionisedDay(SessionReport(day=day, sessions=len(sessions), events=len(rows)), rows, sessions,
                          session_of)


def sessionise_day_python(day: date) -> SessionReport:
    """:func:`sessionise_day` in Python over the day's rows (SQLite; any database for tests)."""
    with transaction.atomic():
        return sessionise_python(day).report


# --- SQL (PostgreSQL) ----------------------------------------------------------------------------

# The temporary tables one run builds (dropped at the end of the run; ``ON COMMIT DROP`` as well):
EVENTS_TABLE = "insights_day_events"  # one row per counted event, with its unit and session (sid)
ORDERS_TABLE = "insights_day_orders"  # one row per distinct order of a session
SESSIONS_TABLE = "insights_day_sessions"  # one row per session: what insights.Session stores, and sid
WORK_MEM = "1GB"  # per sort or hash of the day's statements (SET LOCAL: this transaction only)


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


def sql_number(expression: str) -> str:
    """SQL for :func:`number` of a jsonb text ``expression`` (NULL when not a number)."""
    return f"(CASE WHEN ({expression}) ~ '{_NUMBER.pattern}' THEN ({expression})::numeric END)"


def sql_quantity(line: str) -> str:
    """SQL for :func:`quantity` of a jsonb line."""
    text = f"({line}->>'quantity')"
    return f"(CASE WHEN jsonb_typeof({line}) = 'object' AND {text} ~ '{_INTEGER.pattern}' THEN {text}::int ELSE 1 END)"


def sql_products(properties: str) -> str:
    """SQL: the jsonb array of an order's lines (empty when it is not an array)."""
    return (f"(CASE WHEN jsonb_typeof({properties}->'products') = 'array' THEN {properties}->'products' "
            "ELSE '[]'::jsonb END)")


def sql_revenue(properties: str) -> str:
    revenue = sql_number(f"{properties}->>'revenue'")
    subtotal = sql_number(f"{properties}->>'subtotal'")
    discount = sql_number(f"{properties}->>'discount'")
    return f"round(COALESCE({revenue}, {subtotal} - COALESCE({discount}, 0), 0), 2)"


def sql_order_key(properties: str, event_id: str) -> str:
    return f"COALESCE(NULLIF({properties}->>'order_id', ''), {event_id}::text)"


def sql_text_value(expression: str) -> str:
    """SQL: a category-like jsonb property as text (strings and numbers; NULL when empty or anything else);
    ``insights.rollups._text`` in Python."""
    return (f"(CASE WHEN jsonb_typeof({expression}) IN ('string', 'number') "
            f"THEN NULLIF(left({expression} #>> '{{}}', {VALUE_LENGTH}), '') END)")


def sql_id_value(expression: str) -> str:
    """SQL: an id property (jsonb text) as bigint, NULL when not one; ``insights.rollups._ident``."""
    return f"(CASE WHEN ({expression}) ~ '{_ID.pattern}' THEN ({expression})::bigint END)"


def sql_int_value(expression: str) -> str:
    return f"(CASE WHEN ({expression}) ~ '^\\d{{1,9}}$' THEN ({expression})::int END)"


def sql_query(expression: str) -> str:
    """SQL for ``insights.rollups.normalise_query`` of a jsonb text."""
    return f"left(lower(btrim(regexp_replace({expression}, '\\s+', ' ', 'g'), ' ')), {QUERY_LENGTH})"


# uuid3(SESSION_NAMESPACE, unit|start): md5 of the namespace's bytes and the name, version 3, RFC variant.
_UUID3_SQL = """(
    SELECT (substr(h, 1, 12) || '3' || substr(h, 14, 3)
            || substr('89ab', (('x' || substr(h, 17, 1))::bit(4)::int & 3) + 1, 1) || substr(h, 18, 15))::uuid
    FROM (SELECT md5(decode(%(namespace)s, 'hex') || convert_to(
        agg.unit || '|' || to_char(agg.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        'UTF8')) AS h) AS hashed
)"""

# The day's counted events, one lean row each: the unit, the session number within the unit (seq),
# whether the event starts a page, and the few scalars the rollups read from the properties (the
# properties themselves are kept for orders only). One scan of the day's partition (two when some
# events carry a user: the links are read by a second, filtered scan), one sort by unit and time.
# A page: a page-like event more than PAGE_LOAD_SECONDS after the unit's previous page-like event
# (one of an earlier session is more than the timeout earlier, so it never joins the page).
_EVENTS_SQL = """
CREATE TEMP TABLE {events} ON COMMIT DROP AS
WITH user_rows AS (  -- links (both ids) and user-only events, per user
    SELECT id, user_id, visitor_id, visitor_id <> '' AS is_link,
           count(*) FILTER (WHERE visitor_id <> '')
               OVER (PARTITION BY user_id ORDER BY occurred_at, id) AS links_before,
           count(*) FILTER (WHERE visitor_id <> '')
               OVER (PARTITION BY user_id ORDER BY occurred_at DESC, id DESC) AS links_after
    FROM {table}
    WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND NOT is_bot AND user_id IS NOT NULL
),
resolved AS (  -- a user-only event's visitor: the last link at or before it, else the first after it
    SELECT id, COALESCE(before, after) AS visitor_id
    FROM (SELECT id, is_link,
                 max(visitor_id) FILTER (WHERE is_link) OVER (PARTITION BY user_id, links_before) AS before,
                 max(visitor_id) FILTER (WHERE is_link) OVER (PARTITION BY user_id, links_after) AS after
          FROM user_rows) AS r
    WHERE NOT is_link
),
ev AS (
    SELECT e.id, e.occurred_at, e.name, e.user_id, e.device, e.channel,
           CASE WHEN e.visitor_id <> '' THEN e.visitor_id
                ELSE COALESCE(r.visitor_id, 'user:' || e.user_id) END AS unit,
           e.name IN {pages} AS is_page_event,
           CASE WHEN e.name IN (%(list)s, %(view)s, %(add)s) THEN {category} END AS category,
           CASE WHEN e.name IN (%(view)s, %(add)s) THEN {product_id} END AS product_id,
           CASE WHEN e.name = %(view)s THEN {featured} END AS featured,
           CASE WHEN e.name = %(searched)s AND jsonb_typeof(e.properties->'query') = 'string'
                THEN {query} END AS query,
           CASE WHEN e.name = %(searched)s THEN COALESCE({results}, {results_count}) END AS results,
           CASE WHEN e.name = %(order)s THEN {order_key} END AS order_key,
           CASE WHEN e.name = %(order)s THEN e.properties END AS properties
    FROM {table} e LEFT JOIN resolved r ON r.id = e.id AND e.visitor_id = ''
    WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s AND NOT e.is_bot
      AND (e.visitor_id <> '' OR e.user_id IS NOT NULL)
),
marked AS (  -- (units compare bytewise: a unit's events are in the same order, and it is fast)
    SELECT ev.*,
           CASE WHEN lag(occurred_at) OVER w IS NULL OR occurred_at - lag(occurred_at) OVER w > %(timeout)s
                THEN 1 ELSE 0 END AS starts,
           max(occurred_at) FILTER (WHERE is_page_event) OVER w AS last_page  -- so far, this one included
    FROM ev WINDOW w AS (PARTITION BY unit COLLATE "C" ORDER BY occurred_at, id)
),
numbered AS (
    SELECT marked.*, (sum(starts) OVER w)::int AS seq, dense_rank() OVER u AS unit_number,
           is_page_event AND COALESCE(occurred_at - lag(last_page) OVER w > %(page_gap)s, true) AS is_page
    FROM marked WINDOW w AS (PARTITION BY unit COLLATE "C" ORDER BY occurred_at, id), u AS (ORDER BY unit COLLATE "C")
)
SELECT id, occurred_at, name, unit, seq, (unit_number << 32) + seq AS sid, is_page, user_id, device, channel,
       category, product_id, featured, query, results, order_key, properties
FROM numbered
"""

# A session's distinct orders (by order key, the first one recorded), with their revenue and lines.
_ORDERS_SQL = """
CREATE TEMP TABLE {orders} ON COMMIT DROP AS
SELECT sid, order_key, revenue, products,
       (SELECT COALESCE(sum({quantity}), 0) FROM jsonb_array_elements(products) AS line)::int AS items
FROM (
    SELECT DISTINCT ON (sid, order_key) sid, order_key, {revenue} AS revenue, {products} AS products
    FROM {events} WHERE properties IS NOT NULL
    ORDER BY sid, order_key, occurred_at, id
) AS o
"""

_SESSIONS_SQL = """
CREATE TEMP TABLE {sessions} ON COMMIT DROP AS
WITH totals AS (
    SELECT sid, count(*) AS orders, sum(items) AS items, sum(revenue) AS revenue
    FROM {orders} GROUP BY sid
),
agg AS (
    SELECT sid, min(unit COLLATE "C") AS unit, min(occurred_at) AS started_at, max(occurred_at) AS ended_at,
        (array_agg(user_id ORDER BY occurred_at DESC, id DESC) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
        -- the first event recorded from a request (server events last), else the first: one sort per session
        array_agg(ARRAY[device, channel] ORDER BY name IN {server}, occurred_at, id) AS firsts,
        count(*) AS events,
        count(*) FILTER (WHERE is_page) AS pages,
        bool_or(name IN {lists}) AS reached_list,
        bool_or(name = %(view)s) AS reached_product,
        bool_or(name IN {carts}) AS reached_cart,
        bool_or(name IN {checkouts}) AS reached_checkout,
        bool_or(name = %(order)s) AS reached_order,
        bool_or(name = %(add)s) AS added_to_cart,
        count(*) FILTER (WHERE name = %(view)s) AS product_views
    FROM {events} GROUP BY sid
)
SELECT {session_id} AS id, agg.sid, agg.unit, agg.user_id, agg.started_at, agg.ended_at,
       agg.firsts[1][1]::varchar AS device, agg.firsts[1][2]::varchar AS channel,
       agg.events, agg.pages, agg.pages = 1 AS is_bounce, agg.reached_list, agg.reached_product, agg.reached_cart,
       agg.reached_checkout, agg.reached_order, agg.added_to_cart, agg.product_views,
       COALESCE(t.orders, 0) AS orders, COALESCE(t.items, 0) AS items, COALESCE(t.revenue, 0) AS revenue
FROM agg LEFT JOIN totals t ON t.sid = agg.sid
"""

_INSERT_SESSIONS_SQL = """
INSERT INTO {session_table} (id, day, unit, visitor_id, user_id, started_at, ended_at, device, channel, events,
    pages, is_bounce, reached_list, reached_product, reached_cart, reached_checkout, reached_order, added_to_cart,
    product_views, orders, items, revenue)
SELECT id, %(day)s, unit, CASE WHEN unit LIKE 'user:%%' THEN '' ELSE unit END, user_id, started_at, ended_at,
       device, channel, events, pages, is_bounce, reached_list, reached_product, reached_cart, reached_checkout,
       reached_order, added_to_cart, product_views, orders, items, revenue
FROM {sessions}
"""


def sessionise_sql(cursor, day: date, *, timings: dict[str, float] | None = None) -> SessionReport:
    """Sessionise ``day`` on ``cursor`` inside the caller's transaction: build the temporary tables
    :data:`EVENTS_TABLE`, :data:`ORDERS_TABLE` and :data:`SESSIONS_TABLE` (the day rollup reads them
    next) and replace the day's :class:`Session` rows. The caller drops the tables
    (:func:`drop_day_tables`) before its transaction ends."""
    start, end = day_bounds(day)
    params = {
        "start": start, "end": end, "day": day, "timeout": timeout(), "page_gap": timedelta(seconds=PAGE_LOAD_SECONDS),
        "namespace": SESSION_NAMESPACE.hex, "order": ORDER_COMPLETED, "view": PRODUCT_VIEWED,
        "add": PRODUCT_ADDED, "list": PRODUCT_LIST_VIEWED, "searched": PRODUCTS_SEARCHED,
    }
    names = {"events": EVENTS_TABLE, "orders": ORDERS_TABLE, "sessions": SESSIONS_TABLE}
    timings = timings if timings is not None else {}

    def run(label: str, sql: str) -> int:
        began = time.perf_counter()
        cursor.execute(sql, params)
        timings[label] = time.perf_counter() - began
        return cursor.rowcount

    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"insights:sessionise:{day.isoformat()}"])
    # The sorts and hashes of a big day in memory; no JIT (compiling costs more than it saves here).
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    cursor.execute("SET LOCAL jit = off")
    events = run("events", _EVENTS_SQL.format(
        table=Event._meta.db_table, pages=_in(PAGE_EVENTS), category=sql_text_value("e.properties->'category'"),
        product_id=sql_id_value("e.properties->>'product_id'"), featured=sql_id_value("e.properties->>'seller_id'"),
        query=sql_query("e.properties->>'query'"), results=sql_int_value("e.properties->>'results'"),
        results_count=sql_int_value("e.properties->>'results_count'"),
        order_key=sql_order_key("e.properties", "e.event_id"), **names))
    cursor.execute(f"ANALYZE {EVENTS_TABLE}")  # a sample: the planner's sizes for the next statements
    run("orders", _ORDERS_SQL.format(revenue=sql_revenue("properties"), products=sql_products("properties"),
                                     quantity=sql_quantity("line"), **names))
    run("sessions", _SESSIONS_SQL.format(
        server=_in(SERVER_EVENTS), lists=_in(LIST_EVENTS), carts=_in(CART_EVENTS), checkouts=_in(CHECKOUT_EVENTS),
        session_id=_UUID3_SQL, **names))
    cursor.execute(f"ANALYZE {SESSIONS_TABLE}")
    session_table = Session._meta.db_table
    run("delete", f"DELETE FROM {session_table} WHERE day = %(day)s")  # noqa: S608 - our names
    sessions = run("store", _INSERT_SESSIONS_SQL.format(session_table=session_table, **names))
    return SessionReport(day=day, sessions=sessions, events=events)


def drop_day_tables(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {EVENTS_TABLE}, {ORDERS_TABLE}, {SESSIONS_TABLE}")


def sessionise_day_sql(day: date) -> SessionReport:
    """:func:`sessionise_day` in PostgreSQL: the day's events, their sessions' orders and the
    sessions in temporary tables (:func:`sessionise_sql`), the sessions stored from them. The
    events are read, never written."""
    with transaction.atomic(), connection.cursor() as cursor:
        report = sessionise_sql(cursor, day)
        drop_day_tables(cursor)
    return report


def sessionise_day(day: date) -> SessionReport:
    """Cut one UTC day's events into sessions (see the module docstring), replacing the day's
    stored sessions in one transaction (re-runnable: the same events give the same sessions and
    ids). SQL on PostgreSQL, Python elsewhere. ``insights.rollups.rollup_day`` sessionises in its
    own transaction and reads what this builds; this alone only refreshes :class:`Session`."""
    if connection.vendor == "postgresql":
        return sessionise_day_sql(day)
    return sessionise_day_python(day)
