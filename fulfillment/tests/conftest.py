"""Fulfilment test data shared by the admin tests: two sellers, their places, Bazaar's centre."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fulfillment.models import Warehouse
from marketplace.models import Offer
from tests.factories import OfferFactory, ProductFactory, SellerFactory, WarehouseFactory, stock


@pytest.fixture
def world():
    centre = WarehouseFactory(code="fc1", name="Centre")
    mine, theirs = SellerFactory(name="Mine"), SellerFactory(name="Theirs")
    my_place = WarehouseFactory(code="mine-1", name="My shed", kind=Warehouse.Kind.SELLER, seller=mine)
    their_place = WarehouseFactory(code="theirs-1", name="Their barn", kind=Warehouse.Kind.SELLER, seller=theirs)
    product = ProductFactory(title="Lamp")
    my_offer = OfferFactory(seller=mine, product=product, sku="MINE-1", price=Decimal("20.00"))
    their_offer = OfferFactory(seller=theirs, product=product, sku="THEIRS-1", price=Decimal("25.00"),
                               fulfillment_channel=Offer.Channel.MERCHANT)
    return {
        "centre": centre, "mine": mine, "theirs": theirs, "my_place": my_place, "their_place": their_place,
        "product": product, "my_offer": my_offer, "their_offer": their_offer,
        "my_stock": stock(my_offer, 0, centre), "their_stock": stock(their_offer, 4, their_place),
    }


@pytest.fixture
def shed_stock(world):
    """An offer of "Mine" shipped by the seller, with an (empty) stock row in the seller's own shed."""
    offer = OfferFactory(seller=world["mine"], sku="MINE-SHED", fulfillment_channel=Offer.Channel.MERCHANT)
    return stock(offer, 0, world["my_place"])
