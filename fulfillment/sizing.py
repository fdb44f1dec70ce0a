"""Size tiers and fulfilment fees of a packed unit: pure functions of its size and the tier table.

A unit's *dimensional weight* is length x width x height / ``divisor`` (cubic inches per pound:
``FULFILLMENT_DIM_DIVISOR``, 139); its *shipping weight* is the greater of its weight and its
dimensional weight, or its weight alone in a tier that says so. The unit is in the first tier
(lowest position) whose limits it fits, and the fee per unit is that tier's rate for the shipping
weight. A product not measured yet is charged as ``unmeasured`` says (a tier code and a weight)
until staff add its size; its quote says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

CENT, THOUSANDTH = Decimal("0.01"), Decimal("0.001")
CUBIC_INCHES_PER_FOOT = Decimal(1728)


@dataclass(frozen=True)
class Rate:
    over_lb: Decimal
    up_to_lb: Decimal | None
    fee: Decimal
    per_lb: Decimal = Decimal("0")
    per_lb_above: Decimal = Decimal("0")

    def applies(self, weight: Decimal) -> bool:
        return weight > self.over_lb and (self.up_to_lb is None or weight <= self.up_to_lb)

    def fee_for(self, weight: Decimal) -> Decimal:
        started = math.ceil(max(Decimal("0"), weight - self.per_lb_above))  # every started pound
        return (self.fee + self.per_lb * started).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    max_longest_in: Decimal | None = None
    max_median_in: Decimal | None = None
    max_shortest_in: Decimal | None = None
    max_length_girth_in: Decimal | None = None
    max_weight_lb: Decimal | None = None
    dimensional_weight: bool = True
    storage_class: str = "standard"
    rates: tuple[Rate, ...] = ()
    removal_fee: Decimal = Decimal("0")


@dataclass(frozen=True)
class Size:
    length_in: Decimal
    width_in: Decimal
    height_in: Decimal
    weight_lb: Decimal

    @property
    def sides(self) -> tuple[Decimal, Decimal, Decimal]:
        longest, median, shortest = sorted((self.length_in, self.width_in, self.height_in), reverse=True)
        return longest, median, shortest

    @property
    def cubic_feet(self) -> Decimal:
        return (self.length_in * self.width_in * self.height_in / CUBIC_INCHES_PER_FOOT).quantize(
            Decimal("0.0001"), ROUND_CEILING)


@dataclass(frozen=True)
class FeeQuote:
    tier_code: str
    tier_name: str
    storage_class: str
    shipping_weight_lb: Decimal
    dimensional_weight_lb: Decimal | None
    cubic_feet: Decimal | None
    fee: Decimal | None  # None: no rate of the tier covers this weight (staff must add one)
    measured: bool
    removal_fee: Decimal = Decimal("0")


def dimensional_weight(size: Size, divisor: Decimal) -> Decimal:
    return (size.length_in * size.width_in * size.height_in / divisor).quantize(THOUSANDTH, ROUND_CEILING)


def _fits(tier: Tier, size: Size, weight: Decimal) -> bool:
    longest, median, shortest = size.sides
    girth = longest + 2 * (median + shortest)
    checks = ((tier.max_longest_in, longest), (tier.max_median_in, median), (tier.max_shortest_in, shortest),
              (tier.max_length_girth_in, girth), (tier.max_weight_lb, weight))
    return all(limit is None or value <= limit for limit, value in checks)


def unit_fee(tier: Tier, weight: Decimal) -> Decimal | None:
    rate = next((r for r in tier.rates if r.applies(weight)), None)
    return rate.fee_for(weight) if rate is not None else None


def quote(size: Size | None, tiers: Sequence[Tier], *, divisor: Decimal,
          unmeasured: tuple[str, Decimal]) -> FeeQuote | None:
    """The size tier and fee per unit of a unit of this ``size`` (None: not measured). None when
    the tier table is empty, or no tier fits (the last tier should have no limits)."""
    if not tiers:
        return None
    if size is None:
        code, weight = unmeasured
        tier = next((t for t in tiers if t.code == code), tiers[-1])
        return FeeQuote(tier.code, tier.name, tier.storage_class, weight, None, None, unit_fee(tier, weight), False,
                        tier.removal_fee)
    dim = dimensional_weight(size, divisor)
    for tier in tiers:
        weight = max(size.weight_lb, dim) if tier.dimensional_weight else size.weight_lb
        if _fits(tier, size, weight):
            return FeeQuote(tier.code, tier.name, tier.storage_class, weight, dim, size.cubic_feet,
                            unit_fee(tier, weight), True, tier.removal_fee)
    return None
