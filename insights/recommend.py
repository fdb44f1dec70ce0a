"""Recommendations from purchase history, and an offline evaluation of them.

- ``item_similarities``: item-to-item collaborative filtering ("customers who bought this also
  bought"), as Linden, Smith and York describe it for Amazon (2003).
- ``bought_together``: items bought in the same order as this one ("frequently bought together").
- ``popular`` and ``popular_by_category``: the fallback for visitors without history.
- ``for_history``: "Inspired by your history", from a customer's items and the similarities.
- ``evaluate`` and ``format_table``: a time-based holdout that says whether the above beats plain
  popularity on the shop's own data.

Pure functions over plain iterables: no Django, no database, standard library only. The nightly task
reads purchases from the event store, calls these and stores the lists they return. Customer and item
ids may be any hashable values that sort among themselves (ints, or strings; one kind per call): ties
are broken by id, so the same input gives the same output on every run and every machine.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Item = Any
Customer = Any
Scored = list[tuple[Item, float]]


def _rank_key(pair: tuple[Item, float]) -> tuple[float, Item]:
    return (-pair[1], pair[0])


def _best(scores: Mapping[Item, float], top_n: int | None) -> Scored:
    """The ``top_n`` best (item, score) pairs, by score descending and then item id (all if None)."""
    if top_n is None or top_n >= len(scores):
        return sorted(scores.items(), key=_rank_key)
    return heapq.nsmallest(top_n, scores.items(), key=_rank_key)


def _baskets(purchases: Iterable[tuple], max_items: int | None = None) -> dict[Customer, list[Item]]:
    """Each customer's distinct items, least recent first, keeping only the ``max_items`` most recent.

    Rows are (customer, item) or (customer, item, anything...); "recent" means later in the input, and
    buying an item again makes it recent again.
    """
    seen: dict[Customer, dict[Item, None]] = {}
    for customer, item, *_ in purchases:
        basket = seen.setdefault(customer, {})
        basket.pop(item, None)
        basket[item] = None
    return {customer: list(basket)[-max_items:] if max_items else list(basket) for customer, basket in seen.items()}


def item_similarities(
    purchases: Iterable[tuple],
    *,
    top_n: int = 20,
    min_common: int = 2,
    max_items_per_customer: int = 100,
) -> dict[Item, Scored]:
    """Item-to-item cosine similarity: {item: [(other_item, score), ...]}.

    ``purchases`` are (customer_id, item_id) pairs (extra fields, such as a time, are ignored); a
    customer buying an item twice counts once. Two items' score is the cosine of their customer
    vectors: customers who bought both / sqrt(customers of the one * customers of the other), from 0
    (never together) to 1 (always together).

    The work is done per customer, as in the paper: each customer adds one to every pair of items they
    bought, so the cost grows with the sum of (items per customer)^2 rather than with items^2.
    A customer counts with their ``max_items_per_customer`` most recent distinct items only (the ones
    latest in ``purchases``, so pass them oldest first): a reseller with 5,000 items would otherwise
    add 12.5 million pairs and a pile of meaningless similarities. Customer counts use the same
    capped items, so scores stay between 0 and 1.

    Each list holds at most ``top_n`` items that share at least ``min_common`` customers with the
    item, best first, ties by item id. Items with no such neighbour are left out.
    """
    if min_common < 1 or top_n < 1 or max_items_per_customer < 1:
        raise ValueError("top_n, min_common and max_items_per_customer must be at least 1")
    customers_of: Counter = Counter()
    common: dict[Item, Counter] = defaultdict(Counter)
    for items in _baskets(purchases, max_items_per_customer).values():
        customers_of.update(items)
        for index, item in enumerate(items):
            row = common[item]
            for other in items[index + 1:]:
                row[other] += 1
                common[other][item] += 1
    result: dict[Item, Scored] = {}
    for item in sorted(common):
        scores = {
            other: shared / math.sqrt(customers_of[item] * customers_of[other])
            for other, shared in common[item].items()
            if shared >= min_common
        }
        if scores:
            result[item] = _best(scores, top_n)
    return result


def bought_together(
    orders: Iterable[Iterable[Item]], *, top_n: int = 10, min_support: int = 2
) -> dict[Item, Scored]:
    """Items bought in the same order: {item_a: [(item_b, confidence), ...]}.

    ``orders`` are the item ids of each order (an item twice in one order counts once). For item A,
    each B is scored by confidence, P(B | A) = orders with both / orders with A: "of the orders with
    this item, this share also had that one", which is what the shelf promises the shopper.
    Confidence alone favours best sellers (an item in half of all orders has a confidence near 0.5
    with anything), so a pair is kept only when its lift, P(B | A) / P(B), is above 1: the two are
    bought together more often than chance. Ranking by lift instead would put rare pairs seen twice
    at the top. Pairs need ``min_support`` orders together.

    At most ``top_n`` per item, by confidence descending, then lift descending (among equal
    confidences the more specific partner first), then item id.
    """
    if min_support < 1 or top_n < 1:
        raise ValueError("top_n and min_support must be at least 1")
    orders_count = 0
    orders_with: Counter = Counter()
    together: dict[Item, Counter] = defaultdict(Counter)
    for order in orders:
        items = list(dict.fromkeys(order))
        if not items:
            continue
        orders_count += 1
        orders_with.update(items)
        for index, item in enumerate(items):
            for other in items[index + 1:]:
                together[item][other] += 1
                together[other][item] += 1
    result: dict[Item, Scored] = {}
    for item in sorted(together):
        ranked = []
        for other, both in together[item].items():
            # lift > 1  <=>  both / with(A) > with(B) / orders  (in integers: no rounding at the edge)
            if both >= min_support and both * orders_count > orders_with[item] * orders_with[other]:
                confidence = both / orders_with[item]
                lift = confidence * orders_count / orders_with[other]
                ranked.append((-confidence, -lift, other))
        if ranked:
            result[item] = [(other, -negative) for negative, _, other in heapq.nsmallest(top_n, ranked)]
    return result


def _popularity(
    purchases: Iterable[tuple], *, half_life: timedelta | None, now: datetime | None
) -> dict[Item, float]:
    """Each item's number of distinct customers, each weighted by the age of their latest purchase
    of it (halved every ``half_life``) when a half-life is given."""
    latest: dict[tuple[Customer, Item], datetime | None] = {}
    for customer, item, *rest in purchases:
        when = rest[0] if rest else None
        key = (customer, item)
        if key not in latest or (when is not None and (latest[key] is None or when > latest[key])):
            latest[key] = when
    scores: dict[Item, float] = defaultdict(float)
    if half_life is None:
        for _, item in latest:
            scores[item] += 1
        return scores
    times = [when for when in latest.values() if when is not None]
    if len(times) < len(latest):
        raise ValueError("a half-life needs (customer, item, occurred_at) purchases")
    reference = now if now is not None else max(times, default=None)
    for (_, item), when in latest.items():
        age = max((reference - when) / half_life, 0.0)
        scores[item] += 0.5**age
    return scores


def popular(
    purchases: Iterable[tuple],
    *,
    top_n: int | None = 10,
    half_life: timedelta | None = None,
    now: datetime | None = None,
) -> list[Item]:
    """Best sellers: item ids by number of distinct customers, most first, ties by item id.

    ``purchases`` are (customer_id, item_id) or (customer_id, item_id, occurred_at); distinct
    customers rather than units, so one bulk buyer does not make a best seller. With ``half_life``
    (needs the times) a customer's purchase counts 1 when made at ``now`` (default: the latest
    purchase) and half as much every ``half_life`` before: "trending" rather than "all-time".
    ``top_n=None`` returns the whole ranking.
    """
    return [item for item, _ in _best(_popularity(purchases, half_life=half_life, now=now), top_n)]


def popular_by_category(
    purchases: Iterable[tuple],
    item_category: Mapping[Item, Hashable],
    *,
    top_n: int | None = 10,
    half_life: timedelta | None = None,
    now: datetime | None = None,
) -> dict[Hashable, list[Item]]:
    """``popular`` within each category: {category: [item, ...]}, categories in sorted order.

    Items missing from ``item_category`` are left out; categories without sales are absent.
    """
    grouped: dict[Hashable, dict[Item, float]] = defaultdict(dict)
    for item, score in _popularity(purchases, half_life=half_life, now=now).items():
        if item in item_category:
            grouped[item_category[item]][item] = score
    return {category: [item for item, _ in _best(grouped[category], top_n)] for category in sorted(grouped)}


def for_history(
    history_items: Iterable[Item],
    similarities: Mapping[Item, Scored],
    *,
    exclude: Iterable[Item] = (),
    top_n: int = 10,
    fallback: Iterable[Item] = (),
    max_history: int = 20,
    recency_decay: float = 1.0,
) -> list[Item]:
    """"Inspired by your history": up to ``top_n`` item ids for a customer.

    ``history_items`` are the items the customer bought (or viewed), oldest first; only the
    ``max_history`` most recent distinct ones count. A candidate's score is the sum of its
    similarity to each of them (``similarities`` as ``item_similarities`` returns), the most recent
    weighted 1, the one before ``recency_decay``, then ``recency_decay``^2, and so on (1.0: all the
    same). History items (older ones too) and ``exclude`` are never recommended. When fewer than ``top_n`` candidates
    score, the list is padded from ``fallback`` (best sellers, say) in its order, without duplicates.
    """
    everything = list(dict.fromkeys(reversed(list(history_items))))  # distinct, most recent first
    history = everything[:max_history]
    excluded = set(exclude).union(everything)
    scores: dict[Item, float] = defaultdict(float)
    weight = 1.0
    for item in history:
        for other, score in similarities.get(item, ()):
            if other not in excluded:
                scores[other] += weight * score
        weight *= recency_decay
    chosen = [item for item, _ in _best(scores, top_n)]
    if len(chosen) < top_n:
        taken = excluded.union(chosen)
        for item in fallback:
            if item not in taken:
                chosen.append(item)
                taken.add(item)
                if len(chosen) == top_n:
                    break
    return chosen


@dataclass(frozen=True)
class EvaluationRow:
    """One method's result in ``evaluate``: shares are fractions from 0 to 1."""

    method: str
    customers: int  # test customers: train history and a new item bought in the test period
    k: int
    hit_rate: float  # share of test customers with at least one of their new items in the top k
    precision: float  # mean over test customers of (new items in the top k) / k
    coverage: float  # share of the catalog recommended to at least one test customer


