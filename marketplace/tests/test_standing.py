"""Suspending and reinstating a seller: offers stop selling at once, orders already placed go on,
every change is in the seller's history, and only platform staff do it."""

from decimal import Decimal

import pytest
from django.urls import reverse

from checkout import services as checkout_services
from core.exceptions import ApplicationError, Conflict, PermissionDenied
from marketplace import services
from marketplace.models import SellerStandingEvent
from orders.models import Package
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.factories import (
    OfferFactory,
    SellerFactory,
    admin_actions,
    house_seller,
    seller_member,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer():
    shipping_method(channel="merchant", price="4.99", code="standard")
    offer = OfferFactory(price=Decimal("10.00"), fulfillment_channel="merchant")
    stock(offer, 10)
    return offer


def test_a_suspended_sellers_offers_stop_selling_and_placed_orders_go_on(client, offer):
    order = place(cart_with((offer, 1))).order
    cart = cart_with((offer, 1))
    page = offer.product.get_absolute_url()
    assert offer.seller.name in client.get(page).content.decode()
    with committed():
        services.seller_suspend(seller=offer.seller, reason="Counterfeit complaints", actor=staff_user())
    assert offer.seller.name not in client.get(page).content.decode()  # the cached page follows at once
    with pytest.raises(ApplicationError, match="no longer available"):
        checkout_services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
    with committed():
        ship(Package.objects.get(order=order), tracking_number="1Z")  # goes on
    event = SellerStandingEvent.objects.get()
    assert (event.action, event.reason) == ("suspended", "Counterfeit complaints")
    with committed():
        services.seller_reinstate(seller=offer.seller, reason="Cleared after review")
    assert checkout_services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
    assert [e.action for e in SellerStandingEvent.objects.order_by("id")] == ["suspended", "reinstated"]


def test_suspension_needs_a_reason_staff_and_a_change(offer):
    with pytest.raises(ApplicationError):
        services.seller_suspend(seller=offer.seller, reason=" ")
    with pytest.raises(PermissionDenied):
        services.seller_suspend(seller=offer.seller, reason="Mine", actor=seller_member(offer.seller, role="owner"))
    with pytest.raises(Conflict):
        services.seller_reinstate(seller=offer.seller, reason="Already selling")
    with pytest.raises(ApplicationError, match="house seller"):
        services.seller_suspend(seller=house_seller(), reason="No")
    assert not SellerStandingEvent.objects.exists()


def test_staff_suspend_in_admin_with_a_reason(client, offer):
    other = SellerFactory()
    client.force_login(staff_user("marketplace.view_seller", "marketplace.suspend_seller"))
    url = reverse("admin:marketplace_seller_changelist")
    asked = client.post(url, {"action": "suspend", "_selected_action": [offer.seller.pk, other.pk]})
    assert asked.status_code == 200
    assert "Reason" in asked.content.decode()
    with committed():
        done = client.post(url, {"action": "suspend", "_selected_action": [offer.seller.pk, other.pk], "apply": "1",
                                 "reason": "Late shipments"})
    assert done.status_code == 302
    offer.seller.refresh_from_db()
    assert offer.seller.is_active is False
    assert SellerStandingEvent.objects.filter(reason="Late shipments").count() == 2


def test_sellers_cannot_suspend_or_reinstate(client, offer):
    client.force_login(seller_member(offer.seller, role="owner"))
    response = client.get(reverse("admin:marketplace_seller_changelist"))
    assert response.status_code == 200
    assert not {"suspend", "reinstate"} & admin_actions(response)
    client.force_login(staff_user("marketplace.view_seller", "marketplace.suspend_seller"))
    assert {"suspend", "reinstate"} <= admin_actions(client.get(reverse("admin:marketplace_seller_changelist")))
