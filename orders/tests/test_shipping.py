"""Getting an order through its life: ship package by package (stock leaves the warehouse, the
payment is captured once, the customer is told), deliver, complete; what is refused on the way;
sellers shipping their own packages in admin; the beat task completing old delivered orders."""

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from checkout import services as checkout_services
from checkout.models import Cart, CartLine
from fulfillment.models import StockItem, StockMovement
from orders import services, tasks
from orders.models import Order, OrderEvent, OrderReservation, Package
from payments.models import Payment, PaymentStatus
from shop.strategy import Strategy
from tests.buying import ship
from tests.commit import committed
from tests.factories import UserFactory, seller_member, staff_user

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}
S = Order.Status


def buy(offers, quantity=2):
    cart = Cart.objects.create()
    for offer in offers:
        CartLine.objects.create(cart=cart, offer=offer, quantity=quantity, price_when_added=offer.price)
    with committed():  # a checkout request: its after-commit work has run when it returns
        return checkout_services.order_place(
            cart=cart, user=None, email="ada@example.com", shipping_address=ADDRESS, payment_method="4242424242424242",
            idempotency_key=uuid.uuid4().hex, buyer=Strategy(),
        ).order


def counts(offer) -> tuple[int, int]:
    row = StockItem.objects.filter(offer=offer).aggregate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    return row["on_hand"], row["reserved"]


def package_of(order, offer) -> Package:
    return order.packages.get(seller=offer.seller, fulfillment_channel=offer.fulfillment_channel)


def payment(order) -> Payment:
    return Payment.objects.get(reference=order.number)


def test_an_order_goes_from_paid_to_completed(offers):
    kettle, towel = offers
    order = buy(offers)
    assert order.status == S.PAID
    assert counts(kettle) == (5, 2)
    first, second = package_of(order, kettle), package_of(order, towel)

    with committed():  # the payment is captured and the customer told after the commit
        ship(first, tracking_number=" 1Z999 ")
    order.refresh_from_db()
    first.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED
    assert first.status == Package.Status.SHIPPED
    assert first.tracking_number.startswith("BZT")  # Bazaar's package: its label's number, not a typed one
    assert first.shipped_at is not None
    assert counts(kettle) == (3, 0)  # on hand and reserved both down
    assert counts(towel) == (5, 2)  # the other package's stock is still held
    ships = StockMovement.objects.filter(kind=StockMovement.Kind.SHIP)
    assert list(ships.values_list("on_hand_delta", "reserved_delta", "reference")) == [
        (-2, -2, f"ship:{order.number}")
    ]
    assert OrderReservation.objects.get(order=order, offer_id=kettle.pk).released
    assert not OrderReservation.objects.get(order=order, offer_id=towel.pk).released
    assert payment(order).status == PaymentStatus.CAPTURED
    assert payment(order).captured_amount == order.total
    shipped_mail = mail.outbox[-1]
    assert "on its way" in shipped_mail.subject
    assert first.tracking_number in shipped_mail.body
    assert first.tracking_number in shipped_mail.alternatives[0][0]

    with committed():
        ship(second)
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert counts(towel) == (3, 0)
    assert ships.count() == 2
    # captured once: the second shipment does not capture again
    assert payment(order).status == PaymentStatus.CAPTURED
    assert Payment.objects.filter(reference=order.number).count() == 1

    services.package_deliver(package=first)
    order.refresh_from_db()
    assert order.status == S.SHIPPED  # one package still on its way
    services.package_deliver(package=second)
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert all(p.delivered_at for p in order.packages.all())

    services.order_complete(order=order)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    statuses = list(OrderEvent.objects.filter(order=order).order_by("pk").values_list("to_status", flat=True))
    # the first delivery is a note (the order stays shipped), the second moves the order
    assert statuses == ["placed", "paid", "partially_shipped", "shipped", "shipped", "delivered", "completed"]


def test_capture_happens_once_even_if_run_again(offers):
    order = buy(offers)
    with committed():
        ship(package_of(order, offers[0]))
    assert services.order_capture_payment(order=order) == 0
    assert tasks.capture_order_payment.delay(order.pk).get() == 0
    assert payment(order).status == PaymentStatus.CAPTURED


def test_cancel_is_refused_once_a_package_shipped(offers):
    kettle, towel = offers
    order = buy(offers)
    ship(package_of(order, kettle))
    with pytest.raises(services.IllegalTransition):
        services.order_cancel(order=Order.objects.get(pk=order.pk))
    assert counts(kettle) == (3, 0)
    assert counts(towel) == (5, 2)
    assert Order.objects.get(pk=order.pk).status == S.PARTIALLY_SHIPPED


