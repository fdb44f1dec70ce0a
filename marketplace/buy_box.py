"""The buy box: which offer a product shows first.

Rule: among active offers of active sellers with stock, the lowest *landed price*
(price + cheapest shipping) wins; ties go to offers fulfilled by the platform, then to the
better-rated seller, then to the older offer (stable).

Stock and shipping belong to fulfillment, a higher layer. This module never imports it:
fulfillment registers an *offer facts provider* at start-up (see ``fulfillment.apps``), a
function that tells, for a batch of offers, how many units are available and what the
cheapest shipping costs. Without one, every offer counts as available with free shipping.

Lightning deals (promotions, higher still) take part through a *deal price provider*: an offer
selling at a live deal price ranks at that price, and the stored buy box is refreshed when a deal
starts, ends, sells out or changes.

Membership is a higher layer too. What a buyer's plan changes (member prices, free shipping on
offers fulfilled by the platform) comes in as a ``BuyerBenefits`` parameter; the stored buy box
is the one for buyers without benefits, and a member's page re-ranks with theirs. Pages learn the
viewer's benefits from a *viewer benefits provider* that membership registers at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

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


@dataclass(frozen=True)
class BuyerBenefits:
    """What a buyer's membership changes in prices and shipping (plain values)."""

    label: str = ""  # the plan's name, for badges
    member_prices: bool = False  # an offer's member price applies
    free_platform_shipping: bool = False  # offers fulfilled by the platform ship free
    fast_shipping: bool = False  # members-only (faster) shipping methods are offered
    member_deals: bool = False  # members-only lightning deals apply


@dataclass(frozen=True)
class ViewerBenefits:
    """The viewer's own benefits (a member), or what joining would give (``preview``)."""

    active: BuyerBenefits | None = None
    preview: BuyerBenefits | None = None


def effective_price(offer: Offer, benefits: BuyerBenefits | None) -> Decimal:
    """What this buyer pays per unit: the member price when their benefits include it."""
    if benefits is not None and benefits.member_prices and offer.member_price is not None:
        return offer.member_price
    return offer.price


def effective_shipping(offer: Offer, facts: OfferFacts, benefits: BuyerBenefits | None) -> Decimal:
    if benefits is not None and benefits.free_platform_shipping and offer.fulfilled_by_platform:
        return Decimal(0)
    return facts.shipping


DealPriceProvider = Callable[[Sequence[Offer], bool], Mapping[int, Decimal]]


def _no_deals(offers: Sequence[Offer], members: bool) -> Mapping[int, Decimal]:
    return {}


_deal_provider: DealPriceProvider = _no_deals


def register_deal_price_provider(provider: DealPriceProvider) -> None:
    """Promotions (a higher layer) tells which offers sell at a lightning-deal price right now."""
    global _deal_provider  # noqa: PLW0603 - a process-wide strategy, set once at start-up
    _deal_provider = provider


def deal_prices(offers: Sequence[Offer], *, benefits: BuyerBenefits | None = None) -> Mapping[int, Decimal]:
    """Offer id -> its live deal price (units left; members-only deals for members) for this buyer."""
    if not offers:
        return {}
    return _deal_provider(offers, bool(benefits is not None and benefits.member_deals))


ViewerBenefitsProvider = Callable[[object], ViewerBenefits]


def _no_benefits(user) -> ViewerBenefits:
    return ViewerBenefits()


_viewer_provider: ViewerBenefitsProvider = _no_benefits
_viewer_namespaces: tuple[str, ...] = ()


def register_viewer_benefits_provider(provider: ViewerBenefitsProvider, *, namespaces: Sequence[str] = ()) -> None:
    """``namespaces``: cache namespaces whose bump changes what the provider answers (cached
    pages that show the benefits depend on them)."""
    global _viewer_provider, _viewer_namespaces  # noqa: PLW0603 - a process-wide strategy, set once at start-up
    _viewer_provider = provider
    _viewer_namespaces = tuple(namespaces)


def viewer_benefits_namespaces() -> tuple[str, ...]:
    return _viewer_namespaces


def viewer_benefits(user) -> ViewerBenefits:
    """The benefits of whoever views a page (membership answers; none without it)."""
    return _viewer_provider(user)


FactsProvider = Callable[[Sequence[Offer]], dict[int, OfferFacts]]


def _everything_available(offers: Sequence[Offer]) -> dict[int, OfferFacts]:
    return {o.pk: OfferFacts(available=1, shipping=Decimal(0)) for o in offers}


_provider: FactsProvider = _everything_available


def register_offer_facts_provider(provider: FactsProvider) -> None:
    global _provider  # noqa: PLW0603 - a process-wide strategy, set once at start-up
    _provider = provider


def offer_facts(offers: Sequence[Offer]) -> dict[int, OfferFacts]:
    """Stock and shipping facts for these offers (one batch call to the provider)."""
    if not offers:
        return {}
    return _provider(offers)


def is_eligible(offer: Offer, facts: OfferFacts | None) -> bool:
    return bool(offer.is_active and offer.seller.is_active and facts is not None and facts.available > 0)


def ranking_key(offer: Offer, facts: OfferFacts, benefits: BuyerBenefits | None = None,
                deals: Mapping[int, Decimal] | None = None) -> tuple:
    price = effective_price(offer, benefits)
    if deals and offer.pk in deals:
        price = min(price, deals[offer.pk])
    landed = price + effective_shipping(offer, facts, benefits)
    return (landed, 0 if offer.fulfilled_by_platform else 1, -offer.seller.rating, offer.pk)


def choose_winner(
    offers: Sequence[Offer], facts: dict[int, OfferFacts], benefits: BuyerBenefits | None = None,
    deals: Mapping[int, Decimal] | None = None,
) -> Offer | None:
    """The winning offer among ``offers`` (all of one product) for a buyer with ``benefits``
    (none: the stored buy box), or None when none can sell. ``deals``: live deal prices."""
    eligible = [o for o in offers if is_eligible(o, facts.get(o.pk))]
    if not eligible:
        return None
    return min(eligible, key=lambda o: ranking_key(o, facts[o.pk], benefits, deals))


def rank_offers(
    offers: Sequence[Offer], facts: dict[int, OfferFacts], benefits: BuyerBenefits | None = None,
    deals: Mapping[int, Decimal] | None = None,
) -> list[Offer]:
    """All offers, sellable ones first in buy-box order (for a buyer with ``benefits``), then the rest."""
    eligible = sorted(
        (o for o in offers if is_eligible(o, facts.get(o.pk))),
        key=lambda o: ranking_key(o, facts[o.pk], benefits, deals),
    )
    rest = [o for o in offers if not is_eligible(o, facts.get(o.pk))]
    return eligible + sorted(rest, key=lambda o: (o.price, o.pk))
