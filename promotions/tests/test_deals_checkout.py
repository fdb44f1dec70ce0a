"""Lightning deals through checkout: claimed at placement (30 buyers at once for 10 units), given
back when the payment is declined or the order is never paid, and a deal that sold out between
the review and the order, on the checkout pages and in the API."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from checkout import pricing
from checkout import services as checkout_services
from checkout.models import CartLine
from core.exceptions import ApplicationError
from fulfillment.models import StockItem
from orders.models import Order, OrderEvent
from payments.exceptions import PaymentUnavailable
from promotions import services
from promotions.models import Deal, DealClaim, Voucher, VoucherRedemption
from promotions.tests.deal_helpers import ADDRESS, DECLINED_CARD, GOOD_CARD, D, cart_with, make_deal, plain
from shop.strategy import Strategy
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, ProductFactory, shipping_method, stock


@pytest.fixture
def methods():
    shipping_method(channel="platform", price="0.00", code="free")


def place(cart, *, card=GOOD_CARD, expected_total=None, voucher_code="", email="ada@example.com"):
    with committed():  # a checkout request: its after-commit work has run when it returns
        return checkout_services.order_place(
            cart=cart, user=None, email=email, shipping_address=ADDRESS, payment_method=card,
            idempotency_key=uuid.uuid4().hex, expected_total=expected_total, voucher_code=voucher_code,
            buyer=Strategy(),
        )


def claim_elsewhere(deal, units):
    """Another shopper's order claims these units (between our review and our order), committed."""
    with committed():
        services.deals_claim(order_number=f"OTHER{uuid.uuid4().hex[:8]}", claims=[(deal.pk, units)])


@pytest.mark.django_db
def test_the_order_claims_its_deal_units_and_keeps_the_price(methods):
    offer = OfferFactory(price=D("20.00"), product=ProductFactory(title="Kettle"))
    stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=5)
    order = place(cart_with(offer, 2), expected_total=D("30.00")).order
    assert (order.subtotal, order.discount, order.total) == (D("40.00"), D("10.00"), D("30.00"))
    assert OrderEvent.objects.filter(order=order, message__contains="Lightning deal: 2 × Kettle at $15.00").exists()
    claim = DealClaim.objects.get()
    assert (claim.deal_id, claim.order_number, claim.quantity, claim.released_at) == (deal.pk, order.number, 2, None)
    assert Deal.objects.get(pk=deal.pk).claimed == 2


@pytest.mark.django_db
def test_a_declined_payment_gives_the_units_back(methods):
    offer = OfferFactory(price=D("20.00"))
    item = stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=2)
    cart = cart_with(offer, 2)
    with pytest.raises(ApplicationError, match="declined"):
        place(cart, card=DECLINED_CARD)
    assert Deal.objects.get(pk=deal.pk).claimed == 0
    assert DealClaim.objects.get().released_at is not None
    assert not Order.objects.exists()
    item.refresh_from_db()
    assert item.reserved == 0
    assert CartLine.objects.filter(cart=cart, quantity=2).exists()
    assert place(cart).order.discount == D("10.00")  # the units can be claimed again
    assert Deal.objects.get(pk=deal.pk).claimed == 2


@pytest.mark.django_db
def test_a_cancelled_order_gives_its_deal_units_and_its_voucher_use_back_once(methods):
    """One shopper could otherwise empty a deal for everyone by buying and cancelling."""
    from orders import services as orders_services

    offer = OfferFactory(price=D("20.00"))
    stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=2)
    Voucher.objects.create(code="ONCE", kind="fixed", value=1, max_uses=1)
    order = place(cart_with(offer, 2), voucher_code="ONCE").order
    assert (Deal.objects.get(pk=deal.pk).claimed, Voucher.objects.get().times_used) == (2, 1)
    with committed():
        orders_services.order_cancel(order=order, reason="Changed my mind")
    assert Deal.objects.get(pk=deal.pk).claimed == 0
    assert DealClaim.objects.get().released_at is not None
    assert (Voucher.objects.get().times_used, VoucherRedemption.objects.count()) == (0, 0)
    assert services.order_benefits_release(order_number=order.number) == 0  # a second delivery: nothing more
    assert Deal.objects.get(pk=deal.pk).claimed == 0
    again = place(cart_with(offer, 2), voucher_code="ONCE").order  # both can be had again
    assert again.discount == D("11.00")
    assert (Deal.objects.get(pk=deal.pk).claimed, Voucher.objects.get().times_used) == (2, 1)


