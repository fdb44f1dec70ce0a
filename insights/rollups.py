"""Daily KPIs: the day rollup (:func:`rollup_day`) and the reads of the dashboard (:func:`report`).

What is stored, per UTC day, in :class:`insights.models.DailyMetric` (one row per slice: ``all``;
``device`` = desktop, mobile, tablet, other; ``channel`` = web, api; ``category`` = the events'
``category`` property; ``seller`` = a seller's id) are **sums only**; every ratio is computed when
read, from the sums of the whole range asked for, so a range aggregates correctly (a ratio of
sums, never an average of daily ratios). :class:`insights.models.DailySearch` holds the day's
searches per normalised query.

Definitions (sessions, pages, bounces and the funnel steps are defined in ``insights.sessions``):

* **Sessions**, **visitors**: sessions of the day; distinct units (visitor, or user without a
  visitor) with a session that day. Over a range, visitors are the sum of each day's visitors
  (daily unique visitors: someone who comes on three days counts three times).
* **Conversion rate** = orders ÷ sessions.
* **Average order value (AOV)** = revenue ÷ orders, where an order's revenue is its subtotal less
  its discounts, **excluding tax and shipping** (the "revenue" of "Order Completed").
* **Revenue per visitor (RPV)** = revenue ÷ visitors (the same revenue).
* **Bounce rate** = sessions with exactly one page ÷ sessions.
* **Cart abandonment** = 1 − orders ÷ sessions with a cart add ("Product Added"); 0 when there are
  more orders than such sessions (orders placed through the API without a cart event).
* **Funnel**: sessions that reached the product list (a list or a search), a product page, the
  cart (an add or the cart page), checkout, and an order, each counted on its own.
* **Searches**: "Products Searched" per query (lower case, trimmed, inner spaces collapsed; at most
  200 characters); *no results* when its ``results`` (or ``results_count``) is 0.
* **Category and seller slices** count the sessions that touched the slice: for a category, a list
  of it, a view or a cart add of one of its products, or an order with one of its lines; for a
  seller, a view or a cart add of one of *their products* (products they have an active offer on,
  plus any product whose page featured their offer that day) or an order with one of their lines.
  Their funnel: list (categories only), product viewed, added to cart, reached checkout after such
  an add, ordered. Orders are the orders with at least one of their lines; revenue and items are
  those of their lines only, a line's revenue being its price × quantity less its proportional
  share of the order's discount (so the lines' revenue sums to the order's).
* **Buy-box share** (sellers) = views of their products where their offer was the featured one
  ("Product Viewed" carries the featured offer's ``seller_id``) ÷ views of their products.

The rollup of a day sessionises it and then deletes and inserts the day's rows, all in one
transaction: re-runnable for any day, idempotent. On PostgreSQL it is set-based SQL: the
sessionisation reads that day's partition once into temporary tables (``insights.sessions``: one
lean row per event with its session, one per order, one per session) and every KPI statement reads
those, never the event table again nor ``Event.session_id`` (not filled). Its cost follows the
day's events and does not grow with the number of days kept. Elsewhere (SQLite) the same
definitions run in Python over the day's rows and the sessions found for them in memory.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from insights import sessions as sess
from insights.models import DailyMetric, DailySearch, Session
from marketplace import selectors as marketplace_selectors

CENT = Decimal("0.01")
SUM_FIELDS = ("sessions", "visitors", "bounces", "sessions_list", "sessions_product", "sessions_cart",
              "sessions_checkout", "sessions_order", "cart_sessions", "orders", "revenue", "items", "product_views",
              "featured_views")
SPLITS = (DailyMetric.Dimension.DEVICE, DailyMetric.Dimension.CHANNEL, DailyMetric.Dimension.CATEGORY,
          DailyMetric.Dimension.SELLER)
_ID = sess._ID
_SPACES = re.compile(r"\s+")
VALUE_LENGTH = sess.VALUE_LENGTH
QUERY_LENGTH = sess.QUERY_LENGTH


@dataclass
class RollupReport:
    day: date
    sessions: int
    metrics: int
    searches: int
    timings: dict[str, float] = field(default_factory=dict)


# --- offers: which products are a seller's ---------------------------------------------------------


def _offers_queryset():
    """(product_id, seller_id) of the active offers (marketplace's selector, read as a subquery)."""
    return marketplace_selectors.offer_list().order_by().values("product_id", "seller_id").distinct()


# --- the rollup in SQL (PostgreSQL) --------------------------------------------------------------------
# Every statement reads the temporary tables the sessionisation of the same transaction built
# (insights.sessions.EVENTS_TABLE, ORDERS_TABLE, SESSIONS_TABLE), never the event table again.

_SESSIONS_ROLLUP_SQL = """
INSERT INTO {metric} (day, dimension, value, sessions, visitors, bounces, sessions_list, sessions_product,
    sessions_cart, sessions_checkout, sessions_order, cart_sessions, orders, revenue, items, product_views,
    featured_views, computed_at)
SELECT %(day)s,
    CASE WHEN GROUPING(device) = 0 THEN 'device' WHEN GROUPING(channel) = 0 THEN 'channel' ELSE 'all' END,
    CASE WHEN GROUPING(device) = 0 THEN device WHEN GROUPING(channel) = 0 THEN channel ELSE '' END,
    count(*), count(DISTINCT unit), count(*) FILTER (WHERE is_bounce), count(*) FILTER (WHERE reached_list),
    count(*) FILTER (WHERE reached_product), count(*) FILTER (WHERE reached_cart),
    count(*) FILTER (WHERE reached_checkout), count(*) FILTER (WHERE reached_order),
    count(*) FILTER (WHERE added_to_cart), COALESCE(sum(orders), 0), COALESCE(sum(revenue), 0),
    COALESCE(sum(items), 0), COALESCE(sum(product_views), 0), 0, %(now)s
FROM {sessions}
GROUP BY GROUPING SETS ((), (device), (channel))
"""

# A slice (a category, a seller) in two steps: one row per (slice, session) with the session's flags
# and sums for that slice (its events' and its order lines' facts, joined), then plain counts and
# sums per slice, the session's bounce and checkout joined; the visitors are the distinct units of
# those rows. Sessions are their ``sid`` (integer keys: the unit's number in the high 32 bits, so
# ``sid >> 32`` is the unit).
_SLICE_ROLLUP_SQL = """
INSERT INTO {metric} (day, dimension, value, sessions, visitors, bounces, sessions_list, sessions_product,
    sessions_cart, sessions_checkout, sessions_order, cart_sessions, orders, revenue, items, product_views,
    featured_views, computed_at)
WITH offers AS ({offers}),
lines AS (
    SELECT o.sid, o.order_key, o.revenue, {line_value} AS value, {quantity} AS quantity,
           COALESCE({price}, 0) * {quantity} AS amount
    FROM {orders} o CROSS JOIN LATERAL jsonb_array_elements(o.products) AS line
    WHERE jsonb_typeof(line) = 'object'
),
shares AS (
    SELECT value, sid, order_key, quantity,
           CASE WHEN order_amount > 0 THEN round(amount * revenue / order_amount, 2) ELSE 0 END AS share
    FROM (SELECT lines.*, sum(amount) OVER (PARTITION BY sid, order_key) AS order_amount FROM lines) AS lines
),
line_facts AS (
    SELECT value, sid, count(DISTINCT order_key) AS orders, sum(share) AS share, sum(quantity) AS quantity
    FROM shares WHERE value IS NOT NULL GROUP BY value, sid
),
event_facts AS (
    SELECT value, sid, bool_or(list) AS list, bool_or(view) AS view, bool_or(add) AS add,
           count(*) FILTER (WHERE view) AS views, count(*) FILTER (WHERE featured) AS featured
    FROM ({event_facts}) AS f
    GROUP BY value, sid
),
per_session AS (
    SELECT COALESCE(e.value, l.value) AS value, COALESCE(e.sid, l.sid) AS sid, COALESCE(e.list, false) AS list,
           COALESCE(e.view, false) AS view, COALESCE(e.add, false) AS add, l.sid IS NOT NULL AS line,
           COALESCE(l.orders, 0) AS orders, COALESCE(l.share, 0) AS share, COALESCE(l.quantity, 0) AS quantity,
           COALESCE(e.views, 0) AS views, COALESCE(e.featured, 0) AS featured
    FROM event_facts e FULL JOIN line_facts l ON l.value = e.value AND l.sid = e.sid
),
sessions AS MATERIALIZED (  -- read twice below
    SELECT p.*, s.is_bounce, s.reached_checkout
    FROM per_session p JOIN {sessions} s ON s.sid = p.sid
),
visitors AS (
    SELECT value, count(*) AS visitors FROM (SELECT DISTINCT value, sid >> 32 FROM sessions) AS units GROUP BY value
),
totals AS (
    SELECT value, count(*) AS sessions, count(*) FILTER (WHERE is_bounce) AS bounces,
           count(*) FILTER (WHERE list) AS sessions_list, count(*) FILTER (WHERE view) AS sessions_product,
           count(*) FILTER (WHERE add) AS sessions_cart,
           count(*) FILTER (WHERE add AND reached_checkout) AS sessions_checkout,
           count(*) FILTER (WHERE line) AS sessions_order, sum(orders) AS orders, sum(share) AS revenue,
           sum(quantity) AS items, sum(views) AS views, sum(featured) AS featured
    FROM sessions GROUP BY value
)
SELECT %(day)s, %(dimension)s, t.value::text, t.sessions, v.visitors, t.bounces, t.sessions_list,
       t.sessions_product, t.sessions_cart, t.sessions_checkout, t.sessions_order, t.sessions_cart, t.orders,
       t.revenue, t.items, t.views, t.featured, %(now)s
FROM totals t JOIN visitors v ON v.value = t.value
"""

# A category: the lists, views and cart adds of it (its lines come from the orders).
_CATEGORY_FACTS_SQL = """
    SELECT category COLLATE "C" AS value, sid, name = %(list)s AS list, name = %(view)s AS view,
           name = %(add)s AS add, false AS featured
    FROM {events} WHERE category IS NOT NULL
"""

# A seller: the views and cart adds of their products (an active offer on it, or, for a view,
# their offer featured on its page), once per event and seller.
_SELLER_FACTS_SQL = """
    SELECT o.seller_id AS value, e.sid, false AS list, e.name = %(view)s AS view, e.name = %(add)s AS add,
           e.featured IS NOT NULL AND o.seller_id = e.featured AS featured
    FROM {events} e JOIN offers o ON o.product_id = e.product_id
    UNION ALL
    SELECT e.featured, e.sid, false, true, false, true
    FROM {events} e
    WHERE e.featured IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.product_id = e.product_id AND o.seller_id = e.featured)
"""

_SEARCHES_ROLLUP_SQL = """
INSERT INTO {search} (day, query, searches, zero_results)
SELECT %(day)s, query, count(*), count(*) FILTER (WHERE results = 0)
FROM {events}
WHERE query <> ''
GROUP BY query
"""


def _rollup_sql(cursor, day: date, timings: dict[str, float]) -> tuple[int, int]:
    """The day's metric and search rows from the temporary tables of ``sess.sessionise_sql`` (same
    transaction)."""
    now = timezone.now()
    metric, search = DailyMetric._meta.db_table, DailySearch._meta.db_table
    tables = {"events": sess.EVENTS_TABLE, "orders": sess.ORDERS_TABLE, "sessions": sess.SESSIONS_TABLE}
    offers_sql, offers_params = _offers_queryset().query.sql_with_params()
    pieces = offers_sql.split("%s")  # its positional parameters, named like ours
    offers_sql = pieces[0] + "".join(f"%(offer_{n})s{piece}" for n, piece in enumerate(pieces[1:]))
    params = {"day": day, "now": now, "list": sess.PRODUCT_LIST_VIEWED, "view": sess.PRODUCT_VIEWED,
              "add": sess.PRODUCT_ADDED, **{f"offer_{n}": value for n, value in enumerate(offers_params)}}

    def run(label: str, sql: str) -> int:
        began = time.perf_counter()
        cursor.execute(sql, params)
        timings[label] = time.perf_counter() - began
        return cursor.rowcount

    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"insights:rollup:{day.isoformat()}"])
    cursor.execute(f"DELETE FROM {metric} WHERE day = %s", [day])  # noqa: S608 - our own table names
    cursor.execute(f"DELETE FROM {search} WHERE day = %s", [day])  # noqa: S608
    metrics = run("kpis", _SESSIONS_ROLLUP_SQL.format(metric=metric, **tables))
    for dimension, facts, line_value in (
            (DailyMetric.Dimension.CATEGORY, _CATEGORY_FACTS_SQL, sess.sql_text_value("line->'category'")),
            (DailyMetric.Dimension.SELLER, _SELLER_FACTS_SQL, sess.sql_id_value("line->>'seller_id'"))):
        params["dimension"] = dimension.value
        if dimension == DailyMetric.Dimension.CATEGORY:
            line_value += ' COLLATE "C"'
        metrics += run(dimension.value, _SLICE_ROLLUP_SQL.format(
            metric=metric, offers=offers_sql, event_facts=facts.format(**tables), line_value=line_value,
            quantity=sess.sql_quantity("line"), price=sess.sql_number("line->>'price'"), **tables))
    searches = run("searches", _SEARCHES_ROLLUP_SQL.format(search=search, **tables))
    return metrics, searches


