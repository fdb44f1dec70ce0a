"""insights.synthetic: generated shopper traffic, and what insights.recommend finds in it. No database."""

import random
import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from insights.recommend import ITEM_TO_ITEM, ITEM_TO_ITEM_PADDED, POPULAR, bought_together, evaluate, format_table
from insights.synthetic import (
    BOT_EVENTS,
    CHECKOUT_STARTED,
    CHECKOUT_STEP_COMPLETED,
    ORDER_COMPLETED,
    PRODUCT_ADDED,
    PRODUCT_LIST_VIEWED,
    PRODUCT_REMOVED,
    PRODUCT_VIEWED,
    PRODUCTS_SEARCHED,
    SESSION_GAP,
    SIGNED_UP,
    TrafficOptions,
    generate_events,
    generate_sessions,
    orders_from_events,
    purchases_from_events,
)

OPTIONS = TrafficOptions(visitors=3000, days=60, start=date(2025, 3, 3), seed=7)
MONEY = re.compile(r"^\d+\.\d{2}$")


def make_catalog(products=300, categories=12, seed=1):
    rng = random.Random(seed)
    return [(number, f"cat-{number % categories:02d}", Decimal(rng.randint(300, 20000)) / 100)
            for number in range(1, products + 1)]


@pytest.fixture(scope="module")
def sessions():
    return generate_sessions(make_catalog(), OPTIONS)


@pytest.fixture(scope="module")
def events(sessions):
    return sorted((event for session in sessions for event in session.events), key=lambda event: event["occurred_at"])


def test_the_same_seed_gives_the_same_events_and_another_seed_others():
    catalog = make_catalog(60, 4)
    options = TrafficOptions(visitors=150, days=14, seed=3)

    first = list(generate_events(catalog, options))

    assert first == list(generate_events(catalog, options))
    assert first != list(generate_events(catalog, TrafficOptions(visitors=150, days=14, seed=4)))
    assert len({event["event_id"] for event in first}) == len(first)
    assert all(uuid.UUID(event["event_id"]).version == 4 for event in first)


def test_a_catalog_with_featured_sellers_names_them_on_every_product_and_changes_nothing_else():
    plain = make_catalog(60, 4)
    featured = [(*row, 100 + row[0] % 3) for row in plain]
    options = TrafficOptions(visitors=150, days=14, seed=3)

    without, with_sellers = list(generate_events(plain, options)), list(generate_events(featured, options))

    def products(event):
        found = event["properties"].get("products") or []
        return [event["properties"], *found] if "product_id" in event["properties"] else found

    # The same visits (same ids, names and products); each product now says its page's seller.
    assert [(e["event_id"], e["name"]) for e in without] == [(e["event_id"], e["name"]) for e in with_sellers]
    named = [line for event in with_sellers for line in products(event)]
    assert named
    assert all(line["seller_id"] == 100 + line["product_id"] % 3 for line in named)
    assert not any("seller_id" in line for event in without for line in products(event))
    assert any(e["name"] == ORDER_COMPLETED for e in with_sellers)


def test_events_are_plain_dicts_in_time_order_within_the_period():
    catalog = make_catalog(60, 4)
    options = TrafficOptions(visitors=150, days=14, start=date(2025, 5, 1), seed=3)

    events = list(generate_events(catalog, options))

    assert {key for event in events for key in event} == {
        "event_id", "name", "occurred_at", "visitor_id", "user_id", "device", "channel", "user_agent", "is_bot",
        "properties"}
    times = [event["occurred_at"] for event in events]
    assert times == sorted(times)
    assert all(moment.tzinfo is UTC for moment in times)
    assert times[0].date() >= date(2025, 5, 1)
    assert times[-1].date() <= date(2025, 5, 14)


def test_sessions_are_more_than_30_minutes_apart_and_their_events_less(sessions, events):
    by_visitor = defaultdict(list)
    for session in sessions:
        by_visitor[session.visitor_id].append(session)
        moments = [event["occurred_at"] for event in session.events]
        assert all(timedelta(0) < later - earlier < SESSION_GAP for earlier, later in pairwise(moments))
    for visits in by_visitor.values():
        assert all(later.started_at - earlier.ended_at > SESSION_GAP for earlier, later in pairwise(visits))
    assert sum(len(visits) > 3 for visits in by_visitor.values()) > 300  # regulars come back

    # Sessions found in the flat stream by the 30-minute rule are the generated ones.
    last_seen, found = {}, 0
    for event in events:
        previous = last_seen.get(event["visitor_id"])
        found += previous is None or event["occurred_at"] - previous > SESSION_GAP
        last_seen[event["visitor_id"]] = event["occurred_at"]
    assert found == len(sessions)


def test_the_funnel_goes_in_order_within_each_session(sessions):
    orders = 0
    for session in sessions:
        names = [event["name"] for event in session.events]
        if ORDER_COMPLETED not in names:
            continue
        orders += 1
        assert names.count(ORDER_COMPLETED) == 1
        placed = names.index(ORDER_COMPLETED)
        assert PRODUCT_ADDED in names[:placed]
        steps = [event["properties"]["step"] for event in session.events if event["name"] == CHECKOUT_STEP_COMPLETED]
        assert steps == [1, 2, 3]
        assert names.index(CHECKOUT_STARTED) < names.index(CHECKOUT_STEP_COMPLETED) < placed
        in_cart = Counter()
        for event in session.events[:placed]:
            if event["name"] == PRODUCT_ADDED:
                in_cart[event["properties"]["product_id"]] += 1
            elif event["name"] == PRODUCT_REMOVED:
                in_cart[event["properties"]["product_id"]] -= 1
        ordered = {line["product_id"] for line in session.events[placed]["properties"]["products"]}
        assert ordered == {product for product, count in in_cart.items() if count > 0}
    assert orders > 1000


