"""The seller centre: a seller's home with sales, orders to ship (the most overdue first), account
health against targets, balance, reserve and the next payout, and offers that lost the buy box;
each seller sees only their own, platform staff any."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finance import services
from orders.models import Package
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    seller_member,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    shipping_method(channel="merchant", price="0.00", code="standard")
    product = ProductFactory(title="Copper kettle")
    mine = OfferFactory(product=product, price=Decimal("30.00"), fulfillment_channel="merchant", sku="MINE-1")
    rival = OfferFactory(product=product, price=Decimal("25.00"), fulfillment_channel="merchant")
    stock(mine, 20)
    stock(rival, 20)
    return mine, rival


def test_the_seller_centre_shows_a_sellers_business(client, shop):
    mine, rival = shop
    first = place(cart_with((mine, 2))).order
    place(cart_with((mine, 1)))
    with committed():
        ship(Package.objects.get(order=first), tracking_number="1Z")
    services.health_compute()
    client.force_login(seller_member(mine.seller, role="staff"))
    assert "Seller centre" in client.get(reverse("admin:index")).content.decode()
    client.get(reverse("seller-centre"))  # the small tables (shipping methods, deals) are cached from now on
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("seller-centre"))
    assert page.status_code == 200
    centre = page.context["centre"]
    assert centre.sales["today"] == (Decimal("90.00"), 3)
    assert len(centre.to_ship) == 1  # the shipped one is not waiting
    assert centre.balance.reserved == Decimal("51.00")  # 60.00 less the 15% referral fee (9.00), held
    assert [(row.offer.sku, row.landed_price, row.winner_landed) for row in centre.losing_buy_box] == [
        ("MINE-1", Decimal("30.00"), Decimal("25.00"))]
    html = page.content.decode()
    assert "Copper kettle" in html
    assert "$25.00" in html  # the winning landed price
    assert "Valid tracking rate" in html
    count = len(queries.captured_queries)
    place(cart_with((mine, 1)))
    with CaptureQueriesContext(connection) as again:
        client.get(reverse("seller-centre"))
    assert len(again.captured_queries) == count  # constant, whatever the history


def test_each_seller_sees_only_their_own_centre(client, shop):
    mine, rival = shop
    client.force_login(seller_member(mine.seller, role="staff"))
    assert client.get(reverse("seller-centre"), {"seller": rival.seller_id}).status_code == 404
    client.force_login(staff_user("finance.view_ledgerentry"))
    assert client.get(reverse("seller-centre"), {"seller": rival.seller_id}).context["centre"].seller == rival.seller
    chooser = client.get(reverse("seller-centre"))  # platform staff without a seller: choose one
    assert chooser.context["centre"] is None
    assert rival.seller in chooser.context["sellers"]
    client.force_login(staff_user())
    assert client.get(reverse("seller-centre")).status_code == 404
    other = SellerFactory()
    client.force_login(seller_member(other, role="owner"))
    assert client.get(reverse("seller-centre")).context["centre"].seller == other


def test_a_lost_buy_box_compares_landed_prices_and_says_why(client):
    """The seller's price beside the winner's landed price misled: 27.00 beside 29.99 reads as the
    cheaper offer losing. Both are landed (with shipping), and the row says what lost it."""
    shipping_method(channel="merchant", price="4.99", code="standard")
    kettle, lamp = ProductFactory(title="Copper kettle"), ProductFactory(title="Brass lamp")
    mine = OfferFactory(product=kettle, price=Decimal("27.00"), fulfillment_channel="merchant", sku="MINE-1")
    seller = mine.seller
    empty = OfferFactory(product=lamp, seller=seller, price=Decimal("10.00"), fulfillment_channel="merchant",
                         sku="MINE-2")
    rival = OfferFactory(product=kettle, price=Decimal("25.00"), fulfillment_channel="merchant")
    lamp_rival = OfferFactory(product=lamp, seller=rival.seller, price=Decimal("12.00"),
                              fulfillment_channel="merchant")
    used = OfferFactory(product=kettle, seller=seller, price=Decimal("26.50"), fulfillment_channel="merchant",
                        sku="MINE-USED", condition="used")  # a second offer on the same product: listed too
    for offer in (mine, rival, lamp_rival, used):
        stock(offer, 5)
    stock(empty, 0)
    client.force_login(seller_member(seller, role="staff"))
    page = client.get(reverse("seller-centre"))
    rows = {row.offer.sku: row for row in page.context["centre"].losing_buy_box}
    assert set(rows) == {"MINE-1", "MINE-2", "MINE-USED"}
    assert page.context["centre"].losing_buy_box_count == 3
    listed = client.get(reverse("admin:marketplace_offer_changelist"), {"buy_box": "lost"})
    assert sorted(o.sku for o in listed.context["cl"].result_list) == ["MINE-1", "MINE-2", "MINE-USED"]
    assert (rows["MINE-1"].landed_price, rows["MINE-1"].winner_landed) == (Decimal("31.99"), Decimal("29.99"))
    assert rows["MINE-1"].why == "higher landed price"
    assert (rows["MINE-2"].landed_price, rows["MINE-2"].winner_landed, rows["MINE-2"].why) == (
        None, Decimal("16.99"), "out of stock")
    html = page.content.decode()
    for shown in ("$31.99", "$29.99", "Your landed price", "higher landed price"):
        assert shown in html


def test_orders_to_ship_are_the_ones_the_seller_ships(client):
    """A package Bazaar fulfils stayed on the seller's list until Bazaar shipped it; the seller cannot."""
    shipping_method(channel="platform", price="0.00", code="free-platform")
    shipping_method(channel="merchant", price="0.00", code="standard")
    seller = SellerFactory()
    fba = OfferFactory(seller=seller, fulfillment_channel="platform", sku="FBA-1")
    own = OfferFactory(seller=seller, fulfillment_channel="merchant", sku="OWN-1")
    stock(fba, 3)
    stock(own, 3)
    place(cart_with((fba, 1), (own, 1)))
    client.force_login(seller_member(seller, role="staff"))
    centre = client.get(reverse("seller-centre")).context["centre"]
    assert [package.fulfillment_channel for package in centre.to_ship] == ["merchant"]
    assert centre.to_ship_count == 1


def test_a_negative_balance_is_explained(client):
    from finance.models import LedgerEntry

    seller = SellerFactory()
    LedgerEntry.objects.create(seller=seller, kind="storage_fee", amount=Decimal("-0.12"), currency="USD",
                               source_type="storage_charge", source_id=1, description="November storage")
    client.force_login(seller_member(seller, role="staff"))
    page = client.get(reverse("seller-centre")).content.decode()
    assert "-$0.12" in page
    assert "taken from your next sales" in page
