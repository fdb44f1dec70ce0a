"""Automatic promotions: which live promotions apply to a cart, in what order, and how much.

The live set (active promotions with their product sets, as plain values) is cached in Redis
under the ``promotions`` namespace, bumped whenever a promotion is saved (``promotion_save``),
so pricing a cart costs no query for promotions on a warm cache and a constant number (one
per M2M set, prefetched) on a cold one, whatever the number of promotions.

Order: higher priority first (then older first). Each promotion sees what is left of each line
after the previous ones, so stacked discounts never take a line below zero. An exclusive
promotion that applies stops every lower one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from catalog import selectors as catalog_selectors
from core import cache as vcache
from core.money import Money, allocate, quantize
from promotions.models import Promotion

if TYPE_CHECKING:
    from promotions.services import PromoLine

NAMESPACE = "promotions"
LIVE_TIMEOUT = 60 * 10


@dataclass(frozen=True)
class Rule:
    """A promotion as the engine needs it: plain values, cheap to cache."""

    id: int
    label: str
    starts_at: datetime | None
    ends_at: datetime | None
    priority: int
    exclusive: bool
    members_only: bool
    min_quantity: int
    min_spend: Decimal
    benefit: str
    value: Decimal
    x: int
    y: int
    categories: frozenset[int]
    brands: frozenset[int]
    sellers: frozenset[int]
    products: frozenset[int]

    @property
    def everything(self) -> bool:
        return not (self.categories or self.brands or self.sellers or self.products)

    def live(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)


@dataclass(frozen=True)
class AppliedPromotion:
    promotion_id: int
    label: str
    amount: Money
    per_line: dict[int, Money]  # index into the lines passed in -> part (parts sum to amount)
    free_shipping_line_indexes: tuple[int, ...] = ()


def rule_for(p: Promotion) -> Rule:
    """The engine's view of one promotion (its sets prefetched, or one query each)."""

    def ids(related) -> frozenset[int]:
        return frozenset(obj.pk for obj in related.all())

    return Rule(
        id=p.pk, label=p.label or p.name, starts_at=p.starts_at, ends_at=p.ends_at, priority=p.priority,
        exclusive=p.exclusive, members_only=p.members_only, min_quantity=p.min_quantity,
        min_spend=p.min_spend, benefit=p.benefit, value=p.value, x=p.x, y=p.y,
        categories=ids(p.categories), brands=ids(p.brands), sellers=ids(p.sellers), products=ids(p.products),
    )


def _load_rules() -> list[Rule]:
    promotions = Promotion.objects.filter(active=True).prefetch_related(
        "categories", "brands", "sellers", "products"
    ).order_by("-priority", "id")
    return [rule_for(p) for p in promotions]


def live_rules() -> list[Rule]:
    """Every active promotion (dates are checked at apply time), highest priority first."""
    return vcache.cached_in(NAMESPACE, "promotions:live", _load_rules, LIVE_TIMEOUT)


def bump_on_commit() -> None:
    vcache.bump_on_commit(NAMESPACE)


def _qualifying(rule: Rule, lines: Sequence[PromoLine], product_info: dict, tree, descendants: dict) -> list[int]:
    if rule.everything:
        return list(range(len(lines)))
    categories: set[int] = set()
    if rule.categories:
        for pk in rule.categories:
            if pk not in descendants:
                descendants[pk] = set(tree.descendant_ids(pk)) if pk in tree.nodes else set()
            categories |= descendants[pk]
    indexes = []
    for index, line in enumerate(lines):
        category_id, brand_id = product_info.get(line.product_id, (None, None))
        if (
            line.product_id in rule.products
            or line.seller_id in rule.sellers
            or (category_id is not None and category_id in categories)
            or (brand_id is not None and brand_id in rule.brands)
        ):
            indexes.append(index)
    return indexes


