"""Placing orders in tests as a checkout request does: a cart of offers, then ``order_place`` with
the shop's strategy for the buyer, its after-commit work run when it returns."""

from __future__ import annotations

import uuid

from checkout import services
from checkout.models import Cart, CartLine
from orders import services as orders_services
from shop.strategy import Strategy
from tests.commit import committed

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}


def cart_with(*pairs, user=None) -> Cart:
    """A cart holding ``(offer, quantity)`` pairs at today's prices."""
    cart = Cart.objects.create(user=user)
    for offer, quantity in pairs:
        CartLine.objects.create(cart=cart, offer=offer, quantity=quantity, price_when_added=offer.price)
    return cart


def place(cart, key=None, card=GOOD_CARD, **kwargs) -> services.PlacedOrder:
    """Place ``cart``'s order under ``key`` (a new one by default), paid with ``card``; other
    ``order_place`` arguments pass through (``user``, ``email`` and ``shipping_address`` have
    defaults)."""
    user = kwargs.pop("user", None)
    with committed():  # a checkout request: its after-commit work has run when it returns
        return services.order_place(
            cart=cart, user=user, email=kwargs.pop("email", "ada@example.com"), buyer=Strategy(user=user),
            shipping_address=kwargs.pop("shipping_address", ADDRESS), payment_method=card,
            idempotency_key=key or uuid.uuid4().hex, **kwargs,
        )


def ship(package, *, tracking_number: str = "1Z999AA10123456784", actor=None):
    """Mark ``package`` shipped as its shipper would: a seller's own package with a carrier and
    ``tracking_number``; one Bazaar fulfils after buying its label from the test carrier (whose
    tracking number then stands, whatever ``tracking_number`` says)."""
    package.refresh_from_db()
    if package.fulfillment_channel == "merchant":
        return orders_services.package_ship(package=package, tracking_number=tracking_number, carrier_name="UPS",
                                            actor=actor)
    if package.status == "pending" and not package.carrier:
        orders_services.package_buy_label(package=package)
        package.refresh_from_db()
    return orders_services.package_ship(package=package, actor=actor)