def test_a_cancelled_order_never_releases_shipped_units_and_cannot_ship(offers):
    kettle, _towel = offers
    order = buy(offers)
    services.order_cancel(order=order)
    assert counts(kettle) == (5, 0)
    with pytest.raises(services.IllegalTransition):
        ship(package_of(order, kettle))
    assert counts(kettle) == (5, 0)


def test_shipping_twice_is_refused_and_changes_nothing(offers):
    kettle, _towel = offers
    order = buy(offers)
    package = package_of(order, kettle)
    ship(package)
    label = Package.objects.get(pk=package.pk).tracking_number
    with pytest.raises(services.IllegalTransition):
        services.package_ship(package=package, tracking_number="T2")
    assert counts(kettle) == (3, 0)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.SHIP).count() == 1
    assert Package.objects.get(pk=package.pk).tracking_number == label


def test_illegal_steps_are_refused(offers):
    kettle, _towel = offers
    order = buy(offers)
    package = package_of(order, kettle)
    with pytest.raises(services.IllegalTransition):
        services.package_deliver(package=package)  # not shipped yet
    with pytest.raises(services.IllegalTransition):
        services.order_complete(order=order)  # not delivered yet
    ship(package)
    services.package_deliver(package=package)
    with pytest.raises(services.IllegalTransition):
        services.package_deliver(package=package)
    with pytest.raises(services.IllegalTransition):
        services.package_set_tracking(package=package, tracking_number="late")


def test_the_order_page_shows_tracking_and_dates(client, offers):
    _kettle, towel = offers
    order = buy(offers)
    ship(package_of(order, towel), tracking_number="1Z-TRACK")  # the seller's own, with UPS
    services.package_deliver(package=package_of(order, towel))
    from orders import selectors

    page = client.get(selectors.guest_link_path(order=order), follow=True).content.decode()
    assert "Tracking number (UPS): <strong>1Z-TRACK</strong>" in page
    assert "Shipped on" in page
    assert "Delivered on" in page


def test_old_delivered_orders_are_completed_once(offers):
    kettle, _towel = offers
    order = buy([kettle])
    package = package_of(order, kettle)
    ship(package)
    now = timezone.now()
    services.package_deliver(package=package, now=now)
    assert services.order_complete_delivered(now=now + timedelta(days=13)) == 0
    assert Order.objects.get(pk=order.pk).status == S.DELIVERED
    assert services.order_complete_delivered(now=now + timedelta(days=15)) == 1
    assert Order.objects.get(pk=order.pk).status == S.COMPLETED
    assert services.order_complete_delivered(now=now + timedelta(days=15)) == 0
    assert OrderEvent.objects.filter(order=order, to_status=S.COMPLETED).count() == 1


def test_the_beat_task_completes_orders_delivered_more_than_14_days_ago(offers):
    kettle, _towel = offers
    old, recent = buy([kettle], quantity=1), buy([kettle], quantity=1)
    for order, delivered in ((old, timezone.now() - timedelta(days=15)), (recent, timezone.now())):
        package = package_of(order, kettle)
        with time_machine.travel(delivered - timedelta(days=1)):  # it left the day before it arrived
            ship(package)
        services.package_deliver(package=package, now=delivered)
    assert tasks.complete_delivered_orders.delay().get() == 1
    assert tasks.complete_delivered_orders.delay().get() == 0
    assert Order.objects.get(pk=old.pk).status == S.COMPLETED
    assert Order.objects.get(pk=recent.pk).status == S.DELIVERED


