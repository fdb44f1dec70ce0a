"""Vouchers through checkout: pricing, place_order (also 30 buyers at once), the cart page, the API."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest

from checkout import pricing, services
from checkout.models import Cart, CartLine
from core.exceptions import ApplicationError
from orders.models import Order, OrderEvent
from promotions.models import Voucher, VoucherRedemption
from shop.strategy import Strategy
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, ProductFactory, UserFactory, shipping_method, stock

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}


@pytest.fixture
def methods():
    shipping_method(channel="platform", price="0.00", code="free")


def cart_with(offer, quantity=1) -> Cart:
    cart = Cart.objects.create()
    CartLine.objects.create(cart=cart, offer=offer, quantity=quantity, price_when_added=offer.price)
    return cart


def place(cart, *, email="ada@example.com", card=GOOD_CARD, voucher_code="SAVE10", user=None):
    with committed():  # a checkout request: its after-commit work has run when it returns
        return services.order_place(cart=cart, user=user, email=email, shipping_address=ADDRESS, payment_method=card,
                                    idempotency_key=uuid.uuid4().hex, voucher_code=voucher_code,
                                    buyer=Strategy(user=user))


GENERIC = "This code cannot be used for this order."


def plain(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.mark.django_db
def test_pricing_adds_the_voucher_as_an_explained_discount(methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    offer = OfferFactory(price=Decimal("12.50"))
    priced = pricing.cart_price(lines=[pricing.LineInput(offer.pk, 2)],
                                context=pricing.PricingContext(voucher_code="save10"))
    assert [(d.label, d.amount.amount) for d in priced.discounts] == [("Code SAVE10: 10% off", Decimal("2.50"))]
    assert priced.discount.amount == Decimal("2.50")
    assert priced.total.amount == Decimal("22.50")
    refused = pricing.cart_price(lines=[pricing.LineInput(offer.pk, 2)],
                                 context=pricing.PricingContext(voucher_code="NOPE", user=UserFactory()))
    assert refused.discount.amount == 0
    assert "not valid" in refused.voucher_error
    as_guest = pricing.cart_price(lines=[pricing.LineInput(offer.pk, 2)],
                                  context=pricing.PricingContext(voucher_code="NOPE"))
    assert as_guest.voucher_error == GENERIC


@pytest.mark.django_db
def test_the_order_keeps_the_discount_and_the_code(methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    offer = OfferFactory(price=Decimal("20.00"))
    stock(offer, 5)
    order = place(cart_with(offer, 2)).order
    assert (order.discount, order.total) == (Decimal("4.00"), Decimal("36.00"))
    assert order.lines.get().discount == Decimal("4.00")
    assert OrderEvent.objects.filter(order=order, message__contains="voucher SAVE10, $4.00 off").exists()
    assert VoucherRedemption.objects.get().order_number == order.number
    assert Voucher.objects.get().times_used == 1


@pytest.mark.django_db
def test_a_voucher_that_does_not_apply_stops_the_order_with_the_reason(methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10, minimum_spend=Decimal("100"))
    offer = OfferFactory(price=Decimal("20.00"))
    stock(offer, 5)
    customer = UserFactory()
    with pytest.raises(ApplicationError, match=r"Spend \$80.00 more"):
        place(cart_with(offer), user=customer, email=customer.email)
    with pytest.raises(ApplicationError, match=GENERIC):  # a guest is not told what the code needs
        place(cart_with(offer))
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_declined_payment_gives_the_use_back(methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10, max_uses=1)
    offer = OfferFactory(price=Decimal("20.00"))
    stock(offer, 5)
    with pytest.raises(ApplicationError, match="declined"):
        place(cart_with(offer), card=DECLINED_CARD)
    assert Voucher.objects.get().times_used == 0
    assert not VoucherRedemption.objects.exists()
    assert place(cart_with(offer)).order.discount == Decimal("2.00")


@pytest.mark.django_db(transaction=True)
def test_thirty_buyers_at_once_and_five_uses(methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10, max_uses=5)
    offer = OfferFactory(price=Decimal("10.00"))
    stock(offer, 100)
    carts = [cart_with(offer) for _ in range(30)]
    results = race(lambda cart, email: place(cart, email=email),
                   [(cart, f"buyer{i}@example.com") for i, cart in enumerate(carts)], catch=(ApplicationError,))
    placed = [r for r in results if isinstance(r, services.PlacedOrder)]
    errors = [r for r in results if isinstance(r, ApplicationError)]
    assert len(placed) == 5, results
    assert len(errors) == 25
    assert all(e.message == GENERIC for e in errors), {e.message for e in errors}  # guests: no reason given
    assert Order.objects.count() == 5
    assert all(o.discount == Decimal("1.00") for o in Order.objects.all())
    assert Voucher.objects.get().times_used == 5
    assert VoucherRedemption.objects.count() == 5


@pytest.mark.django_db
def test_the_cart_page_shows_the_discount_or_why_not(client, methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    offer = OfferFactory(price=Decimal("12.50"), product=ProductFactory(title="Blue Teapot"))
    stock(offer, 5)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"})
    page = plain(client.get("/cart/"))
    assert "Voucher code" in page
    response = client.post("/cart/voucher/", {"code": "save10"}, follow=True)
    text = plain(response)
    assert "Code SAVE10: 10% off: -$2.50" in text
    assert "Subtotal after discounts: $22.50" in text
    # htmx answers with the cart body
    response = client.post("/cart/voucher/", {"code": "NOPE"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f"Code NOPE does not apply: {GENERIC}" in plain(response)
    # a code that does not apply can be replaced straight away (the code box stays), or removed
    assert 'name="code"' in response.content.decode()
    assert "Remove code" in plain(response)
    response = client.post("/cart/voucher/", {"code": "SAVE10"}, follow=True)
    assert "Code SAVE10: 10% off: -$2.50" in plain(response)
    assert 'name="code"' not in response.content.decode()  # an applied code: only "Remove code"
    response = client.post("/cart/voucher/", {"remove": "1"}, follow=True)
    assert "does not apply" not in plain(response)
    assert "10% off" not in plain(response)
    assert client.post("/cart/voucher/", {"code": "x" * 5000}).status_code == 302


@pytest.mark.django_db
def test_the_api_places_an_order_with_a_voucher(client, methods):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    offer = OfferFactory(price=Decimal("10.00"))
    stock(offer, 5)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    body = {"email": "ada@example.com", "shipping_address": ADDRESS, "payment_method": GOOD_CARD}
    bad = client.post("/api/v1/checkout/orders/", {**body, "voucher_code": "NOPE"}, content_type="application/json",
                      HTTP_IDEMPOTENCY_KEY="k1")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == GENERIC
    good = client.post("/api/v1/checkout/orders/", {**body, "voucher_code": "save10"},
                       content_type="application/json", HTTP_IDEMPOTENCY_KEY="k2")
    assert good.status_code == 201, good.json()
    assert Order.objects.get().discount == Decimal("1.00")


@pytest.mark.django_db
def test_the_order_page_and_e_mail_count_a_discount_once(client, methods, mailoutbox):
    """Lines show price x units, which add up to the subtotal; the discount is its own row below,
    so no one reads it twice (once inside a line and again in the totals)."""
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    offer = OfferFactory(price=Decimal("20.00"), product__title="Copper Kettle")
    stock(offer, 5)
    user = UserFactory()
    order = place(cart_with(offer, 2), user=user).order
    client.force_login(user)
    page = plain(client.get(f"/orders/{order.number}/"))
    assert "Copper Kettle $20.00 2 $40.00" in page
    assert "Subtotal $40.00 Code SAVE10: 10% off -$4.00" in page
    assert "$36.00" not in page.split("Subtotal", 1)[0]  # no line shows the discounted amount
    confirmation = next(m for m in mailoutbox if order.number in m.subject)
    assert "2 x Copper Kettle  $40.00" in confirmation.body
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", confirmation.alternatives[0][0]))
    assert "2 × Copper Kettle $40.00" in html
