"""Sessionisation (insights.sessions): 30 minutes of inactivity end a session, midnight UTC cuts
one, bots are left out, a user without a visitor is a unit of their own or joins the visitor they
signed in as, re-runs give the same sessions and ids, and the SQL and the Python implementations
agree, on hand-made events and on generated traffic."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from core import analytics
from insights import services, sessions, synthetic
from insights.models import Event, Session

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 4)
T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
V1, V2 = "a" * 32, "b" * 32


def put(name, at, *, visitor=V1, user=None, device="desktop", channel="web", bot=False, **properties):
    record = analytics.make_record(name, visitor_id=visitor, user_id=user, properties=properties, occurred_at=at,
                                   channel=channel, device=device, anonymous=True)
    record["is_bot"] = bot
    services.events_insert([record])
    return uuid.UUID(record["event_id"])


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def snapshot(day=DAY):
    return list(Session.objects.filter(day=day).order_by("started_at", "unit").values())


@pytest.fixture(params=["sql", "python"])
def sessionise(request):
    if request.param == "sql" and connection.vendor != "postgresql":
        pytest.skip("the SQL implementation is PostgreSQL's")
    return sessions.sessionise_day_sql if request.param == "sql" else sessions.sessionise_day_python


def test_a_gap_of_29_minutes_continues_the_session_and_31_minutes_starts_another(sessionise):
    put("Product Viewed", minutes(0), product_id=1)
    put("Product Viewed", minutes(29), product_id=2)
    put("Product Viewed", minutes(60), product_id=3)  # 31 minutes later
    put("Product Viewed", minutes(90), product_id=4)  # exactly 30 minutes: the same session

    report = sessionise(DAY)

    stored = list(Session.objects.order_by("started_at"))
    assert report.sessions == 2
    assert [(s.started_at, s.ended_at, s.events, s.pages) for s in stored] == [
        (minutes(0), minutes(29), 2, 2), (minutes(60), minutes(90), 2, 2)]
    assert all(s.unit == V1 and s.visitor_id == V1 and s.day == DAY for s in stored)


def test_sessions_are_cut_at_midnight_utc(sessionise):
    late = datetime(2025, 3, 4, 23, 50, tzinfo=UTC)
    put("Product Viewed", late, product_id=1)
    put("Product Viewed", late + timedelta(minutes=20), product_id=2)  # 00:10 the next day

    sessionise(DAY)
    sessionise(DAY + timedelta(days=1))

    assert [(s.day, s.started_at, s.is_bounce) for s in Session.objects.order_by("started_at")] == [
        (DAY, late, True), (DAY + timedelta(days=1), late + timedelta(minutes=20), True)]


def test_bots_are_left_out_and_the_events_are_never_rewritten(sessionise):
    human = put("Product Viewed", minutes(0), product_id=1)
    crawler = put("Product Viewed", minutes(1), visitor=V2, bot=True, product_id=1)

    sessionise(DAY)

    session = Session.objects.get()
    assert (session.unit, session.events, session.started_at, session.ended_at) == (V1, 1, minutes(0), minutes(0))
    # An event's session is found by its unit and time; Event.session_id is not filled.
    assert Event.objects.get(event_id=crawler).session_id is None
    assert Event.objects.get(event_id=human).session_id is None


def test_a_user_without_visitor_is_a_unit_and_joins_the_visitor_they_signed_in_as(sessionise):
    # user 7 never used a browser today: "user:7"; user 8 signed in as V2, then the API recorded an order.
    put("Order Completed", minutes(0), visitor="", user=7, order_id="A1", revenue="10.00",
        products=[{"product_id": 1, "quantity": 1, "price": "10.00"}])
    put("Product Viewed", minutes(0), visitor=V2, product_id=1)
    put("Signed In", minutes(5), visitor=V2, user=8)
    put("Order Completed", minutes(10), visitor="", user=8, device="other", order_id="A2", revenue="20.00",
        products=[{"product_id": 2, "quantity": 2, "price": "10.00"}])

    sessionise(DAY)

    by_unit = {s.unit: s for s in Session.objects.all()}
    assert set(by_unit) == {"user:7", V2}
    assert (by_unit["user:7"].visitor_id, by_unit["user:7"].user_id, by_unit["user:7"].orders) == ("", 7, 1)
    signed_in = by_unit[V2]
    assert (signed_in.user_id, signed_in.events, signed_in.orders, signed_in.items, signed_in.revenue) == (
        8, 3, 1, 2, Decimal("20.00"))
    assert signed_in.device == "desktop"  # the order, a server event, has no device of its own
    assert (signed_in.reached_order, signed_in.reached_product, signed_in.is_bounce) == (True, True, True)


def test_pages_bounces_and_funnel_flags(sessionise):
    # One page load that sends two events (a search results page) is one page: a bounce.
    put("Products Searched", minutes(0), query="Lamp", results_count=3)
    put("Product List Viewed", minutes(0) + timedelta(milliseconds=200), list_id="search")
    # V2: list, product, cart add, checkout, order: five pages (the add and the order are not pages).
    put("Product List Viewed", minutes(0), visitor=V2, category="c1")
    put("Product Viewed", minutes(1), visitor=V2, product_id=1)
    put("Product Added", minutes(2), visitor=V2, product_id=1, quantity=1)
    put("Checkout Started", minutes(3), visitor=V2)
    put("Checkout Step Completed", minutes(4), visitor=V2, step=1)
    put("Order Completed", minutes(5), visitor=V2, order_id="A", revenue="5.00", products=[])
    put("Order Completed", minutes(5), visitor=V2, order_id="A", revenue="5.00", products=[])  # a copy

    sessionise(DAY)

    searcher, buyer = Session.objects.get(unit=V1), Session.objects.get(unit=V2)
    assert (searcher.pages, searcher.is_bounce, searcher.reached_list, searcher.reached_product) == (1, True, True,
                                                                                                   False)
    assert (buyer.pages, buyer.is_bounce, buyer.orders, buyer.revenue) == (4, False, 1, Decimal("5.00"))
    assert (buyer.reached_list, buyer.reached_product, buyer.reached_cart, buyer.reached_checkout,
            buyer.reached_order, buyer.added_to_cart, buyer.product_views) == (True, True, True, True, True, True, 1)


def test_a_rerun_gives_the_same_sessions_and_ids(sessionise):
    for n in range(5):
        put("Product Viewed", minutes(n * 7), product_id=n)
        put("Product Viewed", minutes(n * 45), visitor=V2, product_id=n)
    sessionise(DAY)
    first = snapshot()

    sessionise(DAY)

    assert snapshot() == first
    assert len(first) == 1 + 5
    assert all(s["id"] == sessions.session_uuid(s["unit"], s["started_at"]) for s in first)


def _generated(day: date, visitors: int = 400, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    catalog = [(n, f"cat-{n % 6}", Decimal(rng.randint(300, 9000)) / 100) for n in range(1, 121)]
    options = synthetic.TrafficOptions(visitors=visitors, days=1, start=day, seed=seed, bot_share=0.05)
    records = []
    users = {}
    for event in synthetic.generate_events(catalog, options):
        user = event["user_id"]
        record = {**event, "occurred_at": event["occurred_at"].isoformat(),
                  "user_id": users.setdefault(user, len(users) + 1) if user else None}
        # Some of a signed-in visitor's server events come without the visitor (the API, the domain log).
        if user and event["name"] == synthetic.ORDER_COMPLETED and rng.random() < 0.5:
            record["visitor_id"], record["device"] = "", "other"
        records.append(record)
    return records


@pytest.mark.usefixtures("postgres")
def test_sql_and_python_give_the_same_sessions_on_generated_traffic():
    records = _generated(DAY)
    services.events_insert(records)

    sql = sessions.sessionise_day_sql(DAY)
    by_sql = snapshot()
    python = sessions.sessionise_day_python(DAY)
    by_python = snapshot()

    assert sql == python
    assert sql.sessions > 100
    assert by_sql == by_python
    stored = by_sql
    assert any(s["unit"].startswith("user:") for s in stored) or any(not r["visitor_id"] for r in records)
    assert sum(s["orders"] for s in stored) == len({r["properties"]["order_id"] for r in records
                                                     if r["name"] == synthetic.ORDER_COMPLETED})
    assert sum(s["events"] for s in stored) == sql.events == len([r for r in records if not r["is_bot"]])
    assert not Event.objects.filter(session_id__isnull=False).exists()  # the events are read, never written
