"""Helpers shared by the lightning-deal tests."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from checkout import pricing
from checkout.models import Cart, CartLine
from promotions import services
from promotions.models import Deal
from tests.commit import committed

D = Decimal
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}


def make_deal(offer, *, price="15.00", cap=10, starts_in=-60, ends_in=60, **fields) -> Deal:
    """A deal through the service, committed (the pages and buy box it changes are refreshed when
    this returns); ``starts_in``/``ends_in`` in minutes from now."""
    now = timezone.now()
    with committed():
        return services.deal_save(deal=Deal(
            offer=offer, deal_price=D(price), quantity_cap=cap, starts_at=now + timedelta(minutes=starts_in),
            ends_at=now + timedelta(minutes=ends_in), **fields,
        ))


def price(*pairs, **context) -> pricing.PricedCart:
    return pricing.cart_price(lines=[pricing.LineInput(offer.pk, qty) for offer, qty in pairs],
                              context=pricing.PricingContext(**context))


def labels(priced) -> list[tuple[str, Decimal]]:
    return [(d.label, d.amount.amount) for d in priced.discounts]


def cart_with(offer, quantity=1) -> Cart:
    cart = Cart.objects.create()
    CartLine.objects.create(cart=cart, offer=offer, quantity=quantity, price_when_added=offer.price)
    return cart


def plain(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))
