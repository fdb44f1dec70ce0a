"""Least privilege in the orders admin: every action that moves money or stock needs its own
permission (a view-only or "change order" staff member neither sees it nor runs it with a forged
POST), and a seller's members ship or deliver only their own seller's merchant packages
(invariant 7), in admin and in the services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.exceptions import PermissionDenied
from orders import services
from orders.models import Order, OrderEvent, Package
from orders.tests.test_shipping import buy, counts, package_of, payment
from payments.models import PaymentStatus
from tests.buying import ship
from tests.commit import committed
from tests.factories import (
    admin_action,
    admin_actions,
    seller_member,
    staff_user,
)

pytestmark = pytest.mark.django_db
S = Order.Status
ORDERS, PACKAGES = "/admin/orders/order/", "/admin/orders/package/"


def _delivered(order, offer_list) -> Order:
    with committed():  # shipping captures the payment after the commit
        for offer in offer_list:
            package = package_of(order, offer)
            ship(package)
            services.package_deliver(package=package)
    return Order.objects.get(pk=order.pk)


def _snapshot(order, offer_list) -> tuple:
    """What a money or stock action would change: order status, payment, stock, history."""
    order.refresh_from_db()
    pay = payment(order)
    return (order.status, pay.status, pay.captured_amount, pay.refunded_amount,
            tuple(counts(o) for o in offer_list), OrderEvent.objects.filter(order=order).count())


# --- orders: cancel, refund, complete -------------------------------------------------------------

ORDER_ACTIONS = [
    # action, its permission, whether the order must be delivered first, the status it leads to
    pytest.param("cancel_orders", "orders.cancel_order", False, S.CANCELLED, id="cancel"),
    pytest.param("refund_orders", "orders.refund_order", False, S.REFUNDED, id="refund"),
    pytest.param("complete_orders", "orders.complete_order", True, S.COMPLETED, id="complete"),
]


def test_view_only_staff_sees_no_order_actions(client, offers):
    buy(offers)
    client.force_login(staff_user("orders.view_order"))
    response = client.get(ORDERS)
    assert response.status_code == 200
    assert admin_actions(response) == set()


def test_change_order_alone_offers_no_money_action(client, offers):
    buy(offers)
    client.force_login(staff_user("orders.view_order", "orders.change_order"))
    assert admin_actions(client.get(ORDERS)) == {"revoke_guest_links"}  # moves no money


@pytest.mark.parametrize(("action", "perm", "delivered", "_to"), ORDER_ACTIONS)
@pytest.mark.parametrize("held", [("orders.view_order",), ("orders.view_order", "orders.change_order")],
                         ids=["view-only", "view-and-change"])
def test_forged_order_action_without_its_permission_changes_nothing(client, offers, action, perm, delivered, _to,
                                                                    held):
    order = buy(offers)
    if delivered:
        order = _delivered(order, offers)
    before = _snapshot(order, offers)
    client.force_login(staff_user(*held))

    response = admin_action(client, ORDERS, action, order, follow=True)

    assert response.status_code == 200
    assert _snapshot(order, offers) == before


@pytest.mark.parametrize(("action", "perm", "delivered", "to"), ORDER_ACTIONS)
def test_the_specific_permission_allows_the_order_action(client, offers, action, perm, delivered, to):
    order = buy(offers)
    if delivered:
        order = _delivered(order, offers)
    client.force_login(staff_user("orders.view_order", perm))
    assert action in admin_actions(client.get(ORDERS))

    admin_action(client, ORDERS, action, order)

    assert Order.objects.get(pk=order.pk).status == to


def test_cancel_with_its_permission_gives_stock_and_money_back(client, offers):
    kettle, towel = offers
    order = buy(offers)
    client.force_login(staff_user("orders.view_order", "orders.cancel_order"))
    admin_action(client, ORDERS, "cancel_orders", order)
    assert counts(kettle) == (5, 0)
    assert counts(towel) == (5, 0)
    assert payment(order).status != PaymentStatus.AUTHORIZED


# --- packages: ship and deliver -------------------------------------------------------------------


def test_view_or_change_package_staff_cannot_ship_or_deliver(client, offers):
    kettle, _towel = offers
    order = buy(offers)
    package = package_of(order, kettle)
    before = _snapshot(order, offers)
    for held in (("orders.view_package",), ("orders.view_package", "orders.change_package")):
        client.force_login(staff_user(*held))
        assert admin_actions(client.get(PACKAGES)) == set()
        admin_action(client, PACKAGES, "ship_packages", package, follow=True)
        assert Package.objects.get(pk=package.pk).status == Package.Status.PENDING
        assert _snapshot(order, offers) == before  # nothing left the warehouse, nothing captured

    ship(package)
    for held in (("orders.view_package",), ("orders.view_package", "orders.change_package")):
        client.force_login(staff_user(*held))
        admin_action(client, PACKAGES, "deliver_packages", package, follow=True)
        assert Package.objects.get(pk=package.pk).status == Package.Status.SHIPPED


def test_platform_staff_with_ship_package_ship_and_deliver_bazaar_packages(client, offers):
    kettle, _towel = offers
    order = buy(offers)
    package = package_of(order, kettle)  # fulfilled by Bazaar
    client.force_login(staff_user("orders.view_package", "orders.ship_package"))
    assert {"ship_packages", "deliver_packages"} <= admin_actions(client.get(PACKAGES))

    refused = admin_action(client, PACKAGES, "ship_packages", package, follow=True)  # no label yet
    assert "Buy the label first" in refused.content.decode()
    assert Package.objects.get(pk=package.pk).status == Package.Status.PENDING
    client.post(reverse("admin:orders_package_label", args=[package.pk]), {"service": "ground"})
    admin_action(client, PACKAGES, "ship_packages", package)
    assert Package.objects.get(pk=package.pk).status == Package.Status.SHIPPED
    assert Package.objects.get(pk=package.pk).tracking_number.startswith("BZT")
    assert counts(kettle) == (3, 0)
    admin_action(client, PACKAGES, "deliver_packages", package)
    assert Package.objects.get(pk=package.pk).status == Package.Status.DELIVERED


class TestSellersShipOnlyTheirOwnMerchantPackages:
    def test_a_seller_cannot_ship_a_package_bazaar_fulfils_even_its_own(self, client, offers):
        kettle, _towel = offers  # the kettle's seller has it fulfilled by Bazaar
        order = buy(offers)
        package = package_of(order, kettle)
        before = _snapshot(order, offers)
        client.force_login(seller_member(kettle.seller, role="owner"))

        response = admin_action(client, PACKAGES, "ship_packages", package, follow=True)

        assert response.status_code == 200
        assert "only Bazaar staff mark them shipped" in response.content.decode()
        assert Package.objects.get(pk=package.pk).status == Package.Status.PENDING
        assert _snapshot(order, offers) == before
        assert payment(order).status == PaymentStatus.AUTHORIZED

    def test_a_seller_cannot_deliver_a_package_bazaar_fulfils(self, client, offers):
        kettle, _towel = offers
        order = buy(offers)
        package = package_of(order, kettle)
        ship(package)
        client.force_login(seller_member(kettle.seller, role="owner"))
        admin_action(client, PACKAGES, "deliver_packages", package)
        assert Package.objects.get(pk=package.pk).status == Package.Status.SHIPPED

    def test_a_seller_cannot_set_tracking_on_a_package_bazaar_fulfils(self, client, offers):
        kettle, _towel = offers
        package = package_of(buy(offers), kettle)
        client.force_login(seller_member(kettle.seller, role="owner"))
        url = f"{PACKAGES}{package.pk}/change/"
        page = client.get(url)
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        assert client.post(url, {"tracking_number": "FORGED"}).status_code == 403
        assert Package.objects.get(pk=package.pk).tracking_number == ""

    def test_a_seller_cannot_ship_another_sellers_package_with_a_forged_post(self, client, offers):
        kettle, towel = offers
        order = buy(offers)
        theirs = package_of(order, kettle)
        before = _snapshot(order, offers)
        services.package_set_tracking(package=package_of(order, towel), tracking_number="1Z999", carrier_name="UPS")
        client.force_login(seller_member(towel.seller, role="owner"))
        admin_action(client, PACKAGES, "ship_packages", theirs, package_of(order, towel))
        assert Package.objects.get(pk=theirs.pk).status == Package.Status.PENDING
        assert Package.objects.get(pk=package_of(order, towel).pk).status == Package.Status.SHIPPED
        assert counts(kettle) == before[4][0]

    @pytest.mark.parametrize("role", ["owner", "manager", "staff"])
    def test_every_role_ships_its_own_merchant_package(self, client, offers, role):
        _kettle, towel = offers
        order = buy(offers)
        mine = package_of(order, towel)
        member = seller_member(towel.seller, role=role)
        client.force_login(member)
        actions = admin_actions(client.get(PACKAGES))
        assert "ship_packages" in actions
        assert "deliver_packages" not in actions  # the carrier or Bazaar confirms delivery, never the seller
        refused = admin_action(client, PACKAGES, "ship_packages", mine, follow=True)
        assert "Enter the carrier and the tracking number" in refused.content.decode()
        assert Package.objects.get(pk=mine.pk).status == Package.Status.PENDING
        services.package_set_tracking(package=mine, tracking_number="1Z999", carrier_name="UPS")
        admin_action(client, PACKAGES, "ship_packages", mine)
        assert Package.objects.get(pk=mine.pk).status == Package.Status.SHIPPED
        admin_action(client, PACKAGES, "deliver_packages", mine)  # forged: refused
        assert Package.objects.get(pk=mine.pk).status == Package.Status.SHIPPED
        with pytest.raises(PermissionDenied, match="not by the seller"):
            services.package_deliver(package=Package.objects.get(pk=mine.pk), actor=member)
        assert Package.objects.get(pk=mine.pk).status == Package.Status.SHIPPED


def test_packages_shipped_without_a_label_are_taken_as_delivered_a_week_after_their_latest_day(offers):
    from datetime import timedelta

    from django.utils import timezone

    _kettle, towel = offers
    order = buy(offers)
    mine = package_of(order, towel)
    ship(mine, tracking_number="FREE-TEXT-1")
    latest = Package.objects.get(pk=mine.pk).estimated_latest
    assert services.packages_deliver_overdue(today=latest + timedelta(days=7)) == 0
    assert services.packages_deliver_overdue(today=latest + timedelta(days=8)) == 1
    delivered = Package.objects.get(pk=mine.pk)
    assert (delivered.status, timezone.localtime(delivered.delivered_at).date()) == (Package.Status.DELIVERED, latest)
    assert services.packages_deliver_overdue(today=latest + timedelta(days=9)) == 0


class TestServicesRefuseSellersOnOthersPackages:
    """The same rule in ``package_ship`` / ``package_deliver``, whoever calls them with an actor."""

    def test_platform_package_refused_to_its_sellers_member(self, offers):
        kettle, _towel = offers
        order = buy(offers)
        package = package_of(order, kettle)
        member = seller_member(kettle.seller, role="owner")
        with pytest.raises(PermissionDenied, match="only Bazaar staff"):
            ship(package, actor=member)
        assert Package.objects.get(pk=package.pk).status == Package.Status.PENDING
        assert counts(kettle) == (5, 2)
        ship(package, actor=staff_user("orders.ship_package"))
        with pytest.raises(PermissionDenied):
            services.package_deliver(package=package, actor=member)
        assert Package.objects.get(pk=package.pk).status == Package.Status.SHIPPED

    def test_another_sellers_package_refused(self, offers):
        kettle, towel = offers
        order = buy(offers)
        towel_package = package_of(order, towel)
        stranger = seller_member(kettle.seller, role="owner")
        with pytest.raises(PermissionDenied, match="your own seller"):
            ship(towel_package, actor=stranger)
        assert Package.objects.get(pk=towel_package.pk).status == Package.Status.PENDING
        assert counts(towel) == (5, 2)
        ship(towel_package, actor=seller_member(towel.seller))  # its own seller: fine
        assert Package.objects.get(pk=towel_package.pk).status == Package.Status.SHIPPED
