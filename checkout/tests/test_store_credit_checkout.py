"""Paying with store credit at checkout (split tender): the credit pays what it covers, spent in
the order's transaction under the account's lock, the card the rest; a declined card, a
cancellation or a refund gives the credit back; two checkouts spending one balance at once never
overdraw it."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from core.exceptions import ApplicationError
from orders import refunds
from orders import services as orders_services
from orders.models import Order, OrderLine, Package
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.exceptions import PaymentDeclined
from payments.models import Payment
from shop.strategy import Strategy
from tests.buying import ADDRESS, DECLINED_CARD, GOOD_CARD, cart_with, ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def kettle():
    shipping_method(channel="merchant", price="0.00", code="free-m")
    offer = OfferFactory(price=Decimal("20.00"), fulfillment_channel="merchant")
    stock(offer, 10)
    return offer


def credit(user, amount) -> None:
    payment_services.store_credit_grant(user=user, amount=Decimal(amount), kind=payment_services.StoreCreditKind.REFUND,
                                        reference=f"gift:{uuid.uuid4().hex}")


def balance(user) -> Decimal:
    return payment_selectors.store_credit_balance(user=user).amount


def place(user, offer, *, card=GOOD_CARD, quantity=1, key=None):
    from checkout import services

    with committed():
        return services.order_place(
            cart=cart_with((offer, quantity), user=user), user=user, email="ada@example.com",
            shipping_address=ADDRESS, payment_method=card, idempotency_key=key or uuid.uuid4().hex,
            buyer=Strategy(user=user), use_store_credit=True).order


def test_credit_covering_the_total_needs_no_card(kettle):
    buyer = UserFactory()
    credit(buyer, "50.00")
    order = place(buyer, kettle, card="")
    assert order.status == Order.Status.PAID
    assert order.store_credit_used == order.total
    assert balance(buyer) == Decimal("50.00") - order.total
    assert not Payment.objects.filter(reference=order.number).exists()


@pytest.mark.parametrize(("held", "button", "covers"), [
    ("50.00", "Place order, paid with store credit", True),
    ("5.00", "Place order: store credit, then $15.00 by card", False),
])
def test_the_review_page_says_what_the_card_pays_once_the_credit_is_ticked(client, kettle, held, button, covers):
    buyer = UserFactory()
    credit(buyer, held)
    client.force_login(buyer)
    client.post("/cart/add/", {"offer": kettle.pk, "quantity": 1})
    client.post("/checkout/", {"email": "ada@example.com", **ADDRESS})
    page = client.get("/checkout/review/").content.decode()
    assert f'data-label-credit="{button}"' in page  # shown by the page's script when ticked
    assert ("data-credit-covers" in page) is covers  # then the card field hides


def test_the_card_pays_what_the_credit_does_not(kettle):
    buyer = UserFactory()
    credit(buyer, "5.00")
    order = place(buyer, kettle)
    assert (order.status, order.store_credit_used) == (Order.Status.PAID, Decimal("5.00"))
    assert Payment.objects.get(reference=order.number).amount == order.total - Decimal("5.00")
    assert balance(buyer) == 0
    credit(buyer, "1.00")
    with pytest.raises(ApplicationError, match="enter a card for the rest"):
        place(buyer, kettle, card="")


def test_a_declined_card_gives_the_credit_back_and_leaves_no_order(kettle):
    buyer = UserFactory()
    credit(buyer, "5.00")
    with pytest.raises(PaymentDeclined):
        place(buyer, kettle, card=DECLINED_CARD)
    assert balance(buyer) == Decimal("5.00")
    assert not Order.objects.exists()


def test_guests_cannot_use_store_credit(kettle):
    from checkout import services

    with pytest.raises(ApplicationError, match="Sign in"):
        services.order_place(cart=cart_with((kettle, 1)), user=None, email="g@example.com", shipping_address=ADDRESS,
                             payment_method=GOOD_CARD, idempotency_key="g", buyer=Strategy(), use_store_credit=True)


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_spending_one_balance_at_once_never_overdraw_it(kettle):
    buyer = UserFactory()
    credit(buyer, "25.00")  # covers one kettle with shipping, not two
    results = race(lambda key: place(buyer, kettle, card="", key=key), [("a",), ("b",)])
    placed = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(placed) == 1, results
    assert len(refused) == 1
    assert balance(buyer) == Decimal("25.00") - placed[0].total
    assert balance(buyer) >= 0
    assert Order.objects.count() == 1


def test_cancelling_gives_the_credit_back_and_releases_the_card(kettle):
    buyer = UserFactory()
    credit(buyer, "5.00")
    order = place(buyer, kettle)
    with committed():
        orders_services.order_cancel(order=order)
    assert balance(buyer) == Decimal("5.00")
    assert Payment.objects.get(reference=order.number).status == "cancelled"


def test_refunds_go_back_where_the_money_came_from_and_never_more(kettle):
    buyer = UserFactory()
    credit(buyer, "10.00")
    order = place(buyer, kettle, quantity=2)  # $40 and shipping: $10 credit, the rest by card
    with committed():
        ship(Package.objects.get(order=order))
        orders_services.package_deliver(package=Package.objects.get(order=order))
    line = OrderLine.objects.get(order=order)
    with committed():
        first = refunds.order_refund_partial(order=order, lines={line.pk: 1}, reason="Dented",
                                             idempotency_key="r1")
    paid = Payment.objects.get(reference=order.number)
    assert first.credit_amount == 0  # the card's part first
    assert paid.refunded_amount == first.amount
    with committed():
        orders_services.order_refund(order=Order.objects.get(pk=order.pk), reason="The rest")
    paid.refresh_from_db()
    assert paid.refunded_amount == paid.captured_amount  # the card got all it paid back
    assert balance(buyer) == Decimal("10.00")  # and the credit what it paid, once
    with committed():
        orders_services.order_return_payment(order=Order.objects.get(pk=order.pk), reason="refunded")  # a retry
    assert balance(buyer) == Decimal("10.00")


def test_a_partial_refund_beyond_what_the_card_paid_goes_back_to_the_credit(kettle):
    buyer = UserFactory()
    credit(buyer, "30.00")
    order = place(buyer, kettle, quantity=2)  # $40: $30 credit, $10 card
    with committed():
        ship(Package.objects.get(order=order))
    line = OrderLine.objects.get(order=order)
    with committed():
        done = refunds.order_refund_partial(order=order, lines={line.pk: 2}, reason="Both broken",
                                            idempotency_key="all")
    paid = Payment.objects.get(reference=order.number)
    assert paid.refunded_amount == paid.captured_amount == order.total - Decimal("30.00")
    assert done.credit_amount == done.amount - paid.captured_amount
    assert balance(buyer) == done.credit_amount
    with pytest.raises(ApplicationError, match="at most 0 more unit"):
        refunds.order_refund_partial(order=order, lines={line.pk: 1}, reason="Again", idempotency_key="again")


# --- gift cards typed at checkout ---------------------------------------------------------------


def gift_card(amount) -> str:
    return payment_services.gift_card_issue(amount=Decimal(amount), recipient_email="",
                                            reference=f"test:{uuid.uuid4().hex}").code


def place_with_card_code(user, offer, code, *, card=GOOD_CARD, quantity=1, key=None, credit_too=False):
    from checkout import services

    with committed():
        return services.order_place(
            cart=cart_with((offer, quantity), user=user), user=user, email="ada@example.com",
            shipping_address=ADDRESS, payment_method=card, idempotency_key=key or uuid.uuid4().hex,
            buyer=Strategy(user=user), gift_card_code=code, use_store_credit=credit_too).order


def card_balance(code) -> Decimal:
    found = payment_selectors.gift_card_balance(code=code)
    return found.balance.amount if found else Decimal("0.00")


def test_a_gift_card_pays_first_then_the_card_and_a_guest_may_use_one(kettle):
    code = gift_card("10.00")
    order = place_with_card_code(None, kettle, code)
    assert (order.status, order.gift_card_used) == (Order.Status.PAID, Decimal("10.00"))
    assert Payment.objects.get(reference=order.number).amount == order.total - Decimal("10.00")
    assert card_balance(code) == 0
    with pytest.raises(ApplicationError) as exc:
        place_with_card_code(None, kettle, code)  # used up
    assert exc.value.code == "invalid_gift_card"
    assert "gift_card_code" in exc.value.fields


def test_gift_card_store_credit_and_nothing_on_the_card(kettle):
    buyer = UserFactory()
    credit(buyer, "50.00")
    code = gift_card("10.00")
    order = place_with_card_code(buyer, kettle, code, card="", credit_too=True)
    assert order.gift_card_used == Decimal("10.00")
    assert order.store_credit_used == order.total - Decimal("10.00")
    assert not Payment.objects.filter(reference=order.number).exists()


def test_a_declined_card_gives_the_gift_card_back(kettle):
    code = gift_card("5.00")
    with pytest.raises(PaymentDeclined):
        place_with_card_code(None, kettle, code, card=DECLINED_CARD)
    assert card_balance(code) == Decimal("5.00")
    assert not Order.objects.exists()


def test_refunds_of_a_guest_order_go_back_to_the_card_then_onto_the_gift_card(kettle):
    code = gift_card("30.00")
    order = place_with_card_code(None, kettle, code, quantity=2)  # $40: $30 gift card, $10 card
    with committed():
        ship(Package.objects.get(order=order))
        orders_services.package_deliver(package=Package.objects.get(order=order))
    line = OrderLine.objects.get(order=order)
    with committed():
        done = refunds.order_refund_partial(order=order, lines={line.pk: 1}, reason="One broken",
                                            idempotency_key="one")
    paid = Payment.objects.get(reference=order.number)
    assert paid.refunded_amount == paid.captured_amount  # the card first, all of it
    assert done.gift_card_amount == done.amount - paid.captured_amount
    assert card_balance(code) == done.gift_card_amount
    with committed():
        orders_services.order_refund(order=Order.objects.get(pk=order.pk), reason="The rest")
    assert card_balance(code) == Decimal("30.00")  # everything it paid is back on it, once
    with committed():
        orders_services.order_return_payment(order=Order.objects.get(pk=order.pk), reason="refunded")
    assert card_balance(code) == Decimal("30.00")


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_with_one_gift_card_at_once_spend_it_once(kettle):
    code = gift_card("25.00")
    results = race(lambda key: place_with_card_code(None, kettle, code, card="", key=key), [("a",), ("b",)])
    placed = [r for r in results if isinstance(r, Order)]
    assert len(placed) == 1, results
    assert card_balance(code) == Decimal("25.00") - placed[0].total