def _buy_x_get_y(rule: Rule, lines: Sequence[PromoLine], left: list[Decimal], indexes: list[int],
                 currency: str) -> dict[int, Decimal]:
    """For every X+Y qualifying units, the Y cheapest ones are free (cheapest over the whole set)."""
    units = sum(max(lines[i].quantity, 1) for i in indexes)
    free = (units // (rule.x + rule.y)) * rule.y
    per_line: dict[int, Decimal] = {}
    for index in sorted(indexes, key=lambda i: (left[i] / max(lines[i].quantity, 1), i)):
        if free <= 0:
            break
        quantity = max(lines[index].quantity, 1)
        count = min(free, quantity)
        free -= count
        per_line[index] = left[index] if count == quantity else min(
            quantize(left[index] * count / quantity, currency), left[index]
        )
    return per_line


def _benefit(rule: Rule, lines: Sequence[PromoLine], left: list[Decimal], indexes: list[int],
             base: Decimal, currency: str) -> dict[int, Decimal]:
    if rule.benefit in (Promotion.Benefit.PERCENT_OFF, Promotion.Benefit.FIXED_OFF):
        if rule.benefit == Promotion.Benefit.PERCENT_OFF:
            total = quantize(base * rule.value / Decimal(100), currency)
        else:
            total = min(rule.value, base)
        parts = allocate(total, [left[i] for i in indexes], currency)
        return dict(zip(indexes, parts, strict=True))
    if rule.benefit == Promotion.Benefit.FIXED_PRICE:
        per_line = {}
        for i in indexes:
            target = rule.value * max(lines[i].quantity, 1)
            if left[i] > target:
                per_line[i] = left[i] - target
        return per_line
    if rule.benefit == Promotion.Benefit.BUY_X_GET_Y:
        return _buy_x_get_y(rule, lines, left, indexes, currency)
    return {}  # free shipping: no money off the lines


def apply_promotions(lines: Sequence[PromoLine], *, is_member: bool = False,
                     now: datetime) -> list[AppliedPromotion]:
    """The promotions that apply to these lines, in the order applied, each split over lines.

    Works on Decimal amounts (already quantized to the currency's minor unit) and builds Money
    only for the answer: 50 promotions over 20 lines stay cheap."""
    if not lines:
        return []
    return apply_rules([r for r in live_rules() if r.live(now) and (is_member or not r.members_only)], lines)


def classification(lines: Sequence[PromoLine]) -> dict[int, tuple[int | None, int | None]]:
    """Product id -> (category id, brand id) of the lines' products: from the lines where the caller
    gave it, the others in one query."""
    known = {line.product_id: line.classification for line in lines if line.classification is not None}
    missing = [line.product_id for line in lines if line.product_id not in known]
    if missing:
        known.update({pk: (p.category_id, p.brand_id)
                      for pk, p in catalog_selectors.products_by_ids(ids=missing).items()})
    return known


def apply_rules(rules: Sequence[Rule], lines: Sequence[PromoLine]) -> list[AppliedPromotion]:
    """Apply these rules (already chosen: live, for this shopper) in order to the lines."""
    if not rules or not lines:
        return []
    currency = lines[0].amount.currency
    product_info = classification(lines) if any(r.categories or r.brands for r in rules) else {}
    tree = catalog_selectors.category_tree() if any(r.categories for r in rules) else None
    descendants: dict[int, set[int]] = {}
    left = [line.amount.amount for line in lines]
    applied: list[AppliedPromotion] = []
    for rule in rules:
        indexes = _qualifying(rule, lines, product_info, tree, descendants)
        if not indexes:
            continue
        if sum(max(lines[i].quantity, 1) for i in indexes) < rule.min_quantity:
            continue
        base = sum((left[i] for i in indexes), Decimal(0))
        if base < rule.min_spend:
            continue
        if rule.benefit == Promotion.Benefit.FREE_SHIPPING:
            applied.append(AppliedPromotion(promotion_id=rule.id, label=rule.label, amount=Money.zero(currency),
                                            per_line={}, free_shipping_line_indexes=tuple(indexes)))
        else:
            parts = {i: part for i, part in _benefit(rule, lines, left, indexes, base, currency).items() if part > 0}
            if not parts:
                continue
            for i, part in parts.items():
                left[i] -= part
            applied.append(AppliedPromotion(
                promotion_id=rule.id, label=rule.label, amount=Money(sum(parts.values(), Decimal(0)), currency),
                per_line={i: Money(part, currency) for i, part in parts.items()},
            ))
        if rule.exclusive:
            break
    return applied