class TestAdmin:
    def test_save_and_ship_from_the_package_page_in_one_step(self, client, offers):
        kettle, towel = offers
        order = buy(offers)
        mine, theirs = package_of(order, towel), package_of(order, kettle)
        client.force_login(seller_member(towel.seller))
        page = client.get(f"/admin/orders/package/{mine.pk}/change/").content.decode()
        assert 'name="_ship"' in page
        assert 'name="_ship"' not in client.get(f"/admin/orders/package/{theirs.pk}/change/").content.decode()
        response = client.post(f"/admin/orders/package/{mine.pk}/change/",
                               {"tracking_number": "SELLER-9", "_ship": "Save and mark shipped"}, follow=True)
        assert "Enter the carrier and the tracking number" in response.content.decode()  # no carrier named
        assert Package.objects.get(pk=mine.pk).status == Package.Status.PENDING
        with committed():
            response = client.post(f"/admin/orders/package/{mine.pk}/change/",
                                   {"tracking_number": "SELLER-9", "carrier_name": "DHL",
                                    "_ship": "Save and mark shipped"}, follow=True)
        assert "The package is shipped." in response.content.decode()
        mine.refresh_from_db()
        assert (mine.status, mine.tracking_number, mine.carrier_name) == (Package.Status.SHIPPED, "SELLER-9", "DHL")
        viewer = Client()  # view-only staff see the page without the button and cannot ship
        viewer.force_login(staff_user("orders.view_package", "orders.change_package"))
        assert 'name="_ship"' not in viewer.get(f"/admin/orders/package/{theirs.pk}/change/").content.decode()
        viewer.post(f"/admin/orders/package/{theirs.pk}/change/", {"tracking_number": "X", "_ship": "1"})
        assert Package.objects.get(pk=theirs.pk).status == Package.Status.PENDING

    def test_the_package_page_says_what_to_send_and_where_to_whoever_ships_it(self, client, offers):
        """A seller shipping its own package needs its contents and the delivery address on the
        package's page (the whole order's page is not theirs: it can hold other sellers' lines). A
        seller whose package Bazaar fulfils sees the contents, never the buyer's address."""
        kettle, towel = offers
        order = buy(offers)
        merchant, fulfilled = package_of(order, towel), package_of(order, kettle)
        client.force_login(seller_member(towel.seller))
        page = client.get(f"/admin/orders/package/{merchant.pk}/change/").content.decode()
        slip = page.split('id="packing-slip"', 1)[1]
        assert all(part in slip for part in ("Tea Towel", towel.sku, "Ada Buyer", "1 Main St", "Springfield"))
        assert "Blue Kettle" not in slip
        assert order.number in page
        assert f"/admin/orders/order/{order.pk}/change/" not in page  # a page that would refuse them
        assert not re.search(r"field-seller[\" ]", page)  # the seller is named once (field-seller_name)
        assert page.count("field-seller_name") == 1
        assert client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 403

        client.force_login(seller_member(kettle.seller))
        page = client.get(f"/admin/orders/package/{fulfilled.pk}/change/").content.decode()
        slip = page.split('id="packing-slip"', 1)[1]
        assert "Blue Kettle" in slip
        assert not any(part in page for part in ("Tea Towel", "Ada Buyer", "1 Main St"))
        assert "Bazaar ships this package from its fulfilment centre" in slip

        staff = Client()
        staff.force_login(staff_user("orders.view_package", "orders.view_order"))
        page = staff.get(f"/admin/orders/package/{fulfilled.pk}/change/").content.decode()
        assert "Ada Buyer" in page.split('id="packing-slip"', 1)[1]
        assert f"/admin/orders/order/{order.pk}/change/" in page
        order_page = staff.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
        assert "Ada Buyer<br>1 Main St<br>12345 Springfield<br>" not in order_page  # US: city, then the code
        assert "Ada Buyer<br>1 Main St<br>Springfield 12345<br>United States" in order_page  # the country named
        assert "full_name" not in order_page  # an address, not the JSON it is kept as

    def test_a_seller_member_ships_their_own_package_but_never_confirms_delivery(self, client, offers):
        kettle, towel = offers
        order = buy(offers)
        mine, theirs = package_of(order, towel), package_of(order, kettle)
        client.force_login(seller_member(towel.seller))
        change = client.get(f"/admin/orders/package/{mine.pk}/change/")
        assert change.status_code == 200
        response = client.post(f"/admin/orders/package/{mine.pk}/change/",
                               {"tracking_number": "SELLER-1", "carrier_name": "USPS"})
        assert response.status_code == 302
        assert Package.objects.get(pk=mine.pk).tracking_number == "SELLER-1"

        response = client.post(
            "/admin/orders/package/", {"action": "ship_packages", "_selected_action": [mine.pk]}, follow=True
        )
        assert response.status_code == 200
        mine.refresh_from_db()
        assert (mine.status, mine.tracking_number) == (Package.Status.SHIPPED, "SELLER-1")
        assert counts(towel) == (3, 0)
        assert Package.objects.get(pk=theirs.pk).status == Package.Status.PENDING
        event = OrderEvent.objects.filter(order=order).order_by("pk").last()
        assert event.to_status == S.PARTIALLY_SHIPPED
        assert event.actor.email == response.wsgi_request.user.email

        # shipping again shows a message, not an error page
        response = client.post(
            "/admin/orders/package/", {"action": "ship_packages", "_selected_action": [mine.pk]}, follow=True
        )
        assert response.status_code == 200
        assert "cannot be shipped" in response.content.decode()

        # once shipped the tracking number is read-only
        client.post(f"/admin/orders/package/{mine.pk}/change/", {"tracking_number": "CHANGED"})
        assert Package.objects.get(pk=mine.pk).tracking_number == "SELLER-1"

        client.post("/admin/orders/package/", {"action": "deliver_packages", "_selected_action": [mine.pk]})
        assert Package.objects.get(pk=mine.pk).status == Package.Status.SHIPPED  # the carrier or Bazaar confirms

    def test_a_seller_member_gets_nothing_for_another_sellers_package(self, client, offers):
        kettle, towel = offers
        order = buy(offers)
        theirs = package_of(order, kettle)
        client.force_login(seller_member(towel.seller))
        assert client.get(f"/admin/orders/package/{theirs.pk}/change/").status_code in (302, 403, 404)
        client.post(f"/admin/orders/package/{theirs.pk}/change/", {"tracking_number": "FORGED"})
        client.post("/admin/orders/package/", {"action": "ship_packages", "_selected_action": [theirs.pk]})
        theirs.refresh_from_db()
        assert (theirs.status, theirs.tracking_number) == (Package.Status.PENDING, "")
        assert counts(kettle) == (5, 2)
        assert Order.objects.get(pk=order.pk).status == S.PAID
        assert payment(order).status == PaymentStatus.AUTHORIZED

    def test_staff_mark_an_order_completed_and_errors_are_messages(self, admin_client, offers):
        kettle, _towel = offers
        order = buy([kettle])
        response = admin_client.post(
            "/admin/orders/order/", {"action": "complete_orders", "_selected_action": [order.pk]}, follow=True
        )
        assert response.status_code == 200
        assert "can be completed" in response.content.decode()
        package = package_of(order, kettle)
        ship(package)
        services.package_deliver(package=package)
        admin_client.post("/admin/orders/order/", {"action": "complete_orders", "_selected_action": [order.pk]})
        assert Order.objects.get(pk=order.pk).status == S.COMPLETED


