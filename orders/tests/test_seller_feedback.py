"""Buyers rate the seller after delivery, once per order and seller; the seller's rating is the
average of that feedback (never typed in) and ranks its offers in the buy box."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.exceptions import ApplicationError, Conflict, NotFound
from orders import services
from orders.models import Package, SellerFeedback
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, SellerFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered():
    """A buyer's order from one seller, shipped and delivered."""
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, price=Decimal("10.00"), fulfillment_channel="merchant")
    stock(offer, 20)
    buyer = UserFactory()
    order = place(cart_with((offer, 1), user=buyer), user=buyer).order

    def deliver(order):
        package = Package.objects.get(order=order)
        with committed():
            ship(package, tracking_number="1Z")
            services.package_deliver(package=Package.objects.get(pk=package.pk))

    deliver(order)
    return buyer, seller, order, offer, deliver


def test_the_rating_is_the_average_of_the_feedback(delivered):
    buyer, seller, order, offer, deliver = delivered
    with committed():
        services.seller_feedback_leave(order=order, seller_id=seller.pk, user=buyer, rating=4, comment="Well packed")
    seller.refresh_from_db()
    assert (seller.rating, seller.rating_count) == (Decimal("4.00"), 1)
    second = place(cart_with((offer, 1), user=buyer), key="second", user=buyer).order
    deliver(second)
    with committed():
        services.seller_feedback_leave(order=second, seller_id=seller.pk, user=buyer, rating="1")
    seller.refresh_from_db()
    assert (seller.rating, seller.rating_count) == (Decimal("2.50"), 2)


def test_once_per_order_and_seller_and_only_after_delivery(delivered):
    buyer, seller, order, offer, _deliver = delivered
    services.seller_feedback_leave(order=order, seller_id=seller.pk, user=buyer, rating=5)
    with pytest.raises(Conflict):
        services.seller_feedback_leave(order=order, seller_id=seller.pk, user=buyer, rating=1)
    pending = place(cart_with((offer, 1), user=buyer), key="pending", user=buyer).order
    with pytest.raises(ApplicationError, match="delivered"):
        services.seller_feedback_leave(order=pending, seller_id=seller.pk, user=buyer, rating=5)
    for bad in (0, 6, "x", None, "4.5"):
        with pytest.raises(ApplicationError):
            services.seller_feedback_leave(order=order, seller_id=SellerFactory().pk, user=buyer, rating=bad)
    assert SellerFeedback.objects.count() == 1


def test_the_buyer_rates_from_the_order_page_and_nobody_else_can(client, delivered):
    buyer, seller, order, _offer, _deliver = delivered
    url = reverse("orders:seller_feedback", args=[order.number, seller.pk])
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404  # another customer's order
    client.force_login(buyer)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert url in page
    bad = client.post(url, {"rating": "9"})
    assert bad.status_code == 200
    with committed():
        assert client.post(url, {"rating": "3", "comment": "Slow but fine"}).status_code == 302
    assert url not in client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert SellerFeedback.objects.get().comment == "Slow but fine"


def test_only_the_buyer_rates_their_order(delivered):
    _buyer, seller, order, _offer, _deliver = delivered
    with pytest.raises(NotFound):
        services.seller_feedback_leave(order=order, seller_id=seller.pk, user=UserFactory(), rating=1)
    assert not SellerFeedback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_rating_sent_twice_at_once_counts_once():
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, price=Decimal("10.00"), fulfillment_channel="merchant")
    stock(offer, 5)
    buyer = UserFactory()
    order = place(cart_with((offer, 1), user=buyer), user=buyer).order
    package = Package.objects.get(order=order)
    ship(package, tracking_number="1Z")
    services.package_deliver(package=Package.objects.get(pk=package.pk))
    results = race(lambda: services.seller_feedback_leave(order=order, seller_id=seller.pk, user=buyer, rating=2),
                   [()] * 4)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    seller.refresh_from_db()
    assert (seller.rating, seller.rating_count) == (Decimal("2.00"), 1)
