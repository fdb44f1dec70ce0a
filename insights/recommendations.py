"""Recommendations: computed nightly from the event store, stored per product, served from cache.

**Computing** (:func:`recommendations_compute`, a beat task every night; re-runnable at any time):
purchases are the products of "Order Completed" events of the last ``INSIGHTS_RECS_DAYS`` days,
the customer being the signed-in user when known, else the visitor; views are the distinct
(visitor, product) pairs of "Product Viewed" events of the same window. From them
(:mod:`insights.recommend`, pure functions):

- *Customers who bought this also bought*: item-to-item cosine similarity over customers
  (Linden, Smith and York, 2003);
- *Frequently bought together*: products in the same order, by confidence, lift above 1;
- *Customers who viewed this also viewed*: the same cosine over viewers;
- *Best sellers* per category (and overall, under category 0): the fallback for everyone else.

Each kind's lists replace the stored ones in one transaction (:class:`~insights.models.Recommendation`),
then the cache namespace :data:`RECS_NAMESPACE` is bumped, so pages show the new lists on their
next request. A product with no list yet simply shows no block.

**Serving** (:func:`for_product`, :func:`for_products`, :func:`inspired_by`): ids from the stored
lists, cached per product and kind until the next run; the cards (prices, stock, images) come from
catalog at the time of the request, so a price change shows at once and a product no longer for
sale is left out. "Inspired by your history" reads the visitor's recent product views and purchases
(one query on the event table, bounded in time so only recent partitions are read).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from core import cache as vcache
from insights import recommend
from insights.models import Event, Recommendation

logger = logging.getLogger(__name__)

Kind = Recommendation.Kind
RECS_NAMESPACE = "insights-recommendations"
OVERALL = 0  # CATEGORY_BEST's key for the best sellers of the whole shop
ORDER_COMPLETED, PRODUCT_VIEWED = "Order Completed", "Product Viewed"
HISTORY_DAYS = 90
HISTORY_ITEMS = 20


# --- computing -----------------------------------------------------------------------------------


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def purchases_since(since) -> tuple[list[tuple], list[list[int]]]:
    """(customer, product id, when) of every product bought since ``since``, oldest first, and each
    order's product ids. The customer is ``u<user id>`` when known, else ``v<visitor id>``."""
    rows = (Event.objects.filter(name=ORDER_COMPLETED, occurred_at__gte=since, is_bot=False)
            .order_by("occurred_at", "id").values_list("visitor_id", "user_id", "occurred_at", "properties"))
    purchases, orders = [], []
    for visitor_id, user_id, occurred_at, properties in rows.iterator(chunk_size=2000):
        customer = f"u{user_id}" if user_id else (f"v{visitor_id}" if visitor_id else None)
        products = (properties or {}).get("products") if isinstance(properties, dict) else None
        ids = [pid for pid in (_int(p.get("product_id")) for p in products or () if isinstance(p, dict)) if pid]
        if not ids:
            continue
        orders.append(ids)
        if customer:
            purchases.extend((customer, pid, occurred_at) for pid in ids)
    return purchases, orders


def views_since(since) -> list[tuple]:
    """(visitor, product id) of the products each visitor viewed since ``since``, once per pair."""
    rows = (Event.objects.filter(name=PRODUCT_VIEWED, occurred_at__gte=since, is_bot=False)
            .exclude(visitor_id="").values_list("visitor_id", "properties__product_id").distinct())
    return [(visitor, pid) for visitor, raw in rows.iterator(chunk_size=5000) if (pid := _int(raw))]


def _rows(kind: str, lists: dict, now) -> list[Recommendation]:
    return [Recommendation(kind=kind, product_id=key, rank=rank, related_id=related, score=float(score),
                           computed_at=now)
            for key, scored in lists.items() for rank, (related, score) in enumerate(scored, start=1)]


def recommendations_compute(*, days: int | None = None, top_n: int | None = None, now=None) -> dict[str, int]:
    """Compute and store every kind of list from the last ``days`` of events; returns rows per kind."""
    now = now or timezone.now()
    days = days or settings.INSIGHTS_RECS_DAYS
    top_n = top_n or settings.INSIGHTS_RECS_TOP_N
    since = now - timedelta(days=days)
    purchases, orders = purchases_since(since)
    views = views_since(since)
    categories = catalog_selectors.product_category_ids(product_ids={pid for _c, pid, _t in purchases})
    best = recommend.popular_by_category(purchases, {pid: cat for pid, cat in categories.items() if cat},
                                         top_n=top_n)
    best[OVERALL] = recommend.popular(purchases, top_n=top_n)
    lists = {
        Kind.ALSO_BOUGHT: recommend.item_similarities(purchases, top_n=top_n),
        Kind.BOUGHT_TOGETHER: recommend.bought_together(orders, top_n=top_n),
        Kind.ALSO_VIEWED: recommend.item_similarities(views, top_n=top_n, max_items_per_customer=50),
        # best sellers have ranks, not scores: 1 / rank keeps them in order when lists are merged
        Kind.CATEGORY_BEST: {cat: [(pid, 1.0 / rank) for rank, pid in enumerate(items, 1)]
                             for cat, items in best.items()},
    }
    counts = {}
    with transaction.atomic():
        for kind, found in lists.items():
            Recommendation.objects.filter(kind=kind).delete()
            rows = _rows(kind, found, now)
            Recommendation.objects.bulk_create(rows, batch_size=5000)
            counts[str(kind)] = len(rows)
        vcache.bump_on_commit(RECS_NAMESPACE)
    logger.info("recommendations computed: %s", counts)
    return counts


