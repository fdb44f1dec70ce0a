"""A whole purchase across contexts: place an order, e-mails, the customer's and a guest's order
pages, cancelling (stock back, payment released), and what sellers see in admin."""

import re
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.db.models import Sum

from checkout import services
from checkout.models import Cart, CartLine
from fulfillment.models import StockItem, StockMovement
from orders.models import Order
from payments.models import Payment, PaymentStatus
from shop.strategy import Strategy
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, seller_member, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}


@pytest.fixture
def offers():
    shipping_method(channel="platform", price="0.00", code="free")
    shipping_method(channel="merchant", price="4.99", code="standard")
    a = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle")
    b = OfferFactory(price=Decimal("5.00"), fulfillment_channel="merchant", product__title="Tea Towel")
    stock(a, 5)
    stock(b, 5)
    return a, b


def buy(offers, user=None, email="ada@example.com"):
    cart = Cart.objects.create(user=user)
    for offer in offers:
        CartLine.objects.create(cart=cart, offer=offer, quantity=1, price_when_added=offer.price)
    with committed():  # a checkout request: its after-commit work has run when it returns
        return services.order_place(
            cart=cart, user=user, email=email, shipping_address=ADDRESS, payment_method="4242424242424242",
            idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=user),
        ).order


def reserved(offer) -> int:
    return StockItem.objects.filter(offer=offer).aggregate(n=Sum("reserved"))["n"]


def test_confirmation_email_has_text_html_and_a_working_guest_link(client, offers):
    order = buy(offers)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert order.number in message.subject
    assert "Blue Kettle" in message.body
    assert "$29.99" in message.body  # 25.00 + 4.99 shipping
    assert message.alternatives[0][1] == "text/html"
    link = re.search(r"http://\S+/orders/guest/\?t=\S+", message.body).group(0)
    page = client.get(link.replace("http://127.0.0.1:8000", ""), follow=True)
    assert page.status_code == 200
    assert page.redirect_chain == [(f"/orders/guest/{order.number}/", 303)]
    assert order.number in page.content.decode()


def test_an_order_email_reads_the_order_in_four_queries(offers, django_assert_num_queries):
    """The confirmation goes out for every order, in a worker: the order, its packages, their
    lines and its discounts, whatever the order's size (no history, no refunds: it shows neither)."""
    from orders.tasks import send_order_email

    order = buy(offers)
    mail.outbox.clear()
    with django_assert_num_queries(4):
        assert send_order_email.run(order.pk, "confirmation")
    assert [m.subject for m in mail.outbox] == [f"Your Bazaar order {order.number}"]
    assert "Blue Kettle" in mail.outbox[0].body
    assert not send_order_email.run(order.pk + 1000, "confirmation")  # an order gone meanwhile: nothing sent


def test_guest_cancels_before_shipping_stock_returns_and_payment_is_released(client, offers):
    order = buy(offers)
    link = re.search(r"/orders/guest/\?t=\S+", mail.outbox[0].body).group(0)
    assert client.get(link).status_code == 303
    assert reserved(offers[0]) == 1
    # The stock ledger names the order by its number, reserving and releasing alike.
    reserving = StockMovement.objects.filter(kind=StockMovement.Kind.RESERVE, stock_item__offer=offers[0])
    assert [m.reference for m in reserving] == [f"order:{order.number}"]
    with committed():
        response = client.post(f"/orders/guest/{order.number}/cancel/", {"email": "ADA@example.com"}, follow=True)
    assert "Your order is cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert reserved(offers[0]) == 0
    assert reserved(offers[1]) == 0
    assert Payment.objects.get(reference=order.number).status == PaymentStatus.CANCELLED
    assert "cancelled" in mail.outbox[-1].subject
    # cancelling twice is refused with a message that says why (it once claimed something had shipped)
    response = client.post(f"/orders/guest/{order.number}/cancel/", {"email": "ada@example.com"}, follow=True)
    assert "This order is already cancelled." in response.content.decode()
    assert "shipped" not in response.content.decode()


def test_a_shipped_order_cannot_be_cancelled(offers):
    order = buy(offers)
    order.packages.update(status="shipped")
    from orders import services

    with pytest.raises(services.IllegalTransition):
        services.order_cancel(order=order)
    assert reserved(offers[0]) == 1


def test_customers_see_their_orders_and_never_anothers(client, offers):
    alice, bob = UserFactory(), UserFactory()
    order = buy(offers, user=alice, email=alice.email)
    client.force_login(alice)
    assert order.number in client.get("/orders/").content.decode()
    assert order.number in client.get("/account/").content.decode()
    assert client.get(f"/orders/{order.number}/").status_code == 200
    client.force_login(bob)
    assert order.number not in client.get("/orders/").content.decode()
    assert client.get(f"/orders/{order.number}/").status_code == 404
    assert client.post(f"/orders/{order.number}/cancel/").status_code == 404
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_free_shipping_reads_free_on_the_order_page_as_at_checkout(client, offers):
    alice = UserFactory()
    free, paid = buy(offers[:1], user=alice, email=alice.email), buy(offers, user=alice, email=alice.email)
    client.force_login(alice)
    assert "<dt>Shipping</dt><dd>Free</dd>" in client.get(f"/orders/{free.number}/").content.decode()
    assert "<dt>Shipping</dt><dd>$4.99</dd>" in client.get(f"/orders/{paid.number}/").content.decode()


def test_forged_guest_links_are_refused(client, offers):
    order = buy(offers)
    assert client.get("/orders/guest/?t=not-a-token", follow=True).status_code == 404
    assert client.get("/orders/guest/not-a-token/").status_code == 404
    assert client.post("/orders/guest/not-a-token/cancel/").status_code == 404
    # the order's number alone (no link opened in this browser) shows nothing and cancels nothing
    assert client.get(f"/orders/guest/{order.number}/").status_code == 404
    assert client.post(f"/orders/guest/{order.number}/cancel/", {"email": "ada@example.com"}).status_code == 404
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_sellers_see_only_their_own_packages_and_lines_in_admin(client, offers):
    order = buy(offers)
    mine = offers[1].seller
    client.force_login(seller_member(mine))
    packages = client.get("/admin/orders/package/")
    assert packages.status_code == 200
    lines = client.get("/admin/orders/orderline/").content.decode()
    assert "Tea Towel" in lines
    assert "Blue Kettle" not in lines
    assert client.get("/admin/orders/order/").status_code == 403
    other_line = order.lines.get(product_title="Blue Kettle")
    response = client.get(f"/admin/orders/orderline/{other_line.pk}/change/")
    assert response.status_code in (302, 403, 404)
    assert "Blue Kettle" not in response.content.decode()
