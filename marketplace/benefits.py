"""What a buyer's membership changes in prices and delivery: one value, and the rules that read it.

Membership (a higher layer) decides who has which benefits and makes the value; the buy box, the
product page and checkout's pricing read it through the functions below, so "a member price
applies" and "this package ships free" are written once. Marketplace owns the value because it
sits below every reader (pricing, buy box, pages) and the offer's member price is its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PLATFORM = "platform"  # the fulfilment channel of offers fulfilled by Bazaar (Offer.Channel.PLATFORM)


@dataclass(frozen=True)
class Benefits:
    """What a plan gives (plain values, cheap to cache and compare)."""

    plan_name: str = ""  # for badges and "members pay" lines
    member_prices: bool = False  # an offer's member price applies
    free_shipping: bool = False  # every shipping option of a package fulfilled by Bazaar is free
    fast_shipping: bool = False  # members-only (faster) shipping methods are offered
    member_deals: bool = False  # members-only promotions and lightning deals apply


def member_price_applies(member_price: Decimal | None, benefits: Benefits | None) -> bool:
    return benefits is not None and benefits.member_prices and member_price is not None


def unit_price(*, price: Decimal, member_price: Decimal | None, benefits: Benefits | None) -> Decimal:
    """What this buyer pays per unit: the member price when their benefits include it."""
    return member_price if member_price_applies(member_price, benefits) else price


def ships_free(*, channel: str, benefits: Benefits | None) -> bool:
    """Whether every shipping option of a package sent through ``channel`` is free for this buyer."""
    return benefits is not None and benefits.free_shipping and channel == PLATFORM


def fast_shipping(benefits: Benefits | None) -> bool:
    return benefits is not None and benefits.fast_shipping


def member_deals(benefits: Benefits | None) -> bool:
    return benefits is not None and benefits.member_deals