def evaluation(*, days: int | None = None, k: int = 10, holdout_fraction: float = 0.2) -> list:
    """Item-to-item against the best sellers on a time-based holdout of the stored purchases
    (:func:`insights.recommend.evaluate`): rows for :func:`insights.recommend.format_table`."""
    purchases, _orders = purchases_since(timezone.now() - timedelta(days=days or settings.INSIGHTS_RECS_DAYS))
    return recommend.evaluate(purchases, k=k, holdout_fraction=holdout_fraction)


# --- serving -------------------------------------------------------------------------------------


def _stored(kind: str, key: int) -> list[tuple[int, float]]:
    def load() -> list[tuple[int, float]]:
        return list(Recommendation.objects.filter(kind=kind, product_id=key).order_by("rank")
                    .values_list("related_id", "score"))

    return vcache.cached_in(RECS_NAMESPACE, f"insights:recs:{kind}:{key}", load)


def ids_for_product(*, product_id: int, kind: str, limit: int = 8, exclude: Iterable[int] = ()) -> list[int]:
    """The stored list of ``kind`` for a product (ids, best first), without ``exclude``."""
    skip = {int(product_id), *map(int, exclude)}
    return [pid for pid, _score in _stored(kind, int(product_id)) if pid not in skip][:limit]


def for_product(*, product_id: int, kind: str, limit: int = 8) -> list:
    """Product cards (catalog, for sale now) of a product's list of ``kind``."""
    ids = ids_for_product(product_id=product_id, kind=kind, limit=limit * 2)
    return catalog_selectors.product_cards(ids=ids)[:limit] if ids else []


def category_best_for(*, product_id: int, limit: int = 8) -> list:
    """Product cards of the best sellers of the product's category (without the product itself)."""
    category_id = catalog_selectors.product_category_ids(product_ids=[product_id]).get(int(product_id))
    if not category_id:
        return []
    ids = [pid for pid, _score in _stored(Kind.CATEGORY_BEST, category_id) if pid != int(product_id)][:limit * 2]
    return catalog_selectors.product_cards(ids=ids)[:limit] if ids else []


def ids_for_products(*, product_ids: Iterable[int], kind: str, limit: int = 8) -> list[int]:
    """The lists of ``kind`` of several products (a cart) merged: scores added up, the products
    themselves left out, best first."""
    own = {int(pid) for pid in product_ids}
    scores: dict[int, float] = {}
    for pid in sorted(own):
        for related, score in _stored(kind, pid):
            if related not in own:
                scores[related] = scores.get(related, 0.0) + score
    return [pid for pid, _s in sorted(scores.items(), key=lambda item: (-item[1], item[0]))][:limit]


def for_products(*, product_ids: Iterable[int], kind: str, limit: int = 8) -> list:
    ids = ids_for_products(product_ids=product_ids, kind=kind, limit=limit * 2)
    return catalog_selectors.product_cards(ids=ids)[:limit] if ids else []


def history_of(*, visitor_id: str = "", user_id: int | None = None, now=None) -> list[int]:
    """The products a visitor (or a signed-in user) viewed or bought lately, most recent first."""
    if not visitor_id and not user_id:
        return []
    since = (now or timezone.now()) - timedelta(days=HISTORY_DAYS)
    events = Event.objects.filter(name__in=[PRODUCT_VIEWED, ORDER_COMPLETED], occurred_at__gte=since)
    events = events.filter(user_id=user_id) if user_id else events.filter(visitor_id=visitor_id)
    seen: list[int] = []
    for name, properties in events.order_by("-occurred_at").values_list("name", "properties")[:200]:
        props = properties if isinstance(properties, dict) else {}
        found = [props.get("product_id")] if name == PRODUCT_VIEWED else [
            p.get("product_id") for p in props.get("products") or () if isinstance(p, dict)]
        for pid in (_int(raw) for raw in found):
            if pid and pid not in seen:
                seen.append(pid)
        if len(seen) >= HISTORY_ITEMS:
            break
    return seen


def inspired_by(*, visitor_id: str = "", user_id: int | None = None, limit: int = 8) -> tuple[bool, list]:
    """(from history?, product cards): "Inspired by your history" for a visitor with history (what
    is similar to what they viewed and bought, not those themselves), else the shop's best sellers."""
    history = history_of(visitor_id=visitor_id, user_id=user_id)
    fallback = [pid for pid, _s in _stored(Kind.CATEGORY_BEST, OVERALL)]
    if history:
        similar = {}
        for kind in (Kind.ALSO_BOUGHT, Kind.ALSO_VIEWED):
            for pid in history:
                similar.setdefault(pid, []).extend(_stored(kind, pid))
        ids = recommend.for_history(list(reversed(history)), similar, exclude=history, top_n=limit * 2,
                                    fallback=fallback)
        if ids:
            return True, catalog_selectors.product_cards(ids=ids)[:limit]
    return False, catalog_selectors.product_cards(ids=fallback[:limit * 2])[:limit]