@pytest.mark.django_db
def test_an_order_never_paid_gives_its_units_and_its_voucher_back_when_settled(methods, monkeypatch):
    offer = OfferFactory(price=D("20.00"))
    stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=3)
    Voucher.objects.create(code="SAVE1", kind="fixed", value=1, max_uses=1)

    def unreachable(**kwargs):
        raise PaymentUnavailable("The provider is unreachable.")

    monkeypatch.setattr(checkout_services.payment_services, "payment_authorize", unreachable)
    with pytest.raises(PaymentUnavailable):
        place(cart_with(offer, 3), voucher_code="SAVE1")
    order = Order.objects.get()
    assert Deal.objects.get(pk=deal.pk).claimed == 3  # the order waits for its payment with its units
    Order.objects.filter(pk=order.pk).update(placed_at=timezone.now() - timedelta(hours=1))
    assert checkout_services.settle_unpaid_orders()["discarded"] == 1
    assert Deal.objects.get(pk=deal.pk).claimed == 0
    assert DealClaim.objects.get().released_at is not None
    assert Voucher.objects.get().times_used == 0
    assert not VoucherRedemption.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_thirty_buyers_at_once_never_claim_more_than_ten(methods):
    offer = OfferFactory(price=D("10.00"), product=ProductFactory(title="Lamp"))
    item = stock(offer, 100)
    deal = make_deal(offer, price="6.00", cap=10)
    carts = [cart_with(offer) for _ in range(30)]
    reviewed = pricing.cart_price(lines=[pricing.LineInput(offer.pk, 1)]).total.amount  # what every buyer saw
    assert reviewed == D("6.00")
    results = race(lambda cart, email: place(cart, email=email, expected_total=reviewed),
                   [(cart, f"buyer{i}@example.com") for i, cart in enumerate(carts)], catch=(ApplicationError,))
    placed = [r for r in results if isinstance(r, checkout_services.PlacedOrder)]
    errors = [r for r in results if isinstance(r, ApplicationError)]
    assert len(placed) == 10, results
    assert len(errors) == 20
    # whether it lost the race at the claim or priced after the sell-out, a buyer is told why
    assert {e.code for e in errors} <= {"deal_sold_out", "price_changed"}, {(e.code, e.message) for e in errors}
    assert all("The lightning deal on “Lamp” has just sold out or ended" in e.message for e in errors)
    assert all(e.status_code == 409 for e in errors)
    deal.refresh_from_db()
    assert deal.claimed == 10
    assert DealClaim.objects.count() == 10
    assert Order.objects.count() == 10
    assert all(o.total == D("6.00") for o in Order.objects.all())
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (100, 10)  # nothing reserved for the refused ones
    assert CartLine.objects.count() == 20  # their carts are kept
    placed_carts = {r.order.number for r in placed}
    assert set(DealClaim.objects.values_list("order_number", flat=True)) == placed_carts


@pytest.mark.django_db
def test_sold_out_between_pricing_and_claim_rolls_the_whole_order_back(methods, monkeypatch):
    """The narrowest race: priced with the deal, then the last units go before our claim."""
    offer = OfferFactory(price=D("20.00"), product=ProductFactory(title="Kettle"))
    item = stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=3)
    Voucher.objects.create(code="SAVE1", kind="fixed", value=1, max_uses=1)
    real_cart_price = pricing.cart_price

    def price_then_sell_out(**kwargs):
        priced = real_cart_price(**kwargs)
        claim_elsewhere(deal, 2)
        return priced

    monkeypatch.setattr(checkout_services.pricing, "cart_price", price_then_sell_out)
    cart = cart_with(offer, 2)
    with pytest.raises(services.DealUnavailable) as refused:
        place(cart, expected_total=D("29.00"), voucher_code="SAVE1")
    assert refused.value.message == (
        "Only 1 unit is left at the lightning deal price on “Kettle”. Your order was not placed: please review "
        "the new total and confirm again."
    )
    assert not Order.objects.exists()
    item.refresh_from_db()
    assert item.reserved == 0
    assert Voucher.objects.get().times_used == 0
    assert Deal.objects.get(pk=deal.pk).claimed == 2  # only the other order's units
    assert CartLine.objects.filter(cart=cart, quantity=2).exists()


