"""The day rollup (insights.rollups): every KPI on hand-made events with numbers computed by hand,
the splits by device, channel, category and seller, idempotent re-runs, ranges that add sums (never
average ratios), and the SQL and Python rollups agreeing on generated traffic."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from core import analytics
from insights import rollups, services, synthetic
from insights.models import DailyMetric, DailySearch
from tests.factories import OfferFactory, ProductFactory, SellerFactory

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 4)
T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
V1, V2, V3, V4 = "1" * 32, "2" * 32, "3" * 32, "4" * 32


def put(name, minute, visitor, *, device="desktop", channel="web", bot=False, day=DAY, **properties):
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC) + timedelta(minutes=minute)
    record = analytics.make_record(name, visitor_id=visitor, properties=properties, occurred_at=at, channel=channel,
                                   device=device)
    record["is_bot"] = bot
    services.events_insert([record])


@pytest.fixture
def shop():
    s1, s2 = SellerFactory(name="One"), SellerFactory(name="Two")
    p1, p2 = ProductFactory(title="Kettle"), ProductFactory(title="Rake")
    OfferFactory(seller=s1, product=p1)
    OfferFactory(seller=s2, product=p1)
    OfferFactory(seller=s2, product=p2)
    return {"s1": s1.pk, "s2": s2.pk, "p1": p1.pk, "p2": p2.pk}


@pytest.fixture
def day_events(shop):
    s1, s2, p1, p2 = shop["s1"], shop["s2"], shop["p1"], shop["p2"]
    # V1, desktop: list, product (S1 featured), add, checkout, an order of P1 (S1) and 2 x P2 (S2).
    put("Product List Viewed", 0, V1, category="kitchen")
    put("Product Viewed", 1, V1, product_id=p1, category="kitchen", seller_id=s1)
    put("Product Added", 2, V1, product_id=p1, category="kitchen", quantity=1)
    put("Checkout Started", 3, V1)
    put("Order Completed", 4, V1, order_id="BZ1", subtotal="50.00", discount="5.00", shipping="4.99", tax="3.60",
        total="53.59", revenue="45.00", currency="USD", products=[
            {"product_id": p1, "category": "kitchen", "seller_id": s1, "price": "20.00", "quantity": 1},
            {"product_id": p2, "category": "garden", "seller_id": s2, "price": "15.00", "quantity": 2}])
    # V2, mobile: one product page (S2 featured), then 31 minutes later a search that finds nothing.
    put("Product Viewed", 0, V2, device="mobile", product_id=p1, category="kitchen", seller_id=s2)
    put("Products Searched", 31, V2, device="mobile", query="  Lamp  ", results=0)
    # V3, the app: list, product (S2), add, cart; no order.
    put("Product List Viewed", 0, V3, device="mobile", channel="api", category="garden")
    put("Product Viewed", 1, V3, device="mobile", channel="api", product_id=p2, category="garden", seller_id=s2)
    put("Product Added", 2, V3, device="mobile", channel="api", product_id=p2, category="garden", quantity=1)
    put("Cart Viewed", 3, V3, device="mobile", channel="api")
    # V4, desktop: a search results page (two events, one page), then a product page.
    put("Products Searched", 0, V4, query="Lamp", results_count=5)
    put("Product List Viewed", 0.003, V4, list_id="search")
    put("Product Viewed", 2, V4, product_id=p2, category="garden", seller_id=s2)
    # A crawler: not counted anywhere.
    put("Product Viewed", 5, "9" * 32, bot=True, product_id=p1, category="kitchen", seller_id=s1)
    return shop


def metric(dimension="all", value="") -> DailyMetric:
    return DailyMetric.objects.get(day=DAY, dimension=dimension, value=str(value))


def stored():
    return (sorted(DailyMetric.objects.values_list("day", "dimension", "value", *rollups.SUM_FIELDS)),
            sorted(DailySearch.objects.values_list("day", "query", "searches", "zero_results")))


@pytest.fixture(params=["sql", "python"])
def method(request, postgres):
    return request.param


def test_every_kpi_on_hand_made_events(day_events, method):
    rollups.rollup_day(DAY, method=method)

    everything = rollups.Totals().add(metric())
    assert (everything.sessions, everything.visitors, everything.bounces) == (5, 4, 2)
    assert (everything.orders, everything.revenue, everything.items, everything.product_views) == (
        1, Decimal("45.00"), 3, 4)
    assert everything.conversion_rate == Decimal("0.2")  # 1 order / 5 sessions
    assert everything.average_order_value == Decimal("45.00")  # 50.00 - 5.00 discount; no tax, no shipping
    assert everything.revenue_per_visitor == Decimal("11.25")  # 45.00 / 4 visitors
    assert everything.bounce_rate == Decimal("0.4")  # V2's two one-page sessions / 5
    assert everything.cart_abandonment == Decimal("0.5")  # 1 - 1 order / 2 sessions with a cart add
    assert everything.funnel() == [("list", 4), ("product", 4), ("cart", 2), ("checkout", 1), ("order", 1)]


def test_splits_by_device_channel_category_and_seller(day_events, method):
    rollups.rollup_day(DAY, method=method)
    s1, s2 = day_events["s1"], day_events["s2"]

    def row(dimension, value):
        m = metric(dimension, value)
        return (m.sessions, m.visitors, m.bounces, m.orders, m.revenue, m.items, m.product_views, m.featured_views,
                m.cart_sessions)

    assert row("device", "desktop") == (2, 2, 0, 1, Decimal("45.00"), 3, 2, 0, 1)
    assert row("device", "mobile") == (3, 2, 2, 0, Decimal("0.00"), 0, 2, 0, 1)
    assert row("channel", "web") == (4, 3, 2, 1, Decimal("45.00"), 3, 3, 0, 1)
    assert row("channel", "api") == (1, 1, 0, 0, Decimal("0.00"), 0, 1, 0, 1)
    # a line's revenue: its price x quantity less its share of the discount (45.00 x 20/50, 45.00 x 30/50)
    assert row("category", "kitchen") == (2, 2, 1, 1, Decimal("18.00"), 1, 2, 0, 1)
    assert row("category", "garden") == (3, 3, 0, 1, Decimal("27.00"), 2, 2, 0, 1)
    # S1 offers P1 (viewed by V1 with S1 featured, by V2 with S2 featured): buy-box share 1/2.
    assert row("seller", s1) == (2, 2, 1, 1, Decimal("18.00"), 1, 2, 1, 1)
    # S2 offers P1 and P2: views by V1 (S1 featured), V2, V3, V4 (S2 featured): 3/4.
    assert row("seller", s2) == (4, 4, 1, 1, Decimal("27.00"), 2, 4, 3, 2)
    assert rollups.Totals().add(metric("seller", s2)).buy_box_share == Decimal("0.75")
    assert set(DailyMetric.objects.filter(dimension="device").values_list("value", flat=True)) == {"desktop", "mobile"}
    assert list(DailySearch.objects.values_list("query", "searches", "zero_results")) == [("lamp", 2, 1)]


def test_a_rerun_stores_the_same_rows(day_events, method):
    rollups.rollup_day(DAY, method=method)
    first = stored()

    rollups.rollup_day(DAY, method=method)

    assert stored() == first
    assert DailyMetric.objects.filter(day=DAY, dimension="all").count() == 1


def test_a_day_without_events_has_an_all_row_of_zeros(method):
    rollups.rollup_day(DAY, method=method)

    assert (metric().sessions, metric().revenue) == (0, Decimal("0.00"))


def test_a_range_adds_the_sums_and_never_averages_daily_ratios(shop, postgres):
    second = DAY + timedelta(days=1)
    order = {"order_id": "BZ1", "revenue": "10.00", "products": []}
    put("Order Completed", 0, V1, **order)  # day 1: 4 sessions (1 order)
    for visitor in (V2, V3, V4):
        put("Product Viewed", 0, visitor, product_id=shop["p1"])
    put("Order Completed", 0, V1, day=second, **{**order, "order_id": "BZ2", "revenue": "30.00"})  # day 2: 1 session
    rollups.rollup_day(DAY)
    rollups.rollup_day(second)

    data = rollups.report(start=DAY, end=second)

    assert data.current.conversion_rate == Decimal(2) / Decimal(5)  # not (1/4 + 1/1) / 2
    assert data.current.average_order_value == Decimal("20.00")
    assert [(day, totals.sessions) for day, totals in data.series] == [(DAY, 4), (second, 1)]
    assert (data.previous_start, data.previous_end) == (DAY - timedelta(days=2), DAY - timedelta(days=1))
    assert data.previous.sessions == 0


def test_the_command_rolls_up_each_day_and_says_so(day_events, capsys):
    call_command("insights_rollup", "--from", "2025-03-03", "--to", "2025-03-04")

    out = capsys.readouterr().out
    assert "2025-03-03" in out
    assert "2025-03-04" in out
    assert metric().sessions == 5


def _generated_with_sellers(shop, *, day: date, visitors: int, seed: int):
    rng = random.Random(seed)
    products = {shop["p1"]: shop["s1"], shop["p2"]: shop["s2"]}
    catalog = [(pid, f"cat-{pid % 2}", Decimal(rng.randint(300, 9000)) / 100) for pid in products]
    options = synthetic.TrafficOptions(visitors=visitors, days=1, start=day, seed=seed)
    records = []
    for event in synthetic.generate_events(catalog, options):
        properties = dict(event["properties"])
        if event["name"] == synthetic.PRODUCT_VIEWED:
            properties["seller_id"] = rng.choice([products[properties["product_id"]], shop["s2"]])
        for line in properties.get("products") or ():
            line["seller_id"] = products[line["product_id"]]
        records.append({**event, "properties": properties, "occurred_at": event["occurred_at"].isoformat(),
                        "user_id": None, "event_id": str(uuid.UUID(event["event_id"]))})
    return records


def test_sql_and_python_rollups_agree_on_generated_traffic(shop, postgres):
    services.events_insert(_generated_with_sellers(shop, day=DAY, visitors=500, seed=5))

    rollups.rollup_day(DAY, method="sql")
    by_sql = stored()
    rollups.rollup_day(DAY, method="python")
    by_python = stored()

    assert by_sql == by_python
    dimensions = {row[1] for row in by_sql[0]}
    assert dimensions == {"all", "device", "channel", "category", "seller"}
    everything = rollups.Totals().add(metric())
    assert everything.orders > 0
    assert everything.sessions > 300