POPULAR = "popular"
ITEM_TO_ITEM = "item-to-item"
ITEM_TO_ITEM_PADDED = "item-to-item + popular"


def evaluate(
    purchases_with_time: Iterable[tuple[Customer, Item, datetime]],
    *,
    holdout_fraction: float = 0.2,
    cutoff: datetime | None = None,
    k: int = 10,
    catalog: Iterable[Item] | None = None,
    similar_top_n: int = 20,
    min_common: int = 2,
    max_items_per_customer: int = 100,
    max_history: int = 20,
    recency_decay: float = 1.0,
) -> list[EvaluationRow]:
    """Time-based holdout: train on the past, check the recommendations against what came next.

    Purchases before the cutoff train the similarities and the best-seller ranking; the rest are the
    test. The cutoff is ``cutoff`` if given, else ``holdout_fraction`` of the period before the last
    purchase (0.2: the last fifth). Test customers have train history and bought at least one item in
    the test period that is not in that history (a repeat of a known item is no discovery); new
    customers are left out, as they only ever get the best sellers.

    Each test customer gets ``k`` items from each method, all excluding their train items:
    "popular" (the best sellers), "item-to-item" (``for_history`` on their train items, possibly
    fewer than ``k``) and "item-to-item + popular" (the same padded with best sellers, what the shop
    shows); the other options are passed on to ``item_similarities`` and ``for_history``.
    Coverage is over ``catalog`` (default: every item in ``purchases_with_time``).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    rows = sorted(purchases_with_time, key=lambda row: row[2])
    items = set(catalog) if catalog is not None else set()
    items.update(item for _, item, _ in rows)
    if cutoff is None and rows:
        if not 0 < holdout_fraction < 1:
            raise ValueError("holdout_fraction must be between 0 and 1")
        first, last = rows[0][2], rows[-1][2]
        cutoff = last - (last - first) * holdout_fraction
    train = [row for row in rows if row[2] < cutoff] if rows else []
    histories = _baskets(train)
    new_items: dict[Customer, set[Item]] = defaultdict(set)
    for customer, item, when in rows:
        if when >= cutoff and customer in histories and item not in histories[customer]:
            new_items[customer].add(item)

    similarities = item_similarities(
        train, top_n=similar_top_n, min_common=min_common, max_items_per_customer=max_items_per_customer
    )
    ranking = popular(train, top_n=None)

    def best_sellers(history: list[Item]) -> list[Item]:  # no similarities: the fallback alone
        return for_history((), {}, exclude=history, top_n=k, fallback=ranking)

    def item_to_item(history: list[Item], fallback: list[Item]) -> list[Item]:
        return for_history(
            history, similarities, top_n=k, fallback=fallback,
            max_history=max_history, recency_decay=recency_decay,
        )

    methods = {
        POPULAR: best_sellers,
        ITEM_TO_ITEM: lambda history: item_to_item(history, []),
        ITEM_TO_ITEM_PADDED: lambda history: item_to_item(history, ranking),
    }
    results = []
    for method, recommend in methods.items():
        hits = relevant = 0
        shown: set[Item] = set()
        for customer, wanted in new_items.items():
            recommended = recommend(histories[customer])
            shown.update(recommended)
            found = len(wanted.intersection(recommended))
            hits += found > 0
            relevant += found
        customers = len(new_items)
        results.append(EvaluationRow(
            method=method,
            customers=customers,
            k=k,
            hit_rate=hits / customers if customers else 0.0,
            precision=relevant / (customers * k) if customers else 0.0,
            coverage=len(shown) / len(items) if items else 0.0,
        ))
    return results


def format_table(rows: Iterable[EvaluationRow]) -> str:
    """``evaluate``'s rows as an aligned text table, one line per method, shares as percentages."""
    rows = list(rows)
    k = rows[0].k if rows else 10
    header = ("method", "customers", f"hit rate@{k}", f"precision@{k}", "coverage")
    lines = [(row.method, str(row.customers), f"{row.hit_rate:.1%}", f"{row.precision:.1%}", f"{row.coverage:.1%}")
             for row in rows]
    widths = [max(len(line[column]) for line in [header, *lines]) for column in range(len(header))]

    def render(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return "\n".join(render(line) for line in [header, *lines])
