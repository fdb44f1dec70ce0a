"""Demo shopper traffic: ``seed_demo --events N`` fills the event store with about ``N`` events of
realistic visits over the last ``--event-days`` days (``insights.synthetic``: personas with favourite
categories, products often bought together, returning visitors, funnels that lose most shoppers on
the way, searches, a few bots), so the dashboard, the experiment's results and the recommendations
have something true to find. Then the days are rolled up and the recommendations computed.

The events are synthetic: their orders are not in the orders table (the dashboard says what
visitors did; the orders admin stays the demo's own). Deterministic for a seed and idempotent: the
events' ids come from the seed, and the store ignores an event it already holds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.utils import timezone

from catalog import selectors as catalog_selectors
from experiments import selectors as experiments_selectors
from insights import recommendations, synthetic
from insights import services as insights_services
from marketplace import selectors as marketplace_selectors

EVENTS_PER_VISITOR = 45  # about what insights.synthetic makes per visitor over a month
MAX_PRODUCTS = 400  # the traffic concentrates on this many products (structure needs repetition)
BATCH = 5000


def _catalog(limit: int) -> list[tuple[int, int, Decimal, int | None]]:
    """The products the traffic visits, each with the seller its page features (the buy box), so
    sellers' dashboards have their own views and orders."""
    rows = catalog_selectors.products_for_traffic(limit=limit)
    featured = marketplace_selectors.buy_box_sellers(product_ids=[pid for pid, _c, _p in rows])
    return [(pid, category_id or 0, price or Decimal("9.99"), featured.get(pid)) for pid, category_id, price in rows]


def _record(event: dict, experiment: Callable[[dict], list[dict]] | None) -> list[dict]:
    record = {
        "event_id": event["event_id"], "name": event["name"], "occurred_at": event["occurred_at"].isoformat(),
        # synthetic user ids ("user-00042") are not users of this shop: the visitor stands for them
        "visitor_id": event["visitor_id"].replace("-", "")[:36], "user_id": None,
        "channel": event["channel"], "device": event["device"], "is_bot": event["is_bot"],
        "user_agent": event.get("user_agent", ""), "properties": event["properties"],
    }
    return [record, *(experiment(record) if experiment else ())]


_EXPOSURE_IDS = uuid.UUID("9b0e7a43-1c55-4d0e-8f7e-3a6f2f1c9d10")


def exposures(key: str) -> Callable[[dict], list[dict]]:
    """A hook for :func:`seed_events`: each visitor's first cart view exposes them to experiment
    ``key`` (the variant the shop's own hashing gives them), as the cart page would."""
    seen: set[str] = set()

    def hook(record: dict) -> list[dict]:
        visitor = record["visitor_id"]
        if record["name"] != "Cart Viewed" or record["is_bot"] or not visitor or visitor in seen:
            return []
        seen.add(visitor)
        chosen = experiments_selectors.variant_for(visitor, key)
        if chosen is None:
            return []
        return [{**record, "event_id": str(uuid.uuid5(_EXPOSURE_IDS, record["event_id"])),
                 "name": "Experiment Viewed", "properties": {"experiment_id": key, "variation_id": chosen}}]

    return hook


def seed_traffic(*, events: int, days: int = 30, seed: int = 7,
                 log: Callable[[str], None] = lambda _m: None) -> dict[str, float]:
    """The demo experiment, running since the first day of the traffic, and the traffic with its
    exposures (see :func:`seed_events`)."""
    from shop.demo.experiments import CART_MEMBERSHIP_BANNER, seed_experiments

    since = timezone.now() - timedelta(days=days + 1)
    seed_experiments(started_at=since)
    return seed_events(events=events, days=days, seed=seed, log=log, experiment=exposures(CART_MEMBERSHIP_BANNER))


def seed_events(*, events: int, days: int = 30, seed: int = 7, log: Callable[[str], None] = lambda _m: None,
                experiment: Callable[[dict], list[dict]] | None = None) -> dict[str, float]:
    """About ``events`` events over the ``days`` days before today; ``experiment(record)`` may add
    records after each one (the demo experiment's exposures). Returns counts and timings."""
    started = time.perf_counter()
    catalog = _catalog(MAX_PRODUCTS)
    if not catalog or events <= 0:
        return {"events": 0}
    today = timezone.now().astimezone(UTC).date()
    start = today - timedelta(days=days)
    insights_services.partitions_ensure(days_ahead=days, today=start)
    options = synthetic.TrafficOptions(visitors=max(events // EVENTS_PER_VISITOR, 20), days=days, start=start,
                                       seed=seed)
    accepted = made = 0
    batch: list[dict] = []
    for event in synthetic.generate_events(catalog, options):
        batch.extend(_record(event, experiment))
        if len(batch) >= BATCH:
            accepted += insights_services.events_insert(batch).accepted
            made += len(batch)
            batch = []
            if made % 50_000 < BATCH:
                log(f"  {made} events stored")
    if batch:
        accepted += insights_services.events_insert(batch).accepted
        made += len(batch)
    inserted = time.perf_counter()
    rolled = roll_up(start=start, end=today, log=log)
    counts = recommendations.recommendations_compute()
    return {"events": made, "insert_seconds": inserted - started, "rollup_days": rolled,
            "recommendations": sum(counts.values()), "seconds": time.perf_counter() - started}


def roll_up(*, start: date, end: date, log: Callable[[str], None] = lambda _m: None) -> int:
    """Sessions and daily KPIs of the days from ``start`` to ``end`` (inclusive)."""
    from insights import rollups

    day, done = start, 0
    while day <= end:
        rollups.rollup_day(day)  # sessions first, then the day's KPIs
        day += timedelta(days=1)
        done += 1
    log(f"  {done} days rolled up")
    return done
