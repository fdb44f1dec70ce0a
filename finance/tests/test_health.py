"""Account health: the four rates over their windows against their targets, decided daily; a seller
outside a target does not win buy boxes (and is told why) until back inside."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from finance import services
from finance.models import SellerHealth
from marketplace.models import BuyBox, Seller
from orders import services as orders_services
from orders.models import Package
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, SellerFactory, seller_member, shipping_method, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_offers(settings):
    """One product, a cheaper offer from the seller under watch and a dearer one from a rival."""
    settings.FINANCE_HEALTH_MIN_ORDERS = 1
    shipping_method(channel="merchant", price="0.00", code="standard")
    product = ProductFactory()
    cheap = OfferFactory(product=product, seller=SellerFactory(email="watch@seller.example"), price=Decimal("10.00"),
                         fulfillment_channel="merchant")
    dear = OfferFactory(product=product, price=Decimal("12.00"), fulfillment_channel="merchant")
    stock(cheap, 50)
    stock(dear, 50)
    return cheap, dear


def winner(product) -> int | None:
    return BuyBox.objects.get(product=product).offer_id


def ship_and_deliver(order, tracking="1Z999AA10123456784"):
    package = Package.objects.get(order=order)
    with committed():
        ship(package, tracking_number=tracking)
        orders_services.package_deliver(package=Package.objects.get(pk=package.pk))


def test_a_defect_rate_over_target_loses_the_buy_box_until_it_is_back_inside(two_offers):
    cheap, dear = two_offers
    assert winner(cheap.product) == cheap.pk
    order = place(cart_with((cheap, 1))).order
    ship_and_deliver(order)
    with committed():
        orders_services.order_refund(order=order, reason="Arrived broken")
    with committed():
        assert services.health_compute() == 1
    health = SellerHealth.objects.get(seller=cheap.seller)
    assert (health.order_defect_rate, health.eligible) == (Decimal("100.00"), False)
    assert "order defect rate 100.00% (target: below 1.00%)" in health.problems
    seller = Seller.objects.get(pk=cheap.seller_id)
    assert (seller.buy_box_eligible, seller.buy_box_note) == (False, health.problems)
    told = [m for m in mail.outbox if m.to == [seller.email]]
    assert len(told) == 1
    assert "no longer win the buy box" in told[0].subject
    assert "order defect rate 100.00%" in told[0].body
    assert winner(cheap.product) == dear.pk  # the dearer, eligible offer wins
    with time_machine.travel(timezone.now() + timedelta(days=61)), committed():
        assert services.health_compute() == 1  # the refunded order left the 60-day window
    assert winner(cheap.product) == cheap.pk
    assert Seller.objects.get(pk=cheap.seller_id).buy_box_eligible
    assert "win the buy box again" in mail.outbox[-1].subject


def test_shipping_without_tracking_and_late_are_rates_too(two_offers):
    cheap, _dear = two_offers
    order = place(cart_with((cheap, 1))).order
    package = Package.objects.get(order=order)
    assert package.estimated_earliest is not None
    late = timezone.make_aware(datetime.combine(package.estimated_earliest + timedelta(days=1), time(12)))
    with time_machine.travel(late), committed():  # after the earliest promised delivery day
        ship(package, tracking_number="N/A")  # a number no carrier gives: not a valid tracking
        services.health_compute()
    health = SellerHealth.objects.get(seller=cheap.seller)
    assert health.valid_tracking_rate == Decimal("0.00")
    assert health.late_shipment_rate == Decimal("100.00")
    assert not health.eligible
    assert "valid tracking rate 0.00% (target: at least 95.00%)" in health.problems


def test_too_few_orders_are_not_judged_and_one_row_per_day(two_offers, settings):
    cheap, _dear = two_offers
    settings.FINANCE_HEALTH_MIN_ORDERS = 10
    order = place(cart_with((cheap, 1))).order
    ship_and_deliver(order)
    with committed():
        orders_services.order_refund(order=order)
    services.health_compute()
    services.health_compute()
    rows = SellerHealth.objects.filter(seller=cheap.seller)
    assert rows.count() == 1
    assert rows.get().eligible  # 1 order: not enough to judge
    # and the seller centre says so, rather than "Outside target" beside a buy box still won
    client = Client()
    client.force_login(seller_member(cheap.seller, role="staff"))
    page = client.get(reverse("seller-centre")).content.decode()
    assert "Not judged yet: fewer than 10 orders" in page
    assert "Outside target" not in page


def test_each_seller_sees_only_their_own_health(client, two_offers):
    cheap, dear = two_offers
    services.health_compute()
    client.force_login(seller_member(cheap.seller, role="staff"))
    page = client.get(reverse("admin:finance_sellerhealth_changelist"))
    assert page.status_code == 200
    assert [row.seller_id for row in page.context["cl"].result_list] == [cheap.seller_id]
    other = SellerHealth.objects.get(seller=dear.seller)
    assert client.get(reverse("admin:finance_sellerhealth_change", args=[other.pk])).status_code in (302, 404)
    assert SellerFactory()  # a seller without orders is healthy
