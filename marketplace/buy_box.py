"""The buy box: which offer a product shows first.

Rule: among active offers of active sellers with stock, the lowest *landed price*
(price + cheapest shipping) wins; ties go to offers fulfilled by the platform, then to the
better-rated seller, then to the older offer (stable).

The ranking is pure: what it needs that marketplace does not own comes in as a parameter that
satisfies :class:`BuyBoxInputs`, the shop's per-request (or per-job) strategy built at the
composition point (``shop.strategy``):

* stock and shipping facts per offer (fulfillment's data);
* live lightning-deal prices (promotions): an offer selling at a deal price ranks at that price;
* the buyer's membership benefits (member prices, free shipping on offers fulfilled by the
  platform; :mod:`marketplace.benefits`). The stored buy box is the one for buyers without
  benefits (the strategy of a background job); a member's page re-ranks with theirs.

There are no defaults: without inputs nothing is ranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from marketplace import benefits as rules
from marketplace.benefits import Benefits
from marketplace.models import Offer


@dataclass(frozen=True)
class OfferFacts:
    available: int
    shipping: Decimal
    delivery_min_days: int = 0
    delivery_max_days: int = 0
    # the fastest delivery a member with faster shipping gets (members-only methods included)
    member_delivery_min_days: int = 0
    member_delivery_max_days: int = 0
    # the delivery promise (fulfillment): the days it arrives between, by the cheapest method, and
    # the cutoff still ahead today ("order within ..."); the members' fastest days; None: not known
    arrives_from: date | None = None
    arrives_by: date | None = None
    order_by: datetime | None = None
    member_arrives_from: date | None = None
    member_arrives_by: date | None = None


@runtime_checkable
class BuyBoxInputs(Protocol):
    """What ranking offers needs from outside marketplace, for one buyer (or for everyone)."""

    @property
    def benefits(self) -> Benefits | None:
        """The buyer's own membership benefits; None for guests, non-members and the stored box."""
        ...

    def offer_facts(self, offers: Sequence[Offer]) -> dict[int, OfferFacts]:
        """Stock and shipping facts for these offers, in one batch (missing: cannot sell)."""
        ...

    def deal_prices(self, offers: Sequence[Offer]) -> Mapping[int, Decimal]:
        """Offer id -> its live lightning-deal price for this buyer (members-only deals for members)."""
        ...


def effective_price(offer: Offer, benefits: Benefits | None) -> Decimal:
    """What this buyer pays per unit (the member price when their benefits include it)."""
    return rules.unit_price(price=offer.price, member_price=offer.member_price, benefits=benefits)


def effective_shipping(offer: Offer, facts: OfferFacts, benefits: Benefits | None) -> Decimal:
    if rules.ships_free(channel=offer.fulfillment_channel, benefits=benefits):
        return Decimal(0)
    return facts.shipping


def is_eligible(offer: Offer, facts: OfferFacts | None) -> bool:
    return bool(offer.is_active and offer.seller.is_active and facts is not None and facts.available > 0)


def landed_price(offer: Offer, facts: OfferFacts, benefits: Benefits | None = None,
                 deals: Mapping[int, Decimal] | None = None) -> Decimal:
    """What one unit costs this buyer delivered: its price (a live deal's when lower) and shipping."""
    price = effective_price(offer, benefits)
    if deals and offer.pk in deals:
        price = min(price, deals[offer.pk])
    return price + effective_shipping(offer, facts, benefits)


def ranking_key(offer: Offer, facts: OfferFacts, benefits: Benefits | None = None,
                deals: Mapping[int, Decimal] | None = None) -> tuple:
    landed = landed_price(offer, facts, benefits, deals)
    # A seller outside an account health target (finance) wins only where no eligible seller sells.
    eligible = 0 if getattr(offer.seller, "buy_box_eligible", True) else 1
    return (eligible, landed, 0 if offer.fulfilled_by_platform else 1, -offer.seller.rating, offer.pk)


def choose_winner(
    offers: Sequence[Offer], facts: dict[int, OfferFacts], benefits: Benefits | None = None,
    deals: Mapping[int, Decimal] | None = None,
) -> Offer | None:
    """The winning offer among ``offers`` (all of one product) for a buyer with ``benefits``
    (none: the stored buy box), or None when none can sell. ``deals``: live deal prices."""
    eligible = [o for o in offers if is_eligible(o, facts.get(o.pk))]
    if not eligible:
        return None
    return min(eligible, key=lambda o: ranking_key(o, facts[o.pk], benefits, deals))


def rank_offers(
    offers: Sequence[Offer], facts: dict[int, OfferFacts], benefits: Benefits | None = None,
    deals: Mapping[int, Decimal] | None = None,
) -> list[Offer]:
    """All offers, sellable ones first in buy-box order (for a buyer with ``benefits``), then the rest."""
    eligible = sorted(
        (o for o in offers if is_eligible(o, facts.get(o.pk))),
        key=lambda o: ranking_key(o, facts[o.pk], benefits, deals),
    )
    rest = [o for o in offers if not is_eligible(o, facts.get(o.pk))]
    return eligible + sorted(rest, key=lambda o: (o.price, o.pk))


def rank_for(offers: Sequence[Offer], inputs: BuyBoxInputs) -> tuple[list[Offer], dict[int, OfferFacts]]:
    """``offers`` ranked for the buyer ``inputs`` stands for, with the facts it used (one batch each)."""
    offers = list(offers)
    facts = inputs.offer_facts(offers) if offers else {}
    deals = inputs.deal_prices(offers) if offers else {}
    return rank_offers(offers, facts, inputs.benefits, deals), facts


def winners_for(offers_by_product: Mapping[int, Sequence[Offer]], inputs: BuyBoxInputs
                ) -> tuple[dict[int, Offer | None], dict[int, OfferFacts]]:
    """Product id -> its winning offer for ``inputs`` (None: nothing sells), for many products at
    once (one batch of facts and deals for all their offers)."""
    offers = [o for group in offers_by_product.values() for o in group]
    facts = inputs.offer_facts(offers) if offers else {}
    deals = inputs.deal_prices(offers) if offers else {}
    return ({pid: choose_winner(group, facts, inputs.benefits, deals) for pid, group in offers_by_product.items()},
            facts)