# --- pages and API ----------------------------------------------------------------------------


def review_form(client) -> dict:
    html = client.get("/checkout/review/").content.decode()
    fields = dict(re.findall(r'name="(expected_total|order_key)" value="([^"]*)"', html))
    return {**fields, "card_number": "4242 4242 4242 4242"}


@pytest.mark.django_db
def test_the_checkout_page_says_the_deal_sold_out_and_shows_the_new_total(client, methods):
    offer = OfferFactory(price=D("20.00"), product=ProductFactory(title="Kettle"))
    stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=2)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"})
    client.post("/checkout/", {**ADDRESS, "email": "ada@example.com"})
    form = review_form(client)
    assert form["expected_total"] == "30.00"
    claim_elsewhere(deal, 2)  # sold out while the shopper reads the review page
    response = client.post("/checkout/place/", form, follow=True)
    assert response.redirect_chain[-1][0] == "/checkout/review/"
    text = plain(response)
    assert "The lightning deal on “Kettle” has just sold out or ended; its price is now $20.00." in text
    assert "The total changed to $40.00" in text
    assert 'name="expected_total" value="40.00"' in response.content.decode()  # re-priced
    assert not Order.objects.exists()
    assert CartLine.objects.filter(quantity=2).exists()
    # confirming the new total places the order at the full price
    response = client.post("/checkout/place/", review_form(client), follow=True)
    assert Order.objects.get().total == D("40.00")


@pytest.mark.django_db
def test_the_checkout_page_shows_a_lost_race_at_the_claim(client, methods, monkeypatch):
    offer = OfferFactory(price=D("20.00"), product=ProductFactory(title="Kettle"))
    stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=2)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    client.post("/checkout/", {**ADDRESS, "email": "ada@example.com"})
    form = review_form(client)
    real_claim = services.deals_claim

    def others_first(**kwargs):
        # Another order takes the last units just before ours (in our transaction here, so it is
        # rolled back with it: this test is about the message; the thirty-buyer test is the race).
        real_claim(order_number="OTHER", claims=[(deal.pk, 2)])
        return real_claim(**kwargs)

    monkeypatch.setattr(checkout_services.promotions_services, "deals_claim", others_first)
    response = client.post("/checkout/place/", form, follow=True)
    assert "The lightning deal on “Kettle” has just sold out or ended; its price is now $20.00. Your order was " \
           "not placed" in plain(response)
    assert response.redirect_chain[-1][0] == "/checkout/review/"
    assert not Order.objects.exists()
    assert CartLine.objects.filter(quantity=1).exists()


@pytest.mark.django_db
def test_the_api_answers_409_with_the_reason(client, methods, monkeypatch):
    offer = OfferFactory(price=D("20.00"), product=ProductFactory(title="Kettle"))
    stock(offer, 10)
    deal = make_deal(offer, price="15.00", cap=4)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    body = {"email": "ada@example.com", "shipping_address": ADDRESS, "payment_method": GOOD_CARD,
            "expected_total": "15.00"}
    claim_elsewhere(deal, 4)
    changed = client.post("/api/v1/checkout/orders/", body, content_type="application/json",
                          HTTP_IDEMPOTENCY_KEY="k1")
    assert changed.status_code == 409
    error = changed.json()["error"]
    assert error["code"] == "price_changed"
    assert error["message"].startswith("The lightning deal on “Kettle” has just sold out or ended")
    assert error["fields"] == {"expected_total": ["20.00"]}

    with committed():
        services.deals_release(order_number=DealClaim.objects.get().order_number)
    real_cart_price = pricing.cart_price

    def price_then_sell_out(**kwargs):
        priced = real_cart_price(**kwargs)
        claim_elsewhere(deal, 4)
        return priced

    monkeypatch.setattr(checkout_services.pricing, "cart_price", price_then_sell_out)
    raced = client.post("/api/v1/checkout/orders/", body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="k2")
    assert raced.status_code == 409
    assert raced.json()["error"]["code"] == "deal_sold_out"
    assert "Your order was not placed" in raced.json()["error"]["message"]
    assert not Order.objects.exists()
    assert StockItem.objects.get(offer=offer).reserved == 0
