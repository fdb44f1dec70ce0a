"""The buy box: which offer a product shows first.

Rule: among active offers of active sellers with stock, the lowest *landed price*
(price + cheapest shipping) wins; ties go to offers fulfilled by the platform, then to the
better-rated seller, then to the older offer (stable).

Stock and shipping belong to fulfillment, a higher layer. This module never imports it:
fulfillment registers an *offer facts provider* at start-up (see ``fulfillment.apps``), a
function that tells, for a batch of offers, how many units are available and what the
cheapest shipping costs. Without one, every offer counts as available with free shipping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from marketplace.models import Offer


@dataclass(frozen=True)
class OfferFacts:
    available: int
    shipping: Decimal
    delivery_min_days: int = 0
    delivery_max_days: int = 0


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


def ranking_key(offer: Offer, facts: OfferFacts) -> tuple:
    landed = offer.price + facts.shipping
    return (landed, 0 if offer.fulfilled_by_platform else 1, -offer.seller.rating, offer.pk)


def choose_winner(offers: Sequence[Offer], facts: dict[int, OfferFacts]) -> Offer | None:
    """The winning offer among ``offers`` (all of one product), or None when none can sell."""
    eligible = [o for o in offers if is_eligible(o, facts.get(o.pk))]
    if not eligible:
        return None
    return min(eligible, key=lambda o: ranking_key(o, facts[o.pk]))


def rank_offers(offers: Sequence[Offer], facts: dict[int, OfferFacts]) -> list[Offer]:
    """All offers, sellable ones first in buy-box order, then the rest."""
    eligible = sorted(
        (o for o in offers if is_eligible(o, facts.get(o.pk))), key=lambda o: ranking_key(o, facts[o.pk])
    )
    rest = [o for o in offers if not is_eligible(o, facts.get(o.pk))]
    return eligible + sorted(rest, key=lambda o: (o.price, o.pk))
