"""Reads for fulfillment: availability and shipping facts per offer, stock views."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db.models import F, QuerySet, Sum

from core import bulk
from core import cache as vcache
from fulfillment.models import ShippingMethod, StockItem
from marketplace.buy_box import OfferFacts


def available_by_offer(*, offer_ids: Sequence[int]) -> dict[int, int]:
    """Units available now (on hand minus reserved, active warehouses) per offer: one query."""
    rows = (
        StockItem.objects.filter(bulk.any_of("offer_id", offer_ids), warehouse__is_active=True)
        .values("offer_id")
        .annotate(available=Sum(F("on_hand") - F("reserved")))
    )
    return {r["offer_id"]: int(r["available"] or 0) for r in rows}


def shipping_methods_for(
    *, seller_id: int, channel: str, methods: Sequence[ShippingMethod], members: bool = False
) -> list[ShippingMethod]:
    """The methods that apply to a seller's offers of one channel: its own, else the defaults.
    Members-only methods are included only for ``members`` (a plan with faster shipping)."""
    methods = [m for m in methods if m.channel == channel and (members or not m.members_only)]
    own = [m for m in methods if m.seller_id == seller_id]
    return own or [m for m in methods if m.seller_id is None]


SHIPPING_METHODS_NAMESPACE = "shipping-methods"


def active_shipping_methods() -> list[ShippingMethod]:
    """Every active method (a small table read on every pricing): cached until one is saved."""
    return vcache.cached_in(
        SHIPPING_METHODS_NAMESPACE, "fulfillment:active-shipping-methods",
        lambda: list(ShippingMethod.objects.filter(is_active=True).order_by("price", "min_days", "pk")),
    )


def offer_facts(offers: Sequence) -> dict[int, OfferFacts]:
    """The offer-facts strategy marketplace uses for the buy box: two queries per batch."""
    available = available_by_offer(offer_ids=[o.pk for o in offers])
    methods = active_shipping_methods()
    options_of: dict[tuple[int, str], tuple] = {}  # the methods depend on seller and channel only
    facts = {}
    for offer in offers:
        key = (offer.seller_id, offer.fulfillment_channel)
        if key not in options_of:
            options = shipping_methods_for(seller_id=key[0], channel=key[1], methods=methods)
            member_options = shipping_methods_for(seller_id=key[0], channel=key[1], methods=methods, members=True)
            options_of[key] = (
                min(options, key=lambda m: (m.price, m.min_days), default=None),  # cheapest
                min(options, key=lambda m: (m.min_days, m.price), default=None),  # fastest
                min(member_options, key=lambda m: (m.max_days, m.min_days), default=None),  # members' fastest
            )
        cheapest, fastest, member_fastest = options_of[key]
        facts[offer.pk] = OfferFacts(
            available=max(available.get(offer.pk, 0), 0),
            shipping=cheapest.price if cheapest else Decimal(0),
            delivery_min_days=offer.handling_days + (fastest.min_days if fastest else 0),
            delivery_max_days=offer.handling_days + (cheapest.max_days if cheapest else 0),
            member_delivery_min_days=offer.handling_days + (member_fastest.min_days if member_fastest else 0),
            member_delivery_max_days=offer.handling_days + (member_fastest.max_days if member_fastest else 0),
        )
    return facts


def stock_items_for_offer(*, offer_id: int) -> QuerySet[StockItem]:
    return StockItem.objects.filter(offer_id=offer_id).select_related("warehouse").order_by("warehouse__name")
