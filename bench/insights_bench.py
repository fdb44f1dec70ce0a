"""The insights part of ``make bench`` (imported by bench/run.py once Django is set up):

- recording events: ``core.analytics.track`` per call (the Redis buffer) and the flush into the
  partitioned event table (events per second);
- the day rollup over ``events`` events in one day (10 million by default): the day is generated
  by SQL into a partition of its own, far in the past, sessionised and rolled up in one transaction
  (``insights.rollups.rollup_day``; the seconds of each part and statement are kept), and the plan
  of a day's scan is read to show it touches that one partition whatever the number of days kept;
  everything is dropped afterwards;
- the dashboard's SQL queries for a week and for 90 days (the same: constant in the range);
- the recommendation fragment of a product page (the page itself does not wait for it).
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

EVENTS_PER_VISITOR = 20
CHUNK = 1_000_000
ROLLUP_DAY = date(2000, 1, 3)

# One visitor's twenty events, a minute apart: lists, views, a search, a cart, a checkout, and for
# one visitor in 25 an order.
_GENERATE = """
INSERT INTO insights_event (event_id, name, occurred_at, received_at, visitor_id, user_id, channel, device,
                            is_bot, properties)
SELECT md5(g::text || %(salt)s)::uuid,
       CASE WHEN s IN (0, 17) THEN 'Product List Viewed'
            WHEN s = 7 THEN 'Products Searched'
            WHEN s = 12 THEN 'Product Added'
            WHEN s = 13 THEN 'Cart Viewed'
            WHEN s = 14 THEN 'Checkout Started'
            WHEN s = 15 THEN 'Checkout Step Completed'
            WHEN s = 19 AND v %% 25 = 0 THEN 'Order Completed'
            ELSE 'Product Viewed' END,
       ts, ts, md5(v::text), NULL,
       CASE WHEN v %% 7 = 0 THEN 'api' ELSE 'web' END,
       CASE WHEN v %% 3 = 0 THEN 'mobile' ELSE 'desktop' END,
       false,
       CASE WHEN s = 7 THEN jsonb_build_object('query', 'kettle ' || (v %% 50), 'results', v %% 7)
            WHEN s = 19 AND v %% 25 = 0 THEN jsonb_build_object(
                'order_id', 'BENCH-' || v, 'revenue', '42.00', 'currency', 'USD', 'subtotal', '42.00',
                'products', jsonb_build_array(jsonb_build_object(
                    'product_id', (v * 7919) %% 5000 + 1, 'category', (v %% 40) + 1, 'seller_id', (v %% 30) + 1,
                    'price', '21.00', 'quantity', 2)))
            ELSE jsonb_build_object('product_id', (g * 7919) %% 5000 + 1, 'category', (g %% 40) + 1,
                                    'seller_id', (g %% 30) + 1) END
FROM (
    SELECT g, g / %(per)s AS v, g %% %(per)s AS s,
           %(start)s::timestamptz + make_interval(secs => ((g / %(per)s) %% 84000) + (g %% %(per)s) * 60) AS ts
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
) AS rows
"""


def _statements(connection):
    count = [0]

    def wrapper(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    return count, connection.execute_wrapper(wrapper)


def recording(calls: int = 20_000) -> dict[str, float]:
    from core import analytics
    from insights import services

    client = analytics.redis_client()
    if client is not None:
        client.delete(analytics.buffer_key())
    visitor = analytics.new_visitor_id()
    started = time.perf_counter()
    for n in range(calls):
        analytics.track("Product Viewed", visitor_id=visitor, properties={"product_id": n % 300 + 1})
    per_call = (time.perf_counter() - started) / calls
    started = time.perf_counter()
    flushed = 0
    while True:
        report = services.events_flush(batch_size=5000)
        flushed += report.accepted
        if report.accepted == 0:
            break
    seconds = time.perf_counter() - started
    return {"calls": calls, "track_us": per_call * 1e6, "flushed": flushed,
            "flush_rate": flushed / seconds if seconds else 0.0}


def rollup(events: int, log=print) -> dict[str, float]:
    """Generate ``events`` events on ROLLUP_DAY, roll the day up, read the plan, drop it all."""
    from django.db import connection

    from insights import rollups, services
    from insights.models import DailyMetric, DailySearch, Session

    day = ROLLUP_DAY
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    name = f"insights_event_p{day:%Y%m%d}"
    services.partitions_ensure(days_ahead=0, today=day)
    result: dict[str, float] = {"events": events}
    try:
        generated = time.perf_counter()
        with connection.cursor() as cursor:
            salt = uuid.uuid4().hex
            for first in range(0, events, CHUNK):
                last = min(first + CHUNK, events) - 1
                cursor.execute(_GENERATE, {"salt": salt, "per": EVENTS_PER_VISITOR, "start": start,
                                           "first": first, "last": last})
                log(f"  {last + 1:,} events generated")
            cursor.execute(f"ANALYZE {name}")
        result["generate_seconds"] = time.perf_counter() - generated
        started = time.perf_counter()
        report = rollups.rollup_day(day)
        result["rollup_seconds"] = time.perf_counter() - started
        result["sessions"] = report.sessions
        # the two parts (sessionise: the day's temporary tables and its sessions; rollup: the KPIs)
        result["sessionise_seconds"] = report.timings.get("sessionise", 0.0)
        result["kpi_seconds"] = report.timings.get("rollup", 0.0)
        result["statements"] = {k: round(v, 2) for k, v in report.timings.items()}
        log(f"  rolled up in {result['rollup_seconds']:.1f} s: {result['statements']}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN SELECT count(*) FROM insights_event WHERE occurred_at >= %s AND occurred_at < %s",
                           [start, start + timedelta(days=1)])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("SELECT count(*) FROM pg_inherits JOIN pg_class p ON p.oid = inhparent "
                           "WHERE p.relname = 'insights_event'")
            result["partitions"] = cursor.fetchone()[0]
        result["partitions_scanned"] = plan.count("insights_event_p") + plan.count("insights_event_default")
        result["dashboard"] = dashboard_queries(day)
    finally:
        Session.objects.filter(day=day).delete()
        DailyMetric.objects.filter(day=day).delete()
        DailySearch.objects.filter(day=day).delete()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    return result


def dashboard_queries(day: date) -> dict[str, int]:
    """SQL queries of the dashboard page for the week and the 90 days up to ``day``."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user_model = get_user_model()
    staff, _created = user_model.objects.get_or_create(
        email="bench-dashboard@bazaar.localhost", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(staff)
    counts = {}
    for days in (7, 90):
        url = f"/admin/insights/dailymetric/?start={day - timedelta(days=days - 1)}&end={day}"
        client.get(url)  # the sellers' list and the session, once
        with CaptureQueriesContext(connection) as queries:
            status = client.get(url).status_code
        counts[f"days_{days}"] = len(queries) if status == 200 else -status
    return counts


def recommendation_fragment(products: int = 60) -> dict[str, float]:
    """p50 of the product page's recommendation fragment (in-process), page cache cold then warm."""
    from django.test import Client

    from catalog.models import Product
    from insights import recommendations

    recommendations.recommendations_compute()
    ids = list(Product.objects.filter(is_active=True).order_by("id").values_list("pk", flat=True)[:products])
    client = Client()
    timings: dict[str, list[float]] = {"cold": [], "warm": []}
    for round_name in ("cold", "warm"):
        for pk in ids:
            started = time.perf_counter()
            client.get(f"/recommendations/product/{pk}/")
            timings[round_name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}