# --- the rollup in Python (SQLite; the reference the SQL is tested against) ---------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)[:VALUE_LENGTH] or None


def _ident(value: Any) -> int | None:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if _ID.match(text) else None


def _results(properties: dict) -> int | None:
    for key in ("results", "results_count"):
        value = properties.get(key)
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if re.match(r"^\d{1,9}$", text):
            return int(text)
    return None


def normalise_query(query: str) -> str:
    return _SPACES.sub(" ", query).strip(" ").lower()[:QUERY_LENGTH]


@dataclass
class _Slice:
    sessions: set = field(default_factory=set)
    kinds: dict = field(default_factory=lambda: defaultdict(set))
    orders: set = field(default_factory=set)
    revenue: Decimal = Decimal(0)
    items: int = 0
    views: int = 0
    featured: int = 0


def _rollup_python(day: date, sessionised: sess.SessionisedDay) -> tuple[int, int]:
    """The day's metric and search rows from the rows and sessions of ``sess.sessionise_python``."""
    now = timezone.now()
    day_sessions = {s.id: s for s in sessionised.sessions}
    metrics: list[DailyMetric] = []

    def metric(dimension: str, value: str, chosen: Iterable[Session]) -> DailyMetric:
        chosen = list(chosen)
        return DailyMetric(
            day=day, dimension=dimension, value=value, sessions=len(chosen), visitors=len({s.unit for s in chosen}),
            bounces=sum(s.is_bounce for s in chosen), sessions_list=sum(s.reached_list for s in chosen),
            sessions_product=sum(s.reached_product for s in chosen), sessions_cart=sum(s.reached_cart for s in chosen),
            sessions_checkout=sum(s.reached_checkout for s in chosen),
            sessions_order=sum(s.reached_order for s in chosen), cart_sessions=sum(s.added_to_cart for s in chosen),
            orders=sum(s.orders for s in chosen), revenue=sum((s.revenue for s in chosen), Decimal("0.00")),
            items=sum(s.items for s in chosen), product_views=sum(s.product_views for s in chosen), computed_at=now)

    everyone = list(day_sessions.values())
    metrics.append(metric(DailyMetric.Dimension.ALL, "", everyone))
    for dimension in (DailyMetric.Dimension.DEVICE, DailyMetric.Dimension.CHANNEL):
        groups: dict[str, list[Session]] = defaultdict(list)
        for s in everyone:
            groups[getattr(s, dimension)].append(s)
        metrics.extend(metric(dimension, value, chosen) for value, chosen in groups.items())

    offers: dict[int, set[int]] = defaultdict(set)
    for pair in _offers_queryset():
        offers[pair["product_id"]].add(pair["seller_id"])
    slices: dict[tuple[str, str], _Slice] = defaultdict(_Slice)
    searches: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    names = (sess.PRODUCT_LIST_VIEWED, sess.PRODUCT_VIEWED, sess.PRODUCT_ADDED, sess.ORDER_COMPLETED,
             sess.PRODUCTS_SEARCHED)
    events = ((row.event_id, sessionised.session_of[row.id], row.name, row.properties)
              for row in sessionised.rows if row.name in names)  # already in time order
    seen_orders: set[tuple[uuid.UUID, str]] = set()
    kind_of = {sess.PRODUCT_LIST_VIEWED: "list", sess.PRODUCT_VIEWED: "view", sess.PRODUCT_ADDED: "add"}
    for event_id, session_id, name, properties in events:
        properties = properties if isinstance(properties, dict) else {}
        if name == sess.PRODUCTS_SEARCHED:
            query = properties.get("query")
            if isinstance(query, str) and normalise_query(query):
                counts = searches[normalise_query(query)]
                counts[0] += 1
                counts[1] += _results(properties) == 0
            continue
        if name != sess.ORDER_COMPLETED:
            kind = kind_of[name]
            category = _text(properties.get("category"))
            if category is not None:
                slices["category", category].kinds[kind].add(session_id)
                slices["category", category].sessions.add(session_id)
                slices["category", category].views += kind == "view"
            if kind == "list":
                continue
            product, featured = _ident(properties.get("product_id")), _ident(properties.get("seller_id"))
            sellers = set(offers.get(product, ()))
            if kind == "view" and featured is not None:
                sellers.add(featured)
            for seller in sellers:
                piece = slices["seller", str(seller)]
                piece.sessions.add(session_id)
                piece.kinds[kind].add(session_id)
                if kind == "view":
                    piece.views += 1
                    piece.featured += seller == featured
            continue
        key = sess.order_key(event_id, properties)
        if (session_id, key) in seen_orders:
            continue
        seen_orders.add((session_id, key))
        revenue = sess.order_revenue(properties)
        lines = []
        for line in sess.order_lines(properties):
            amount = (sess.number(line.get("price")) or Decimal(0)) * sess.quantity(line)
            lines.append((line, amount))
        total = sum((amount for _, amount in lines), Decimal(0))
        for line, amount in lines:
            share = (amount * revenue / total).quantize(CENT, ROUND_HALF_UP) if total > 0 else Decimal(0)
            for dimension, value in (("category", _text(line.get("category"))),
                                     ("seller", None if _ident(line.get("seller_id")) is None
                                      else str(_ident(line.get("seller_id"))))):
                if value is None:
                    continue
                piece = slices[dimension, value]
                piece.sessions.add(session_id)
                piece.kinds["line"].add(session_id)
                piece.orders.add((session_id, key))
                piece.revenue += share
                piece.items += sess.quantity(line)
    for (dimension, value), piece in slices.items():
        chosen = [day_sessions[sid] for sid in piece.sessions if sid in day_sessions]
        adds = piece.kinds["add"]
        metrics.append(DailyMetric(
            day=day, dimension=dimension, value=value, sessions=len(chosen), visitors=len({s.unit for s in chosen}),
            bounces=sum(s.is_bounce for s in chosen), sessions_list=len(piece.kinds["list"]),
            sessions_product=len(piece.kinds["view"]), sessions_cart=len(adds),
            sessions_checkout=sum(1 for sid in adds if day_sessions[sid].reached_checkout),
            sessions_order=len(piece.kinds["line"]), cart_sessions=len(adds), orders=len(piece.orders),
            revenue=piece.revenue, items=piece.items, product_views=piece.views, featured_views=piece.featured,
            computed_at=now))
    DailyMetric.objects.filter(day=day).delete()
    DailySearch.objects.filter(day=day).delete()
    DailyMetric.objects.bulk_create(metrics, batch_size=1000)
    DailySearch.objects.bulk_create([DailySearch(day=day, query=q, searches=n, zero_results=z)
                                     for q, (n, z) in searches.items()], batch_size=1000)
    return len(metrics), len(searches)