def test_order_totals_add_up(events):
    orders = [event["properties"] for event in events if event["name"] == ORDER_COMPLETED]
    for order in orders:
        amounts = {name: order[name] for name in ("subtotal", "discount", "shipping", "tax", "total", "revenue")}
        assert all(MONEY.match(amount) for amount in amounts.values())
        subtotal, discount, shipping, tax, total, revenue = (Decimal(amount) for amount in amounts.values())
        lines = sum(Decimal(line["price"]) * line["quantity"] for line in order["products"])
        assert subtotal == lines
        assert subtotal - discount + shipping + tax == total
        assert revenue == subtotal - discount
        assert order["currency"] == "USD"
    assert any(order.get("coupon") for order in orders)
    assert any(order["shipping"] == "0.00" for order in orders)
    assert any(order["shipping"] != "0.00" for order in orders)


def test_conversion_cart_abandonment_removals_and_empty_searches_are_realistic(sessions, events):
    human = [{event["name"] for event in session.events} for session in sessions if not session.is_bot]
    ordered = sum(ORDER_COMPLETED in names for names in human)
    carts = sum(PRODUCT_ADDED in names for names in human)

    assert 0.02 <= ordered / len(human) <= 0.04
    assert 0.6 <= 1 - ordered / carts <= 0.8
    assert sum(PRODUCT_REMOVED in names for names in human) > 100
    searches = [event["properties"] for event in events if event["name"] == PRODUCTS_SEARCHED]
    empty = sum(search["results_count"] == 0 for search in searches)
    assert 0.03 < empty / len(searches) < 0.12


def test_a_few_visitors_are_bots_that_only_view_pages(events):
    bots = {event["visitor_id"] for event in events if event["is_bot"]}
    everyone = {event["visitor_id"] for event in events}

    assert len(bots) == round(OPTIONS.visitors * OPTIONS.bot_share) == 60
    assert len(everyone) == OPTIONS.visitors
    for event in events:
        if event["is_bot"]:
            assert event["name"] in BOT_EVENTS == {PRODUCT_LIST_VIEWED, PRODUCT_VIEWED}
            assert "bot" in event["user_agent"].lower()
            assert event["user_id"] is None
        else:
            assert "bot" not in event["user_agent"].lower()


def test_members_carry_their_user_id_from_signing_up_on(events):
    by_visitor = defaultdict(list)
    for event in events:
        by_visitor[event["visitor_id"]].append(event)
    members = 0
    for visitor_events in by_visitor.values():
        users = [event["user_id"] for event in visitor_events]
        if not any(users):
            continue
        members += 1
        first = next(index for index, user in enumerate(users) if user)
        assert visitor_events[first]["name"] == SIGNED_UP
        assert set(users[:first]) == {None}
        assert set(users[first:]) == {users[first]}
    assert 0.15 * OPTIONS.visitors < members <= 0.3 * OPTIONS.visitors
    assert sum(event["name"] == SIGNED_UP for event in events) == members


def test_channels_and_devices(events):
    humans = {event["visitor_id"]: event for event in events if not event["is_bot"]}.values()
    channels = Counter(event["channel"] for event in humans)
    devices = Counter(event["device"] for event in humans)

    assert 0.1 < channels["api"] / len(humans) < 0.2
    assert {event["device"] for event in humans if event["channel"] == "api"} == {"mobile", "tablet"}
    assert devices["desktop"] > devices["tablet"] > 0


def test_purchases_are_credited_to_the_user_the_visitor_became():
    visitor, later = "v-1", "v-2"
    base = {"device": "desktop", "channel": "web", "user_agent": "x", "is_bot": False}
    day = OPTIONS.start
    events = [
        {**base, "name": ORDER_COMPLETED, "visitor_id": visitor, "user_id": None, "occurred_at": day,
         "properties": {"products": [{"product_id": 5}, {"product_id": 6}]}},
        {**base, "name": SIGNED_UP, "visitor_id": visitor, "user_id": "user-1", "occurred_at": day, "properties": {}},
        {**base, "name": ORDER_COMPLETED, "visitor_id": later, "user_id": None, "occurred_at": day,
         "properties": {"products": [{"product_id": 7}]}},
    ]

    assert purchases_from_events(events) == [("user-1", 5, day), ("user-1", 6, day), ("v-2", 7, day)]
    assert purchases_from_events(events, stitch=False) == [("v-1", 5, day), ("v-1", 6, day), ("v-2", 7, day)]
    assert orders_from_events(events) == [[5, 6], [7]]


def test_item_to_item_beats_best_sellers_on_the_generated_traffic(events):
    """The point of the structure: personas and complements are there to be found."""
    catalog = [product_id for product_id, _, _ in make_catalog()]
    rows = {row.method: row for row in evaluate(purchases_from_events(events), k=10, catalog=catalog)}
    print(format_table(rows.values()))

    assert rows[POPULAR].customers >= 150
    assert rows[ITEM_TO_ITEM].hit_rate >= rows[POPULAR].hit_rate + 0.08
    assert rows[ITEM_TO_ITEM].hit_rate >= 1.3 * rows[POPULAR].hit_rate
    assert rows[ITEM_TO_ITEM_PADDED].hit_rate >= rows[ITEM_TO_ITEM].hit_rate
    assert rows[ITEM_TO_ITEM].coverage > 3 * rows[POPULAR].coverage


def test_frequently_bought_together_finds_pairs_bought_more_often_than_chance(events):
    together = bought_together(orders_from_events(events), min_support=5)

    assert len(together) >= 10
    assert all(0 < confidence <= 1 for partners in together.values() for _, confidence in partners)
