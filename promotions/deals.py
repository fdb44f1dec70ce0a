"""Lightning deals as pricing and pages see them.

Every active deal that has not ended (upcoming ones included) is cached as plain values, by
offer, in the ``deals`` namespace. The namespace is bumped after every change that shows: a
deal saved, units claimed or released (``services.deals_claim`` / ``deals_release``) and a deal
starting or ending (the ``deals_bump_boundaries`` beat task). So pricing a cart, the product
page's deal box and the deals page cost no query for deals on a warm cache and one on a cold
one, whatever the number of deals or lines; ``claimed`` there is as fresh as the last bump,
and the claim itself (one conditional UPDATE) is the authority.

A deal applies to a line of its offer while it is live (active, ``starts_at <= now < ends_at``)
and has units left, to members only when ``members_only``: ``min(quantity, units left,
per-order limit)`` units at the deal price. Deals come before the automatic promotions, which
then work on what is left of each line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import cache_keys
from core import cache as vcache
from core.money import Money, quantize
from promotions.models import Deal

if TYPE_CHECKING:
    from promotions.services import PromoLine

NAMESPACE = "deals"
INDEX_TIMEOUT = 60 * 10


@dataclass(frozen=True)
class DealRule:
    """A deal as pricing and the deal box need it: plain values, cheap to cache."""

    id: int
    offer_id: int
    product_id: int
    product_title: str
    product_slug: str
    label: str
    deal_price: Decimal
    currency: str
    starts_at: datetime
    ends_at: datetime
    quantity_cap: int
    claimed: int
    per_order_limit: int | None
    members_only: bool

    @property
    def remaining(self) -> int:
        return max(self.quantity_cap - self.claimed, 0)

    @property
    def percent_claimed(self) -> int:
        return min(100, self.claimed * 100 // self.quantity_cap) if self.quantity_cap else 0

    @property
    def sold_out(self) -> bool:
        return self.remaining <= 0

    @property
    def title(self) -> str:
        return self.label or self.product_title

    def live(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def applies(self, *, is_member: bool, now: datetime) -> bool:
        return self.live(now) and self.remaining > 0 and (is_member or not self.members_only)


@dataclass(frozen=True)
class AppliedDeal:
    deal_id: int
    line_index: int
    units: int
    label: str
    amount: Money


def _load_index() -> dict[int, tuple[DealRule, ...]]:
    rows = (
        Deal.objects.filter(active=True, ends_at__gt=timezone.now())
        .order_by("starts_at", "id")
        .values_list(
            "pk", "offer_id", "offer__product_id", "offer__product__title", "offer__product__slug", "label",
            "deal_price", "offer__currency", "starts_at", "ends_at", "quantity_cap", "claimed",
            "per_order_limit", "members_only",
        )
    )
    index: dict[int, list[DealRule]] = defaultdict(list)
    for row in rows:
        rule = DealRule(*row)
        index[rule.offer_id].append(rule)
    return {offer_id: tuple(rules) for offer_id, rules in index.items()}


def index() -> dict[int, tuple[DealRule, ...]]:
    """Offer id -> its active deals that have not ended (upcoming included), soonest first."""
    return vcache.cached_in(NAMESPACE, "deals:index", _load_index, INDEX_TIMEOUT)


def live_for_offer(offer_id: int | None, *, now: datetime | None = None,
                   rules: dict[int, tuple[DealRule, ...]] | None = None) -> DealRule | None:
    """The deal shown for this offer now (sold out or not): the lowest price when several run."""
    if offer_id is None:
        return None
    now = now or timezone.now()
    found = [r for r in (index() if rules is None else rules).get(offer_id, ()) if r.live(now)]
    return min(found, key=lambda r: (r.sold_out, r.deal_price, r.id), default=None)


def deal_prices(offers: Sequence, members: bool) -> dict[int, Decimal]:
    """The buy box's deal price provider: offer id -> the price of its live deal with units left
    (members-only deals only for ``members``), when below the offer's price. Reads the cached index."""
    rules, now, prices = index(), timezone.now(), {}
    for offer in offers:
        found = [r for r in rules.get(offer.pk, ()) if r.applies(is_member=members, now=now)]
        if found:
            best = min(r.deal_price for r in found)
            if best < offer.price:
                prices[offer.pk] = best
    return prices


def apply_deals(lines: Sequence[PromoLine], *, is_member: bool, now: datetime) -> list[AppliedDeal]:
    """The deal discount of each line whose offer has a deal that applies (one per line)."""
    if not any(line.offer_id for line in lines):
        return []
    rules = index()
    if not rules:
        return []
    used: dict[int, int] = defaultdict(int)  # units of each deal already given to earlier lines
    applied: list[AppliedDeal] = []
    for i, line in enumerate(lines):
        candidates = [r for r in rules.get(line.offer_id, ()) if r.applies(is_member=is_member, now=now)]
        quantity = max(int(line.quantity), 1)
        currency = line.amount.currency
        unit = line.unit_price.amount if line.unit_price is not None else quantize(
            line.amount.amount / quantity, currency
        )
        for rule in sorted(candidates, key=lambda r: (r.deal_price, r.id)):
            if rule.currency != currency or unit <= rule.deal_price:
                continue
            units = min(quantity, rule.remaining - used[rule.id], rule.per_order_limit or quantity)
            if units <= 0:
                continue
            amount = min((unit - rule.deal_price) * units, line.amount.amount)
            if amount <= 0:
                continue
            used[rule.id] += units
            label = _("Lightning deal: %(units)s × %(title)s at %(price)s") % {
                "units": units, "title": rule.product_title, "price": Money(rule.deal_price, currency),
            }
            applied.append(AppliedDeal(deal_id=rule.id, line_index=i, units=units, label=label,
                                       amount=Money(amount, currency)))
            break
    return applied


def bump_on_commit(*product_slugs: str) -> None:
    """After the commit: the cached deals and the pages of these products show the change."""
    vcache.bump_on_commit(NAMESPACE, *sorted({cache_keys.product(slug) for slug in product_slugs if slug}))


def bump_now(*product_slugs: str) -> None:
    vcache.bump(NAMESPACE, *sorted({cache_keys.product(slug) for slug in product_slugs if slug}))