def rollup_day(day: date, *, method: str | None = None) -> RollupReport:
    """Sessionise ``day`` (UTC) and write its :class:`Session`, :class:`DailyMetric` and
    :class:`DailySearch` rows, replacing the day's, in one transaction (re-runnable, idempotent).
    ``method``: ``"sql"`` (PostgreSQL's default: the KPIs read the temporary tables the
    sessionisation built) or ``"python"`` (elsewhere; both on PostgreSQL in tests). ``timings`` of
    the report: seconds per statement (SQL) and of the two parts."""
    method = method or ("sql" if connection.vendor == "postgresql" else "python")
    timings: dict[str, float] = {}
    began = time.perf_counter()
    if method == "sql":
        with transaction.atomic(), connection.cursor() as cursor:
            report = sess.sessionise_sql(cursor, day, timings=timings)
            timings["sessionise"] = time.perf_counter() - began
            metrics, searches = _rollup_sql(cursor, day, timings)
            sess.drop_day_tables(cursor)
    else:
        with transaction.atomic():
            sessionised = sess.sessionise_python(day)
            report = sessionised.report
            timings["sessionise"] = time.perf_counter() - began
            metrics, searches = _rollup_python(day, sessionised)
    timings["rollup"] = time.perf_counter() - began - timings["sessionise"]
    return RollupReport(day=day, sessions=report.sessions, metrics=metrics, searches=searches, timings=timings)


