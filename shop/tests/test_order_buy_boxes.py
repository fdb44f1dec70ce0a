"""After an order: its products' buy boxes are refreshed only when one of its offers ran out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import BuyBox
from shop.tasks import refresh_buy_boxes_for_order
from tests.buying import cart_with, place
from tests.factories import OfferFactory, stock

pytestmark = pytest.mark.django_db


def test_an_offer_sold_out_by_the_order_hands_its_product_to_the_next_offer(house):
    cheap = OfferFactory(price=Decimal("5.00"))
    dear = OfferFactory(product=cheap.product, price=Decimal("9.00"))
    stock(cheap, 1)
    stock(dear, 4)
    assert BuyBox.objects.get(product=cheap.product).offer_id == cheap.pk
    order = place(cart_with((cheap, 1))).order  # the last unit; the order's task runs after the commit
    assert BuyBox.objects.get(product=cheap.product).offer_id == dear.pk
    BuyBox.objects.filter(product=cheap.product).update(offer=cheap)  # as if the refresh had not run
    assert refresh_buy_boxes_for_order(order.pk) == {str(cheap.product_id): dear.pk}
    assert BuyBox.objects.get(product=cheap.product).offer_id == dear.pk


def test_an_order_that_leaves_stock_refreshes_nothing_in_two_queries(house):
    offers = [OfferFactory(price=Decimal("5.00")) for _ in range(3)]
    for offer in offers:
        stock(offer, 5)
    order = place(cart_with(*[(offer, 1) for offer in offers])).order
    refresh_buy_boxes_for_order(order.pk)  # compiled once per process
    with CaptureQueriesContext(connection) as captured:
        assert refresh_buy_boxes_for_order(order.pk) == {}
    assert len(captured.captured_queries) == 2  # the order's offers, their stock


def test_an_order_gone_refreshes_nothing(house):
    with CaptureQueriesContext(connection) as captured:
        assert refresh_buy_boxes_for_order(10_000_000) == {}
    assert len(captured.captured_queries) == 1
