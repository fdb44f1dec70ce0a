"""Buying gift cards: a card (amount, recipient, day, message) goes in the cart beside products, the
order pays for it by card, and once the order is paid the card is issued and e-mailed on its day;
cancelling or refunding the order takes back a card nobody has used, and refuses once one has
been."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from checkout import pricing, selectors, services
from checkout.models import Cart, CartGiftCard
from core.exceptions import ApplicationError, Conflict, NotFound
from orders import refunds
from orders import selectors as orders_selectors
from orders import services as orders_services
from orders.models import Order, OrderGiftCard, OrderRefund
from payments import services as payment_services
from payments.models import GiftCard, Payment
from shop.strategy import Strategy
from tests.buying import ADDRESS, DECLINED_CARD, GOOD_CARD, cart_with, ship
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def kettle():
    shipping_method(channel="merchant", price="5.00", code="std-m")
    offer = OfferFactory(price=Decimal("20.00"), fulfillment_channel="merchant")
    stock(offer, 10)
    return offer


def add_card(cart, amount="50.00", email="ann@example.com", **kwargs):
    return services.cart_gift_card_add(cart=cart, amount=amount, recipient_email=email, **kwargs)


def place(cart, *, user=None, card=GOOD_CARD, key=None, **kwargs):
    with committed():
        return services.order_place(
            cart=cart, user=user, email="ada@example.com", shipping_address=ADDRESS, payment_method=card,
            idempotency_key=key or uuid.uuid4().hex, buyer=Strategy(user=user), **kwargs).order


def place_before_the_worker(cart):
    """Placed and paid (authorized), its after-commit work (issuing cards, capturing) not run yet."""
    return services.order_place(
        cart=cart, user=None, email="ada@example.com", shipping_address=ADDRESS, payment_method=GOOD_CARD,
        idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=None)).order


def price(cart) -> pricing.PricedCart:
    lines, context = selectors.cart_pricing_input(buyer=Strategy(user=None), user=None, cart=cart)
    return pricing.cart_price(lines=lines, context=context)


# --- in the cart -----------------------------------------------------------------------------


def test_a_gift_card_needs_a_recipient_an_allowed_amount_and_a_day_from_today():
    cart = Cart.objects.create()
    with pytest.raises(ApplicationError) as no_email:
        add_card(cart, email="")
    assert "recipient_email" in no_email.value.fields
    with pytest.raises(ApplicationError) as bad_amount:
        add_card(cart, amount="1.00")
    assert "amount" in bad_amount.value.fields
    with pytest.raises(ApplicationError) as junk_amount:
        add_card(cart, amount="lots")
    assert "amount" in junk_amount.value.fields
    with pytest.raises(ApplicationError) as past:
        add_card(cart, deliver_on=timezone.localdate() - timedelta(days=1))
    assert "deliver_on" in past.value.fields
    with pytest.raises(ApplicationError) as not_a_date:
        add_card(cart, deliver_on="31/12/2026")
    assert "deliver_on" in not_a_date.value.fields
    with pytest.raises(ApplicationError) as long_message:
        add_card(cart, message="x" * 501)
    assert "message" in long_message.value.fields
    assert not CartGiftCard.objects.exists()

    card = add_card(cart, amount="25", recipient_name="Ann", message="Happy birthday")
    assert (card.amount, card.deliver_on, card.currency) == (Decimal("25.00"), timezone.localdate(), "USD")


def test_a_cart_holds_a_limited_number_and_value_of_gift_cards(settings):
    settings.GIFT_CARDS_PER_CART, settings.GIFT_CARDS_MAX_PER_ORDER = 3, Decimal("250.00")
    cart = Cart.objects.create()
    add_card(cart, "100.00")
    add_card(cart, "100.00")
    with pytest.raises(Conflict) as too_much:
        add_card(cart, "100.00")
    assert too_much.value.code == "gift_cards_too_large"
    add_card(cart, "50.00")
    with pytest.raises(Conflict) as too_many:
        add_card(cart, "10.00")
    assert too_many.value.code == "too_many_gift_cards"
    assert CartGiftCard.objects.filter(cart=cart).count() == 3


def test_only_the_carts_own_gift_card_can_be_removed():
    mine, theirs = Cart.objects.create(), Cart.objects.create()
    their_card = add_card(theirs)
    with pytest.raises(NotFound):
        services.cart_gift_card_remove(cart=mine, gift_card_id=their_card.pk)
    with pytest.raises(NotFound):
        services.cart_gift_card_remove(cart=mine, gift_card_id="junk")
    services.cart_gift_card_remove(cart=theirs, gift_card_id=their_card.pk)
    assert not CartGiftCard.objects.exists()


def test_gift_cards_are_priced_at_their_amount_outside_discounts_tax_and_shipping(kettle):
    cart = cart_with((kettle, 1))
    before = price(cart)
    add_card(cart, "50.00")
    after = price(cart)
    assert after.subtotal == before.subtotal
    assert after.tax == before.tax
    assert after.shipping == before.shipping
    assert after.gift_cards_total.amount == Decimal("50.00")
    assert after.total.amount == before.total.amount + Decimal("50.00")
    only_cards = Cart.objects.create()
    add_card(only_cards, "25.00")
    priced = price(only_cards)
    assert not priced.is_empty
    assert priced.packages == []
    assert priced.total.amount == Decimal("25.00")


def test_a_guests_gift_cards_follow_them_when_they_sign_in(kettle):
    buyer = UserFactory()
    guest = cart_with((kettle, 1))
    add_card(guest)
    services.cart_merge(guest_cart=guest, user=buyer)
    mine = Cart.objects.get(user=buyer)
    assert list(CartGiftCard.objects.filter(cart=mine).values_list("recipient_email", flat=True)) == [
        "ann@example.com"]


# --- placing and issuing ---------------------------------------------------------------------


def test_an_order_of_gift_cards_only_is_charged_issued_emailed_and_completed():
    cart = Cart.objects.create()
    add_card(cart, "50.00", recipient_name="Ann", sender_name="Ada", message="Happy birthday!")
    order = place(cart)
    order.refresh_from_db()
    assert (order.total, order.gift_cards_total, order.subtotal, order.tax) == (
        Decimal("50.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))
    assert order.status == Order.Status.COMPLETED
    bought = OrderGiftCard.objects.get(order=order)
    assert bought.status == OrderGiftCard.Status.ISSUED
    card = bought.gift_card
    assert (card.initial_amount, card.balance, card.recipient_email, card.reference) == (
        Decimal("50.00"), Decimal("50.00"), "ann@example.com", bought.reference)
    assert Payment.objects.get(reference=order.number).status == "captured"
    [gift_mail] = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    code = re.search(r"[2-9A-Z]{4}(?:-[2-9A-Z]{4}){4}", gift_mail.body).group(0)
    assert "Happy birthday!" in gift_mail.body
    assert payment_services.gift_card_spend(code=code, amount="10.00", reference="order:other").amount == Decimal(
        "-10.00")
    assert not CartGiftCard.objects.filter(cart=cart).exists()  # the cart is emptied once paid


def test_a_card_for_a_later_day_is_issued_now_and_emailed_on_its_day():
    cart = Cart.objects.create()
    day = timezone.localdate() + timedelta(days=5)
    add_card(cart, deliver_on=day)
    order = place(cart)
    card = OrderGiftCard.objects.get(order=order).gift_card
    assert card.deliver_on == day
    assert card.delivered_at is None
    assert not [m for m in mail.outbox if m.to == ["ann@example.com"]]
    with time_machine.travel(timezone.now() + timedelta(days=5)), committed():
        assert payment_services.gift_card_deliver_due() == 1
    assert len([m for m in mail.outbox if m.to == ["ann@example.com"]]) == 1


def test_a_mixed_order_issues_its_card_at_once_and_ships_its_items_later(kettle):
    cart = cart_with((kettle, 2))
    add_card(cart, "25.00")
    order = place(cart)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.total == order.subtotal - order.discount + order.shipping + order.tax + Decimal("25.00")
    assert OrderGiftCard.objects.get(order=order).status == OrderGiftCard.Status.ISSUED
    assert Payment.objects.get(reference=order.number).captured_amount == order.total
    with committed():
        ship(order.packages.get())
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert Payment.objects.filter(reference=order.number).count() == 1  # captured once


def test_issuing_again_issues_nothing_more():
    cart = Cart.objects.create()
    add_card(cart)
    order = place(cart)
    with committed():
        assert orders_services.order_gift_cards_issue(order=Order.objects.get(pk=order.pk)) == 0
    assert GiftCard.objects.count() == 1


def test_gift_cards_cannot_be_bought_with_a_gift_card_or_store_credit(kettle):
    buyer = UserFactory()
    payment_services.store_credit_grant(user=buyer, amount=Decimal("100.00"),
                                        kind=payment_services.StoreCreditKind.REFUND, reference="r:1")
    cart = cart_with((kettle, 1), user=buyer)
    add_card(cart)
    with pytest.raises(ApplicationError) as credit:
        place(cart, user=buyer, use_store_credit=True)
    assert credit.value.code == "gift_cards_need_card"
    issued = payment_services.gift_card_issue(amount="100.00")
    with pytest.raises(ApplicationError) as gift:
        place(cart, user=buyer, gift_card_code=issued.code)
    assert gift.value.code == "gift_cards_need_card"
    assert not Order.objects.exists()


def test_a_declined_card_leaves_no_order_and_no_gift_card_and_keeps_the_cart():
    cart = Cart.objects.create()
    add_card(cart)
    with pytest.raises(ApplicationError):
        place(cart, card=DECLINED_CARD)
    assert not Order.objects.exists()
    assert not GiftCard.objects.exists()
    assert CartGiftCard.objects.filter(cart=cart).count() == 1


# --- taking them back ----------------------------------------------------------------------


def test_cancelling_takes_back_an_unused_card_and_refunds_everything(kettle):
    cart = cart_with((kettle, 1))
    add_card(cart, "25.00")
    order = place(cart)
    with committed():
        orders_services.order_cancel(order=order, reason="changed my mind")
    order.refresh_from_db()
    bought = OrderGiftCard.objects.get(order=order)
    assert order.status == Order.Status.CANCELLED
    assert bought.status == OrderGiftCard.Status.WITHDRAWN
    card = GiftCard.objects.get(pk=bought.gift_card_id)
    assert (card.status, card.balance) == (GiftCard.Status.VOIDED, Decimal("0.00"))
    payment = Payment.objects.get(reference=order.number)
    assert payment.refunded_amount == order.total


def test_a_used_card_stops_the_cancellation_and_changes_nothing(kettle):
    cart = cart_with((kettle, 1))
    add_card(cart, "25.00")
    order = place(cart)
    body = [m for m in mail.outbox if m.to == ["ann@example.com"]][0].body
    code = re.search(r"[2-9A-Z]{4}(?:-[2-9A-Z]{4}){4}", body).group(0)
    [issued] = [e.message for e in order.events.all() if e.message.startswith("Gift card of")]
    assert issued.startswith("Gift card of $25.00 for ")  # money as money, the day as a date
    assert str(timezone.localdate().year) in issued
    assert timezone.localdate().isoformat() not in issued
    detail = orders_selectors.order_detail(number=order.number)
    assert orders_selectors.order_can_cancel(order=detail)  # nobody has used the card yet
    payment_services.gift_card_spend(code=code, amount="5.00", reference="order:elsewhere")
    # The order page no longer offers to cancel, and the service, if asked, says what is left to do.
    assert not orders_selectors.order_can_cancel(order=detail)
    with pytest.raises(ApplicationError) as refused:
        orders_services.order_cancel(order=order)
    assert refused.value.code == "gift_card_used"
    assert "can be returned once they arrive" in str(refused.value.message)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert OrderGiftCard.objects.get(order=order).status == OrderGiftCard.Status.ISSUED
    assert GiftCard.objects.get().balance == Decimal("20.00")


def test_refunding_a_gift_card_order_voids_the_card_and_pays_back():
    cart = Cart.objects.create()
    add_card(cart, "50.00")
    order = place(cart)
    with committed():
        orders_services.order_refund(order=Order.objects.get(pk=order.pk), reason="sent to the wrong person")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert GiftCard.objects.get().status == GiftCard.Status.VOIDED
    assert Payment.objects.get(reference=order.number).refunded_amount == Decimal("50.00")


def test_a_cancellation_before_issuing_means_the_card_is_never_issued(kettle):
    cart = cart_with((kettle, 1))
    add_card(cart, "25.00")
    # placed and paid, but its after-commit work (the worker issuing the card) has not run yet
    order = place_before_the_worker(cart)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert OrderGiftCard.objects.get(order=order).status == OrderGiftCard.Status.PENDING
    with committed():
        orders_services.order_cancel(order=order)  # the shopper cancels first
        assert orders_services.order_gift_cards_issue(order=Order.objects.get(pk=order.pk)) == 0  # then the worker
    assert not GiftCard.objects.exists()
    assert OrderGiftCard.objects.get(order=order).status == OrderGiftCard.Status.WITHDRAWN


# --- refunding one of them on its own ---------------------------------------------------------


def shipped_mixed_order(kettle, amount="25.00"):
    """Two kettles and a gift card, paid (the card issued, the payment captured), the kettles shipped."""
    cart = cart_with((kettle, 2))
    add_card(cart, amount)
    order = place(cart)
    with committed():
        ship(order.packages.get())
    return Order.objects.get(pk=order.pk), OrderGiftCard.objects.get(order=order)


def refund_cards(order, *cards, key=None, **kwargs):
    with committed():  # the card's money goes back and the e-mail leaves after the commit
        return refunds.order_refund_partial(order=order, lines={}, gift_cards=[c.pk for c in cards],
                                            reason="The card was a duplicate present",
                                            idempotency_key=key or uuid.uuid4().hex, **kwargs)


def test_before_the_card_is_charged_a_refund_is_refused_and_cancelling_is_named(kettle):
    cart = cart_with((kettle, 1))
    add_card(cart, "25.00")
    # paid (authorized) but not charged: the worker has not issued the card, nothing has shipped
    order = place_before_the_worker(cart)
    bought = OrderGiftCard.objects.get(order=order)
    with pytest.raises(ApplicationError, match="cancel the order") as refused:
        refunds.order_refund_partial(order=order, lines={}, gift_cards=[bought.pk], reason="Duplicate",
                                     idempotency_key=uuid.uuid4().hex)
    assert refused.value.code == "refund_too_large"
    assert "At most 0.00 can be given back now" in str(refused.value)
    assert not OrderRefund.objects.filter(order=order).exists()
    assert OrderGiftCard.objects.get(pk=bought.pk).status == OrderGiftCard.Status.PENDING


def test_an_unused_card_of_a_shipped_order_is_refunded_alone_once(kettle):
    order, bought = shipped_mixed_order(kettle)
    mail.outbox.clear()
    done = refund_cards(order, bought)
    done.refresh_from_db()
    assert (done.amount, done.gift_cards_bought_amount, done.items_amount, done.shipping_amount) == (
        Decimal("25.00"), Decimal("25.00"), Decimal("0.00"), Decimal("0.00"))
    assert done.status == OrderRefund.Status.SUCCEEDED
    bought.refresh_from_db()
    assert (bought.status, bought.refund_id) == (OrderGiftCard.Status.WITHDRAWN, done.pk)
    card = GiftCard.objects.get(pk=bought.gift_card_id)
    assert (card.status, card.balance) == (GiftCard.Status.VOIDED, Decimal("0.00"))
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (Order.Status.SHIPPED, Decimal("25.00"))
    assert Payment.objects.get(reference=order.number).refunded_amount == Decimal("25.00")
    assert "Gift cards you bought, taken back unused: $25.00" in mail.outbox[-1].body
    with pytest.raises(ApplicationError) as again:
        refund_cards(order, bought)
    assert "taken back already" in again.value.message
    assert "gift_cards" in again.value.fields
    # a later refund of the whole order gives back only the rest
    with committed():
        orders_services.order_refund(order=order, reason="Never arrived", in_transit=True)
    order.refresh_from_db()
    assert Payment.objects.get(reference=order.number).refunded_amount == order.total == order.refunded_amount


def test_a_used_card_is_not_refunded_and_nothing_changes(kettle):
    order, bought = shipped_mixed_order(kettle)
    body = [m for m in mail.outbox if m.to == ["ann@example.com"]][0].body
    code = re.search(r"[2-9A-Z]{4}(?:-[2-9A-Z]{4}){4}", body).group(0)
    payment_services.gift_card_spend(code=code, amount="5.00", reference="order:elsewhere")
    with pytest.raises(ApplicationError) as refused:
        refund_cards(order, bought)
    assert refused.value.code == "gift_card_used"
    assert not OrderRefund.objects.exists()
    order.refresh_from_db()
    assert order.refunded_amount == Decimal("0.00")
    bought.refresh_from_db()
    assert (bought.status, bought.refund_id) == (OrderGiftCard.Status.ISSUED, None)
    assert GiftCard.objects.get().balance == Decimal("20.00")
    assert Payment.objects.get(reference=order.number).refunded_amount == Decimal("0.00")


def test_another_orders_card_or_junk_is_refused(kettle):
    order, _bought = shipped_mixed_order(kettle)
    other = Cart.objects.create()
    add_card(other, "40.00")
    theirs = OrderGiftCard.objects.get(order=place(other))
    for junk in ([theirs.pk], ["x"], [-1]):
        with pytest.raises(ApplicationError) as refused, committed():
            refunds.order_refund_partial(order=order, lines={}, gift_cards=junk, reason="No",
                                         idempotency_key=uuid.uuid4().hex)
        assert "gift_cards" in refused.value.fields or "lines" in refused.value.fields
    assert not OrderRefund.objects.exists()
    assert GiftCard.objects.get(pk=theirs.gift_card_id).status == GiftCard.Status.ACTIVE


def test_a_card_and_units_together_and_the_same_card_twice_at_once_refund_once(kettle):
    order, bought = shipped_mixed_order(kettle)
    line = order.lines.get()
    with committed():
        both = refunds.order_refund_partial(order=order, lines={line.pk: 1}, gift_cards=[bought.pk, bought.pk],
                                            reason="Both back", idempotency_key="both")
    assert both.amount == both.items_amount + Decimal("25.00")
    assert both.gift_cards_bought_amount == Decimal("25.00")
    assert Payment.objects.get(reference=order.number).refunded_amount == both.amount


@pytest.mark.django_db(transaction=True)
def test_refunding_the_same_card_from_two_requests_at_once_gives_it_back_once(kettle):
    from tests.concurrency import race

    order, bought = shipped_mixed_order(kettle)
    results = race(lambda key: refunds.order_refund_partial(order=order, lines={}, gift_cards=[bought.pk],
                                                            reason="Twice", idempotency_key=key),
                   [("one",), ("two",)])
    assert sum(isinstance(r, OrderRefund) for r in results) == 1, results
    [lost] = [r for r in results if isinstance(r, ApplicationError)]
    assert "taken back already" in lost.message
    assert OrderRefund.objects.get().gift_cards_bought_amount == Decimal("25.00")
    assert Order.objects.get(pk=order.pk).refunded_amount == Decimal("25.00")


def test_view_only_staff_and_a_seller_cannot_refund_a_card(kettle):
    from rest_framework.test import APIClient

    from tests.factories import seller_member, staff_user

    order, bought = shipped_mixed_order(kettle)
    viewer = Client()
    viewer.force_login(staff_user("orders.view_order"))
    refused = viewer.post(f"/admin/orders/order/{order.pk}/refund/",
                          {"key": "v-1", "gift_card": [str(bought.pk)], "reason": "Mine now"})
    assert refused.status_code == 403
    api = APIClient()
    api.force_authenticate(seller_member(kettle.seller, role="owner"))
    answer = api.post(f"/api/v1/orders/{order.number}/refunds/", {"gift_cards": [bought.pk], "reason": "x"},
                      format="json", HTTP_IDEMPOTENCY_KEY="seller-1")
    assert answer.status_code == 403
    assert not OrderRefund.objects.exists()
    bought.refresh_from_db()
    assert bought.status == OrderGiftCard.Status.ISSUED
    assert GiftCard.objects.get(pk=bought.gift_card_id).status == GiftCard.Status.ACTIVE


def test_staff_refund_a_card_from_admin_and_the_api_and_the_buyer_reads_it(client, kettle):
    from rest_framework.test import APIClient

    from orders import selectors as order_selectors
    from tests.factories import staff_user

    order, bought = shipped_mixed_order(kettle)
    url = f"/admin/orders/order/{order.pk}/refund/"
    staff = Client()
    staff.force_login(staff_user("orders.view_order", "orders.change_order", "orders.refund_order"))
    form = staff.get(url).content.decode()
    assert f'name="gift_card" value="{bought.pk}"' in form
    with committed():
        made = staff.post(url, {"key": "admin-1", "gift_card": [str(bought.pk)], "reason": "Duplicate present"})
    assert made.status_code == 302
    assert OrderRefund.objects.get().gift_cards_bought_amount == Decimal("25.00")
    assert " disabled>" in staff.get(url).content.decode()  # taken back: no longer offered
    buyer_page = client.get(order_selectors.guest_link_path(order=order), follow=True).content.decode()
    assert "Gift cards you bought, taken back unused: $25.00" in buyer_page

    second, second_card = shipped_mixed_order(kettle, "30.00")
    api = APIClient()
    api.force_authenticate(staff_user("orders.refund_order"))
    api_url = f"/api/v1/orders/{second.number}/refunds/"
    for bad in ({"gift_cards": "all", "reason": "x"}, {"gift_cards": [0], "reason": "x"},
                {"gift_cards": [bought.pk], "reason": "x"}):
        response = api.post(api_url, bad, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        assert response.status_code == 400, (bad, response.content)
    with committed():
        answer = api.post(api_url, {"gift_cards": [second_card.pk], "reason": "Duplicate"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="api-1")
    assert answer.status_code == 201, answer.content
    assert (answer.json()["amount"], answer.json()["gift_cards_bought_amount"]) == ("30.00", "30.00")
    owner = UserFactory()
    Order.objects.filter(pk=second.pk).update(user=owner)
    api.force_authenticate(owner)
    [listed] = api.get(f"/api/v1/orders/{second.number}/").json()["gift_cards"]
    assert (listed["id"], listed["status"]) == (second_card.pk, "withdrawn")


# --- pages -----------------------------------------------------------------------------------


def test_the_gift_card_page_puts_a_card_in_the_cart_and_the_cart_shows_it():
    client = Client()
    page = client.get("/cart/gift-cards/")
    assert page.status_code == 200
    assert b"Recipient" in page.content
    bad = client.post("/cart/gift-cards/", {"amount": "", "custom_amount": "2", "recipient_email": "ann@example.com"})
    assert bad.status_code == 400
    assert b"amount" in bad.content.lower()
    negative = client.post("/cart/gift-cards/", {"custom_amount": "-5", "recipient_email": "ann@example.com"})
    assert negative.status_code == 400
    assert b"or an amount from $5.00 to $500.00" in negative.content  # the range, not "above zero"
    missing = client.post("/cart/gift-cards/", {"amount": "50"})
    assert missing.status_code == 400
    ok = client.post("/cart/gift-cards/", {"amount": "50", "recipient_email": "ann@example.com",
                                           "recipient_name": "Ann\r\nBcc: x@example.com", "message": "Enjoy"})
    assert ok.status_code == 302
    assert ok["Location"] == "/cart/"
    cart_page = client.get("/cart/")
    assert b"ann@example.com" in cart_page.content
    assert b"$50.00" in cart_page.content
    assert b"Proceed to checkout" in cart_page.content
    card = CartGiftCard.objects.get()
    assert card.recipient_name == "Ann Bcc: x@example.com"  # one line
    assert selectors.cart_item_count(session=client.session, user=None) == 1
    removed = client.post(f"/cart/gift-cards/{card.pk}/remove/")
    assert removed.status_code == 302
    assert not CartGiftCard.objects.exists()
    assert client.post("/cart/gift-cards/999999/remove/").status_code == 302  # a message, not a 500


def test_a_custom_amount_wins_over_the_fixed_choice():
    client = Client()
    client.post("/cart/gift-cards/", {"amount": "50", "custom_amount": "35.50", "recipient_email": "a@example.com"})
    assert CartGiftCard.objects.get().amount == Decimal("35.50")


def test_the_api_adds_lists_and_removes_gift_cards_and_the_order_shows_them():
    from rest_framework.test import APIClient

    api = APIClient(enforce_csrf_checks=False)
    bad = api.post("/api/v1/cart/gift-cards/", {"amount": "1.00", "recipient_email": "ann@example.com"},
                   format="json")
    assert bad.status_code == 400
    assert "amount" in bad.json()["error"]["fields"]
    junk = api.post("/api/v1/cart/gift-cards/", {"amount": "x", "recipient_email": "nope"}, format="json")
    assert junk.status_code == 400
    made = api.post("/api/v1/cart/gift-cards/", {"amount": "50.00", "recipient_email": "ann@example.com",
                                                  "message": "Enjoy"}, format="json")
    assert made.status_code == 201
    [card] = made.json()["gift_cards"]
    assert (card["amount"], card["deliver_on"]) == ("50.00", timezone.localdate().isoformat())
    quote = api.post("/api/v1/checkout/quote/", {"country": "US"}, format="json").json()
    assert (quote["gift_cards_total"], quote["total"]) == ("50.00", "50.00")
    assert api.delete("/api/v1/cart/gift-cards/999999/").status_code == 404
    other = APIClient()
    assert other.delete(f"/api/v1/cart/gift-cards/{card['id']}/").status_code == 404  # another shopper's
    assert api.delete(f"/api/v1/cart/gift-cards/{card['id']}/").status_code == 204
    assert api.get("/api/v1/cart/").json()["gift_cards"] == []


def test_the_order_page_and_the_confirmation_list_the_gift_cards(client):
    buyer = UserFactory()
    cart = Cart.objects.create(user=buyer)
    add_card(cart, "25.00", recipient_name="Ann")
    order = place(cart, user=buyer)
    client.force_login(buyer)
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert 'data-gift-card-status="issued"' in page
    assert "ann@example.com" in page
    assert "data-gift-cards-bought" in page
    confirmation = next(m for m in mail.outbox if m.to == ["ada@example.com"])
    assert "Gift card of $25.00 for ann@example.com" in confirmation.body
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(buyer)
    body = api.get(f"/api/v1/orders/{order.number}/").json()
    assert body["gift_cards_total"] == "25.00"
    assert [(c["recipient_email"], c["status"]) for c in body["gift_cards"]] == [("ann@example.com", "issued")]


@pytest.mark.django_db(transaction=True)
def test_two_adds_at_once_never_pass_the_carts_limit(settings):
    from tests.concurrency import race

    settings.GIFT_CARDS_PER_CART = 1
    cart = Cart.objects.create()
    results = race(lambda email: add_card(Cart.objects.get(pk=cart.pk), email=email),
                   [("a@example.com",), ("b@example.com",)])
    assert sorted(type(r).__name__ for r in results) == ["CartGiftCard", "Conflict"]
    assert CartGiftCard.objects.filter(cart=cart).count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancelling_while_the_worker_issues_gives_one_outcome(kettle):
    from tests.concurrency import race

    cart = cart_with((kettle, 1))
    add_card(cart, "25.00")
    order = services.order_place(
        cart=cart, user=None, email="ada@example.com", shipping_address=ADDRESS, payment_method=GOOD_CARD,
        idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=None)).order  # paid; the worker has not run
    results = race(lambda what: what(Order.objects.get(pk=order.pk)), [
        (lambda o: orders_services.order_cancel(order=o),),
        (lambda o: orders_services.order_gift_cards_issue(order=o),),
    ])
    bought = OrderGiftCard.objects.get(order=order)
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED, results
    # whichever came first, the cancelled order keeps no usable card
    assert bought.status == OrderGiftCard.Status.WITHDRAWN
    assert not GiftCard.objects.filter(status=GiftCard.Status.ACTIVE).exists()


def test_a_capture_refused_because_the_order_was_cancelled_meanwhile_issues_nothing_and_is_no_error(kettle):
    """The worker read the order paid and asked the provider to capture; the shopper's cancellation
    got there first and released the authorization, so the provider refuses the capture. That is
    the cancellation's outcome: the worker issues nothing and does not fail (no retries, no alarm).
    The same refusal on an order still paid is an error (the worker's retry, then staff)."""
    from payments.providers import base as providers
    from payments.providers.test import TestProvider
    from tests.providers import payment_provider

    class ReleasedMeanwhile(TestProvider):
        cancelling: int | None = None  # the order a shopper cancels while the capture is on its way

        def capture(self, reference, amount, currency, idempotency_key):
            if ReleasedMeanwhile.cancelling:
                orders_services.order_cancel(order=Order.objects.get(pk=ReleasedMeanwhile.cancelling))
            raise providers.ProviderRefused("This PaymentIntent's authorization was released.")

    with payment_provider("test", ReleasedMeanwhile):
        cart = cart_with((kettle, 1))
        add_card(cart, "25.00")
        order = place_before_the_worker(cart)
        ReleasedMeanwhile.cancelling = order.pk
        assert orders_services.order_gift_cards_issue(order=Order.objects.get(pk=order.pk)) == 0
        assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
        assert OrderGiftCard.objects.get(order=order).status == OrderGiftCard.Status.WITHDRAWN
        assert not GiftCard.objects.exists()

        ReleasedMeanwhile.cancelling = None
        cart = cart_with((kettle, 1))
        add_card(cart, "25.00")
        paid = place_before_the_worker(cart)
        with pytest.raises(ApplicationError) as refused:
            orders_services.order_gift_cards_issue(order=Order.objects.get(pk=paid.pk))
        assert refused.value.code == "capture_failed"
        assert Order.objects.get(pk=paid.pk).status == Order.Status.PAID
        assert OrderGiftCard.objects.get(order=paid).status == OrderGiftCard.Status.PENDING


def test_a_card_without_a_from_name_is_from_its_buyer_not_from_the_shop():
    signed_in = UserFactory(full_name="Quinn Tester")
    for user, expected in ((signed_in, "Quinn Tester"), (None, ADDRESS["full_name"])):
        cart = Cart.objects.create()
        add_card(cart, "25.00", email=f"friend-of-{expected.split()[0].lower()}@example.com")
        order = place(cart, user=user)
        assert OrderGiftCard.objects.get(order=order).sender_name == expected
        [gift_mail] = [m for m in mail.outbox if m.to == [f"friend-of-{expected.split()[0].lower()}@example.com"]]
        assert expected in gift_mail.subject + gift_mail.body
    cart = Cart.objects.create()
    add_card(cart, "25.00", email="named@example.com", sender_name="Aunt May")
    assert OrderGiftCard.objects.get(order=place(cart, user=signed_in)).sender_name == "Aunt May"  # theirs stands