def test_a_customer_account_order_is_shipped_too(offers):
    user = UserFactory()
    cart = Cart.objects.create(user=user)
    CartLine.objects.create(cart=cart, offer=offers[0], quantity=1, price_when_added=offers[0].price)
    order = checkout_services.order_place(
        cart=cart, user=user, email=user.email, shipping_address=ADDRESS, payment_method="4242424242424242",
        idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=user),
    ).order
    ship(order.packages.get())
    assert Order.objects.get(pk=order.pk).status == S.SHIPPED


def test_a_package_ships_only_with_its_proof_of_shipping(offers):
    kettle, towel = offers  # Bazaar fulfils the kettle; the towel's seller ships it
    order = buy(offers)
    platform, merchant = package_of(order, kettle), package_of(order, towel)
    with pytest.raises(services.ApplicationError, match="Buy the label first"):
        services.package_ship(package=platform, tracking_number="1Z999AA10123456784")  # a typed number: no
    with pytest.raises(services.ApplicationError, match="carrier and the tracking number"):
        services.package_ship(package=merchant, tracking_number="1Z999AA10123456784")  # which carrier?
    with pytest.raises(services.ApplicationError, match="carrier and the tracking number"):
        services.package_ship(package=merchant, carrier_name="UPS")  # which parcel?
    assert set(Package.objects.filter(order=order).values_list("status", flat=True)) == {Package.Status.PENDING}
    assert counts(kettle) == (5, 2)  # nothing left the warehouses
    assert counts(towel) == (5, 2)

    services.package_ship(package=merchant, tracking_number=" 1Z999AA10123456784 ", carrier_name=" UPS ")
    merchant.refresh_from_db()
    assert (merchant.status, merchant.tracking_number, merchant.carrier_name) == (
        Package.Status.SHIPPED, "1Z999AA10123456784", "UPS")
    services.package_buy_label(package=platform)
    services.package_ship(package=platform, tracking_number="TYPED-OVER")  # the label's number stands
    platform.refresh_from_db()
    assert platform.status == Package.Status.SHIPPED
    assert platform.tracking_number.startswith("BZT")


@pytest.mark.parametrize(("number", "valid"), [
    ("1Z999AA10123456784", True), ("9400111899223197428490", True), ("JD014600006281231234", True),
    ("N/A", False), ("123", False), ("sent-today", False), ("ABCDEFGHIJ", False), ("1Z 999 AA1", False),
])
def test_valid_tracking_counts_only_numbers_a_carrier_could_have_given(offers, number, valid):
    from orders import selectors

    _kettle, towel = offers
    order = buy([towel], quantity=1)
    ship(package_of(order, towel), tracking_number=number)
    perf = selectors.seller_performance(defect_since=timezone.now() - timedelta(days=1),
                                        cancel_since=timezone.now() - timedelta(days=1),
                                        shipping_since=timezone.now() - timedelta(days=1))[towel.seller_id]
    assert (perf.shipped, perf.tracked) == (1, 1 if valid else 0)


def test_a_package_is_never_delivered_before_it_shipped(offers):
    kettle, _towel = offers
    package = package_of(buy([kettle], quantity=1), kettle)
    ship(package)
    package.refresh_from_db()
    delivered = services.package_deliver(package=package, now=package.shipped_at - timedelta(days=3))
    assert delivered.delivered_at == package.shipped_at  # a carrier clock behind ours: not before it left