def rollup_range(start: date, end: date, *, progress: Callable[[RollupReport, int, int], None] | None = None
                 ) -> list[RollupReport]:
    """:func:`rollup_day` for every day from ``start`` to ``end`` included, oldest first."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    reports = []
    for index, day in enumerate(days, 1):
        reports.append(rollup_day(day))
        if progress:
            progress(reports[-1], index, len(days))
    return reports


# --- reads: the dashboard's selectors -------------------------------------------------------------------


def _ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


@dataclass
class Totals:
    """Sums of a slice over some days, and the KPIs computed from them (None when undefined)."""

    sessions: int = 0
    visitors: int = 0
    bounces: int = 0
    sessions_list: int = 0
    sessions_product: int = 0
    sessions_cart: int = 0
    sessions_checkout: int = 0
    sessions_order: int = 0
    cart_sessions: int = 0
    orders: int = 0
    revenue: Decimal = Decimal("0.00")
    items: int = 0
    product_views: int = 0
    featured_views: int = 0

    def add(self, row: Any) -> Totals:
        for name in SUM_FIELDS:
            value = row[name] if isinstance(row, dict) else getattr(row, name)
            setattr(self, name, getattr(self, name) + (value or 0))
        return self

    @property
    def conversion_rate(self) -> Decimal | None:
        return _ratio(self.orders, self.sessions)

    @property
    def average_order_value(self) -> Decimal | None:
        value = _ratio(self.revenue, self.orders)
        return None if value is None else value.quantize(CENT, ROUND_HALF_UP)

    @property
    def revenue_per_visitor(self) -> Decimal | None:
        value = _ratio(self.revenue, self.visitors)
        return None if value is None else value.quantize(CENT, ROUND_HALF_UP)

    @property
    def bounce_rate(self) -> Decimal | None:
        return _ratio(self.bounces, self.sessions)

    @property
    def cart_abandonment(self) -> Decimal | None:
        value = _ratio(self.orders, self.cart_sessions)
        return None if value is None else max(Decimal(0), 1 - value)

    @property
    def buy_box_share(self) -> Decimal | None:
        return _ratio(self.featured_views, self.product_views)

    def funnel(self) -> list[tuple[str, int]]:
        return [("list", self.sessions_list), ("product", self.sessions_product), ("cart", self.sessions_cart),
                ("checkout", self.sessions_checkout), ("order", self.sessions_order)]


KPIS = ("sessions", "visitors", "orders", "revenue", "conversion_rate", "average_order_value",
        "revenue_per_visitor", "bounce_rate", "cart_abandonment", "buy_box_share")
RATES = frozenset({"conversion_rate", "bounce_rate", "cart_abandonment", "buy_box_share"})


@dataclass
class Delta:
    name: str
    current: Any
    previous: Any

    @property
    def is_rate(self) -> bool:
        return self.name in RATES

    @property
    def change(self) -> Decimal | None:
        """Rates: the difference in percentage points; others: the relative change (0.1 = +10%)."""
        if self.current is None or self.previous is None:
            return None
        if self.is_rate:
            return (Decimal(self.current) - Decimal(self.previous)) * 100
        return _ratio(Decimal(self.current) - Decimal(self.previous), self.previous)


@dataclass
class Report:
    start: date
    end: date
    previous_start: date
    previous_end: date
    dimension: str
    value: str
    current: Totals
    previous: Totals
    series: list[tuple[date, Totals]]
    previous_series: list[tuple[date, Totals]]
    splits: dict[str, list[tuple[str, Totals]]]
    top_searches: list[dict]
    zero_searches: list[dict]

    @property
    def deltas(self) -> list[Delta]:
        return [Delta(name, getattr(self.current, name), getattr(self.previous, name)) for name in KPIS]


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before ``start``..``end`` (both included)."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


def report(*, start: date, end: date, seller_id: int | None = None, searches: int = 10) -> Report:
    """The dashboard's figures for ``start``..``end`` (UTC days, both included), compared with the
    previous period of the same length: the whole shop, or one seller's slice (``seller_id``; then
    no other slice and no searches: a seller sees only their own figures). A constant number of
    queries whatever the range: the series, the splits, the two search lists."""
    previous_start, previous_end = previous_period(start, end)
    if seller_id is None:
        dimension, value = DailyMetric.Dimension.ALL, ""
    else:
        dimension, value = DailyMetric.Dimension.SELLER, str(seller_id)
    rows = (DailyMetric.objects.filter(dimension=dimension, value=value, day__gte=previous_start, day__lte=end)
            .values("day", *SUM_FIELDS))
    by_day = {row["day"]: row for row in rows}
    current, previous = Totals(), Totals()
    series, previous_series = [], []
    day = previous_start
    while day <= end:
        row = by_day.get(day)
        totals = Totals().add(row) if row else Totals()
        (series if day >= start else previous_series).append((day, totals))
        (current if day >= start else previous).add(totals)
        day += timedelta(days=1)
    splits: dict[str, list[tuple[str, Totals]]] = {}
    top, zero = [], []
    if seller_id is None:
        grouped = (DailyMetric.objects.filter(dimension__in=SPLITS, day__gte=start, day__lte=end)
                   .values("dimension", "value").annotate(**{name: Sum(name) for name in SUM_FIELDS})
                   .order_by("dimension", "-sessions", "value"))
        for row in grouped:
            splits.setdefault(row["dimension"], []).append((row["value"], Totals().add(row)))
        day_searches = DailySearch.objects.filter(day__gte=start, day__lte=end).values("query")
        top = list(day_searches.annotate(searches=Sum("searches"), zero_results=Sum("zero_results"))
                   .order_by("-searches", "query")[:searches])
        zero = list(day_searches.filter(zero_results__gt=0)
                    .annotate(searches=Sum("searches"), zero_results=Sum("zero_results"))
                    .order_by("-zero_results", "query")[:searches])
    return Report(start=start, end=end, previous_start=previous_start, previous_end=previous_end,
                  dimension=dimension, value=value, current=current, previous=previous, series=series,
                  previous_series=previous_series,
                  splits=splits, top_searches=top, zero_searches=zero)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


CSV_COLUMNS = (*SUM_FIELDS, "conversion_rate", "average_order_value", "revenue_per_visitor", "bounce_rate",
               "cart_abandonment", "buy_box_share")


def report_csv(data: Report, *, labels: dict[str, dict[str, str]] | None = None) -> str:
    """The report as CSV: the daily series (``slice`` = all, or the seller), then the range's splits.
    Rates are fractions (0.0345), money has two decimals (revenue net of discounts, no tax or
    shipping)."""
    labels = labels or {}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "dimension", "value", "label", *CSV_COLUMNS])

    def row(first: str, dimension: str, value: str, totals: Totals) -> list[str]:
        label = labels.get(dimension, {}).get(value, value)
        return [first, dimension, value, label, *(_cell(_kpi(totals, name)) for name in CSV_COLUMNS)]

    for day, totals in data.series:
        writer.writerow(row(day.isoformat(), data.dimension, data.value, totals))
    period = f"{data.start.isoformat()}..{data.end.isoformat()}"
    for dimension, entries in data.splits.items():
        for value, totals in entries:
            writer.writerow(row(period, dimension, value, totals))
    return out.getvalue()


def _kpi(totals: Totals, name: str) -> Any:
    value = getattr(totals, name)
    if name in RATES and value is not None:
        return value.quantize(Decimal("0.0001"), ROUND_HALF_UP)
    return value


def totals_fields() -> list[str]:
    return [f.name for f in fields(Totals)]
