"""What the orders tests share."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import OfferFactory, shipping_method, stock


@pytest.fixture
def offers():
    """A kettle fulfilled by Bazaar and a towel its seller ships itself, five of each on the shelf
    (free platform shipping, $4.99 for the seller's)."""
    shipping_method(channel="platform", price="0.00", code="free")
    shipping_method(channel="merchant", price="4.99", code="standard")
    kettle = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle")
    towel = OfferFactory(price=Decimal("5.00"), fulfillment_channel="merchant", product__title="Tea Towel")
    stock(kettle, 5)
    stock(towel, 5)
    return kettle, towel
