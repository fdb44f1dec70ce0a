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

The rollup of a day sessionises it first (``insights.sessions.sessionise_day``), then deletes and
inserts the day's rows in one transaction: re-runnable for any day, idempotent. On PostgreSQL it is
set-based SQL reading only that day's partition of the event table (and the day's sessions), so
its cost does not grow with the number of days kept; elsewhere (SQLite) the same definitions run in
Python over the day's rows.
"""

from __future__ import annotations

import csv
import io
import re
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
from insights.models import DailyMetric, DailySearch, Event, Session
from marketplace import selectors as marketplace_selectors

CENT = Decimal("0.01")
SUM_FIELDS = ("sessions", "visitors", "bounces", "sessions_list", "sessions_product", "sessions_cart",
              "sessions_checkout", "sessions_order", "cart_sessions", "orders", "revenue", "items", "product_views",
              "featured_views")
SPLITS = (DailyMetric.Dimension.DEVICE, DailyMetric.Dimension.CHANNEL, DailyMetric.Dimension.CATEGORY,
          DailyMetric.Dimension.SELLER)
_ID = re.compile(r"^\d{1,18}$")
_SPACES = re.compile(r"\s+")
VALUE_LENGTH = 120
QUERY_LENGTH = 200


@dataclass
class RollupReport:
    day: date
    sessions: int
    metrics: int
    searches: int


# --- offers: which products are a seller's ---------------------------------------------------------


def _offers_queryset():
    """(product_id, seller_id) of the active offers (marketplace's selector, read as a subquery)."""
    return marketplace_selectors.offer_list().order_by().values("product_id", "seller_id").distinct()


# --- the rollup in SQL (PostgreSQL) --------------------------------------------------------------------

_SESSIONS_ROLLUP_SQL = """
INSERT INTO {metric} (day, dimension, value, sessions, visitors, bounces, sessions_list, sessions_product,
    sessions_cart, sessions_checkout, sessions_order, cart_sessions, orders, revenue, items, product_views,
    featured_views, computed_at)
SELECT %s,
    CASE WHEN GROUPING(device) = 0 THEN 'device' WHEN GROUPING(channel) = 0 THEN 'channel' ELSE 'all' END,
    CASE WHEN GROUPING(device) = 0 THEN device WHEN GROUPING(channel) = 0 THEN channel ELSE '' END,
    count(*), count(DISTINCT unit), count(*) FILTER (WHERE is_bounce), count(*) FILTER (WHERE reached_list),
    count(*) FILTER (WHERE reached_product), count(*) FILTER (WHERE reached_cart),
    count(*) FILTER (WHERE reached_checkout), count(*) FILTER (WHERE reached_order),
    count(*) FILTER (WHERE added_to_cart), COALESCE(sum(orders), 0), COALESCE(sum(revenue), 0),
    COALESCE(sum(items), 0), COALESCE(sum(product_views), 0), 0, %s
FROM {session} WHERE day = %s
GROUP BY GROUPING SETS ((), (device), (channel))
"""


def _text_value(expression: str) -> str:
    """SQL: a category-like property as text (strings and numbers; NULL when empty or anything else)."""
    return (f"(CASE WHEN jsonb_typeof({expression}) IN ('string', 'number') "
            f"THEN NULLIF(left({expression} #>> '{{}}', {VALUE_LENGTH}), '') END)")


def _id_value(expression: str) -> str:
    return f"(CASE WHEN ({expression}) ~ '{_ID.pattern}' THEN ({expression})::bigint END)"


_SLICES_ROLLUP_SQL = """
INSERT INTO {metric} (day, dimension, value, sessions, visitors, bounces, sessions_list, sessions_product,
    sessions_cart, sessions_checkout, sessions_order, cart_sessions, orders, revenue, items, product_views,
    featured_views, computed_at)
WITH ev AS (
    SELECT id, event_id, occurred_at, session_id, name, properties
    FROM {event}
    WHERE occurred_at >= %s AND occurred_at < %s AND session_id IS NOT NULL AND name IN (%s, %s, %s, %s)
),
offers AS ({offers}),
items AS (
    SELECT id, session_id, name, {category} AS category, {product_id} AS product_id, {featured} AS featured
    FROM ev WHERE name <> %s
),
orders AS (
    SELECT DISTINCT ON (session_id, order_key) session_id, order_key, revenue, products
    FROM (SELECT session_id, occurred_at, id, {order_key} AS order_key, {revenue} AS revenue, {products} AS products
          FROM ev WHERE name = %s) AS o
    ORDER BY session_id, order_key, occurred_at, id
),
lines AS (
    SELECT o.session_id, o.order_key, o.revenue, {line_category} AS category, {line_product} AS product_id,
           {line_seller} AS seller_id, {quantity} AS quantity, COALESCE({price}, 0) * {quantity} AS amount
    FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.products) AS line
    WHERE jsonb_typeof(line) = 'object'
),
shares AS (
    SELECT lines.*, CASE WHEN order_amount > 0 THEN round(amount * revenue / order_amount, 2) ELSE 0 END AS share
    FROM (SELECT lines.*, sum(amount) OVER (PARTITION BY session_id, order_key) AS order_amount FROM lines) AS lines
),
seller_items AS (
    SELECT i.id, o.seller_id FROM items i JOIN offers o ON o.product_id = i.product_id
    WHERE i.name IN (%s, %s)
    UNION
    SELECT id, featured FROM items WHERE name = %s AND featured IS NOT NULL
),
facts AS (
    SELECT session_id, 'category' AS dimension, category AS value,
           CASE name WHEN %s THEN 'list' WHEN %s THEN 'view' ELSE 'add' END AS kind,
           NULL::text AS order_key, 0 AS quantity, 0::numeric AS share, false AS featured
    FROM items WHERE category IS NOT NULL
    UNION ALL
    SELECT session_id, 'category', category, 'line', order_key, quantity, share, false
    FROM shares WHERE category IS NOT NULL
    UNION ALL
    SELECT session_id, 'seller', seller_id::text, 'line', order_key, quantity, share, false
    FROM shares WHERE seller_id IS NOT NULL
    UNION ALL
    SELECT i.session_id, 'seller', s.seller_id::text, CASE i.name WHEN %s THEN 'view' ELSE 'add' END,
           NULL, 0, 0, s.seller_id = i.featured
    FROM seller_items s JOIN items i ON i.id = s.id
)
SELECT %s, f.dimension, f.value,
    count(DISTINCT f.session_id), count(DISTINCT s.unit),
    count(DISTINCT f.session_id) FILTER (WHERE s.is_bounce),
    count(DISTINCT f.session_id) FILTER (WHERE f.kind = 'list'),
    count(DISTINCT f.session_id) FILTER (WHERE f.kind = 'view'),
    count(DISTINCT f.session_id) FILTER (WHERE f.kind = 'add'),
    count(DISTINCT f.session_id) FILTER (WHERE f.kind = 'add' AND s.reached_checkout),
    count(DISTINCT f.session_id) FILTER (WHERE f.kind = 'line'),
    count(DISTINCT f.session_id) FILTER (WHERE f.kind = 'add'),
    count(DISTINCT f.session_id::text || '|' || f.order_key) FILTER (WHERE f.kind = 'line'),
    COALESCE(sum(f.share) FILTER (WHERE f.kind = 'line'), 0),
    COALESCE(sum(f.quantity) FILTER (WHERE f.kind = 'line'), 0),
    count(*) FILTER (WHERE f.kind = 'view'),
    count(*) FILTER (WHERE f.kind = 'view' AND f.featured),
    %s
FROM facts f JOIN {session} s ON s.id = f.session_id AND s.day = %s
GROUP BY f.dimension, f.value
"""

_SEARCHES_ROLLUP_SQL = """
INSERT INTO {search} (day, query, searches, zero_results)
SELECT %s, query, count(*), count(*) FILTER (WHERE results = 0)
FROM (
    SELECT left(lower(btrim(regexp_replace(properties->>'query', '\\s+', ' ', 'g'), ' ')), {length}) AS query,
           COALESCE({results}, {results_count}) AS results
    FROM {event}
    WHERE occurred_at >= %s AND occurred_at < %s AND session_id IS NOT NULL AND name = %s
      AND jsonb_typeof(properties->'query') = 'string'
) AS searched
WHERE query <> ''
GROUP BY query
"""


def _int_value(expression: str) -> str:
    return f"(CASE WHEN ({expression}) ~ '^\\d{{1,9}}$' THEN ({expression})::int END)"


def _rollup_sql(day: date) -> tuple[int, int]:
    start, end = sess.day_bounds(day)
    now = timezone.now()
    metric, search = DailyMetric._meta.db_table, DailySearch._meta.db_table
    session, event = Session._meta.db_table, Event._meta.db_table
    offers_sql, offers_params = _offers_queryset().query.sql_with_params()
    list_, view, add, order = sess.PRODUCT_LIST_VIEWED, sess.PRODUCT_VIEWED, sess.PRODUCT_ADDED, sess.ORDER_COMPLETED
    slices = _SLICES_ROLLUP_SQL.format(
        metric=metric, event=event, session=session, offers=offers_sql,
        category=_text_value("properties->'category'"), product_id=_id_value("properties->>'product_id'"),
        featured=_id_value("properties->>'seller_id'"), order_key=sess.sql_order_key("properties", "event_id"),
        revenue=sess.sql_revenue("properties"), products=sess.sql_products("properties"),
        line_category=_text_value("line->'category'"), line_product=_id_value("line->>'product_id'"),
        line_seller=_id_value("line->>'seller_id'"), quantity=sess.sql_quantity("line"),
        price=sess.sql_number("line->>'price'"),
    )
    slice_params = [start, end, list_, view, add, order, *offers_params, order, order, view, add, view,
                    list_, view, view, day, now, day]
    searches = _SEARCHES_ROLLUP_SQL.format(
        search=search, event=event, length=QUERY_LENGTH, results=_int_value("properties->>'results'"),
        results_count=_int_value("properties->>'results_count'"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"insights:rollup:{day.isoformat()}"])
        cursor.execute(f"DELETE FROM {metric} WHERE day = %s", [day])  # noqa: S608 - our own table names
        cursor.execute(f"DELETE FROM {search} WHERE day = %s", [day])  # noqa: S608
        cursor.execute(_SESSIONS_ROLLUP_SQL.format(metric=metric, session=session), [day, now, day])
        metrics = cursor.rowcount
        cursor.execute(slices, slice_params)
        metrics += cursor.rowcount
        cursor.execute(searches, [day, start, end, sess.PRODUCTS_SEARCHED])
        return metrics, cursor.rowcount


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


def _rollup_python(day: date) -> tuple[int, int]:
    start, end = sess.day_bounds(day)
    now = timezone.now()
    day_sessions = {s.id: s for s in Session.objects.filter(day=day)}
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
    events = (Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end, session_id__isnull=False,
                                   name__in=names).order_by("occurred_at", "id")
              .values_list("event_id", "session_id", "name", "properties"))
    seen_orders: set[tuple[uuid.UUID, str]] = set()
    kind_of = {sess.PRODUCT_LIST_VIEWED: "list", sess.PRODUCT_VIEWED: "view", sess.PRODUCT_ADDED: "add"}
    for event_id, session_id, name, properties in events.iterator(chunk_size=5000):
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
    with transaction.atomic():
        DailyMetric.objects.filter(day=day).delete()
        DailySearch.objects.filter(day=day).delete()
        DailyMetric.objects.bulk_create(metrics, batch_size=1000)
        DailySearch.objects.bulk_create([DailySearch(day=day, query=q, searches=n, zero_results=z)
                                         for q, (n, z) in searches.items()], batch_size=1000)
    return len(metrics), len(searches)


def rollup_day(day: date, *, sessionise: bool = True, method: str | None = None) -> RollupReport:
    """Sessionise ``day`` (UTC) and write its :class:`DailyMetric` and :class:`DailySearch` rows,
    replacing the day's (one transaction each; re-runnable, idempotent). ``method``: ``"sql"``
    (PostgreSQL's default) or ``"python"`` (elsewhere; both on PostgreSQL in tests)."""
    method = method or ("sql" if connection.vendor == "postgresql" else "python")
    if sessionise:
        report = sess.sessionise_day_sql(day) if method == "sql" else sess.sessionise_day_python(day)
        sessions = report.sessions
    else:
        sessions = Session.objects.filter(day=day).count()
    metrics, searches = _rollup_sql(day) if method == "sql" else _rollup_python(day)
    return RollupReport(day=day, sessions=sessions, metrics=metrics, searches=searches)


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
