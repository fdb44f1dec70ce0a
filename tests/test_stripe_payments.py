"""Card payments with Stripe, end to end over HTTP, against an in-memory Stripe
(:mod:`tests.stripe_standin.fake`): the ``stripe`` library talks to it through a stubbed HTTP client,
and what Stripe.js would do in the browser (confirm, 3-D Secure) is done on the same fake.

* checkout pages: the Payment Element, the intent, the return page and the webhook settling the
  order once whichever comes first, declines and failed 3-D Secure leaving no order, abandoned
  checkouts given up (and their intents cancelled), Stripe unreachable;
* the order API: 202 with a client secret, 3-D Secure as an action not a decline, saved cards
  bound to their owner, a wrong secret key is a failure and not an outage;
* membership: joining and a new card with SetupIntents, a first charge the bank wants confirmed,
  one free trial per card.

Webhook -> order: ``webhook_receive`` publishes ``payments.payment_updated`` through the outbox,
whose consumer (``checkout.tasks.settle_order_payment``) runs after the commit (eagerly in tests);
calling it again shows the outcome was applied once (``nothing`` left to do).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from checkout import services
from checkout import tasks as checkout_tasks
from checkout.models import CartLine
from fulfillment.models import StockItem
from membership import services as membership_services
from membership.models import Plan, Subscription, SubscriptionCharge
from orders.models import Order, OrderEvent
from payments.models import Payment, PaymentStatus, ProviderCustomer, WebhookEvent
from tests.buying import ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, UserFactory, shipping_method, stock
from tests.stripe_standin.fake import (
    DECLINED_CARD,
    GOOD_CARD,
    NO_FUNDS_CARD,
    SETUP_THREE_D_SECURE_CARD,
    THREE_D_SECURE_CARD,
    fingerprint_of,
)

pytestmark = pytest.mark.django_db

ADDRESS = {"email": "guest@example.com", "full_name": "Gus Guest", "line1": "2 High St", "city": "Portland",
           "postal_code": "97201", "region": "OR", "country": "US"}


@pytest.fixture
def offer():
    shipping_method(channel="platform", price="0.00", code="free", min_days=3, max_days=5)
    offer = OfferFactory(price=Decimal("15.00"), product__title="Walking Socks")
    stock(offer, 5)
    return offer


def reserved(offer) -> int:
    return sum(StockItem.objects.filter(offer=offer).values_list("reserved", flat=True))


def on_hand(offer) -> int:
    return sum(StockItem.objects.filter(offer=offer).values_list("on_hand", flat=True))


def paid_transitions(order_id: int) -> int:
    return OrderEvent.objects.filter(order_id=order_id, to_status=Order.Status.PAID).count()


def element_of(html: str) -> dict:
    """The Elements options the page's script passes to ``stripe.elements()`` (static/js/payments.js)."""
    box = re.search(r"<div[^>]*data-payment-element[^>]*>", html, re.S)
    assert box, "no Payment Element on the page"
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', box.group(0)))
    options = {"mode": attrs["mode"], "currency": attrs["currency"], "paymentMethodTypes": ["card"]}
    if attrs["mode"] == "payment":
        options.update(amount=int(attrs["amount"]), captureMethod=attrs.get("capture-method") or "manual")
    else:
        options["setupFutureUsage"] = "off_session"
    return {**options, "publishable_key": attrs["publishable-key"], "intent_url": unescape(attrs["intent-url"]),
            "failed_url": unescape(attrs.get("failed-url", ""))}


def elements_options(element: dict) -> dict:
    return {k: v for k, v in element.items() if k not in ("publishable_key", "intent_url", "failed_url")}


def hidden_fields(html: str) -> dict:
    return {name: unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}


# --- checkout pages --------------------------------------------------------------------------------


def to_review(client, offer, quantity: int = 2) -> tuple[dict, dict]:
    """Cart, address, delivery; returns the review form's fields and its Payment Element."""
    assert client.post("/cart/add/", {"offer": offer.pk, "quantity": quantity}).status_code == 302
    assert client.post("/checkout/", ADDRESS).status_code == 302
    page = client.get("/checkout/review/")
    assert page.status_code == 200
    html = page.content.decode()
    fields = dict(re.findall(r'name="(expected_total|order_key)" value="([^"]*)"', html))
    return fields, element_of(html)


def start(client, fields: dict) -> dict:
    """What payments.js does on submit: POST the form to the intent URL (committed)."""
    with committed():
        response = client.post("/checkout/pay/", fields)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["client_secret"], data
    return data


def come_back(client, started: dict, *, status: str = "succeeded"):
    """Stripe.js sends the shopper to the return URL with the intent in the query string."""
    intent_id = started["client_secret"].partition("_secret_")[0]
    query = urlencode({"payment_intent": intent_id, "payment_intent_client_secret": started["client_secret"],
                       "redirect_status": status})
    with committed():
        return client.get(f"{urlsplit(started['return_url']).path}?{query}")


def test_the_review_page_mounts_the_payment_element_and_never_asks_for_a_card_number(client, fake_stripe, offer):
    fields, element = to_review(client, offer)
    html = client.get("/checkout/review/").content.decode()
    assert 'name="card_number"' not in html
    assert "Test cards" not in html
    assert '<script src="/__stripe__/v3.js" defer></script>' in html
    assert element["mode"] == "payment"
    assert (element["amount"], element["currency"], element["captureMethod"]) == (3000, "usd", "manual")
    assert element["publishable_key"] == "pk_test_fake"
    assert (element["intent_url"], element["failed_url"]) == ("/checkout/pay/", "/checkout/payment-failed/")
    assert fields["expected_total"] == "30.00"
    script = client.get("/__stripe__/v3.js")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("text/javascript")
    assert not fake_stripe.requests  # nothing at Stripe until the shopper pays


def test_pay_then_return_pays_the_order_once(client, fake_stripe, offer, mailoutbox):
    fields, element = to_review(client, offer)
    started = start(client, fields)
    order = Order.objects.get()
    payment = Payment.objects.get()
    assert order.status == Order.Status.PLACED
    assert (payment.status, payment.client_secret) == (PaymentStatus.REQUIRES_ACTION, started["client_secret"])
    intent = fake_stripe.intent(payment.provider_reference)
    assert (intent["amount"], intent["currency"], intent["capture_method"]) == (3000, "usd", "manual")
    assert intent["metadata"]["reference"] == order.number
    assert intent["customer"] is None  # a checkout saves no card
    assert urlsplit(started["return_url"]).path == "/checkout/return/"
    assert reserved(offer) == 2
    assert CartLine.objects.get().quantity == 2  # nothing is paid yet: the cart stays

    confirmed = fake_stripe.confirm(started["client_secret"], GOOD_CARD, elements=elements_options(element))
    assert confirmed["intent"]["status"] == "requires_capture"

    response = come_back(client, started)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/guest/{order.number}/"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert payment.status == PaymentStatus.AUTHORIZED
    charge = fake_stripe.charges[fake_stripe.intent(payment.provider_reference)["latest_charge"]]
    assert payment.authorization_expires_at.timestamp() == charge["payment_method_details"]["card"]["capture_before"]
    assert not CartLine.objects.exists()
    assert len(mailoutbox) == 1
    assert order.number in mailoutbox[0].subject + mailoutbox[0].body
    assert (reserved(offer), on_hand(offer)) == (2, 5)
    assert paid_transitions(order.pk) == 1
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f"Thank you! Your order {order.number} is placed." in page.content.decode()

    # Stripe's webhook arrives afterwards: nothing changes, no second e-mail
    fake_stripe.send("payment_intent.amount_capturable_updated", payment.provider_reference)
    assert checkout_tasks.settle_order_payment(payment.pk) == services.NOTHING
    assert len(mailoutbox) == 1
    assert paid_transitions(order.pk) == 1

    # A reload of the return page (or Back) after the attempt ended still finds this browser's order.
    reload = come_back(client, started)
    assert (reload.status_code, reload["Location"]) == (302, f"/orders/guest/{order.number}/")
    assert paid_transitions(order.pk) == 1
    assert reserved(offer) == 2
    assert len(fake_stripe.intents) == 1
    assert fake_stripe.calls("POST", r"/v1/payment_intents/.+/(capture|cancel)") == []


def test_the_webhook_first_then_the_return_page_pays_the_order_once(client, fake_stripe, offer, mailoutbox):
    fields, element = to_review(client, offer)
    started = start(client, fields)
    payment = Payment.objects.get()
    fake_stripe.confirm(started["client_secret"], GOOD_CARD, elements=elements_options(element))

    # through the real endpoint, signed with the webhook secret
    response = fake_stripe.send("payment_intent.amount_capturable_updated", payment.provider_reference,
                                client=client)
    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
    order = Order.objects.get()
    assert order.status == Order.Status.PAID  # the webhook's consumer settled it
    assert checkout_tasks.settle_order_payment(payment.pk) == services.NOTHING
    assert order.status == Order.Status.PAID
    assert not CartLine.objects.exists()
    assert len(mailoutbox) == 1

    # the same event again (Stripe retries), then the shopper's browser comes back
    again = fake_stripe.send("payment_intent.amount_capturable_updated", payment.provider_reference, client=client)
    assert again.status_code == 200
    assert WebhookEvent.objects.filter(type="payment_intent.amount_capturable_updated").count() == 1
    back = come_back(client, started)
    assert back["Location"] == f"/orders/guest/{order.number}/"
    assert len(mailoutbox) == 1
    assert paid_transitions(order.pk) == 1
    assert reserved(offer) == 2


def test_a_declined_card_leaves_no_order_and_a_new_attempt_pays_a_new_order(client, fake_stripe, offer, mailoutbox):
    fields, element = to_review(client, offer)
    started = start(client, fields)
    first = Order.objects.get()
    declined = fake_stripe.confirm(started["client_secret"], DECLINED_CARD, elements=elements_options(element))
    assert declined["error"]["code"] == "card_declined"

    # payments.js tells the server the attempt failed
    with committed():
        response = client.post("/checkout/payment-failed/", {**fields, "message": declined["error"]["message"]})
    assert response.status_code == 200
    assert response.json() == {"message": "Your card was declined."}
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    payment = Payment.objects.get()
    assert (payment.status, payment.decline_code) == (PaymentStatus.DECLINED, "card_declined")
    # the intent cannot be confirmed again with another card behind our back
    assert fake_stripe.intent(payment.provider_reference)["status"] == "canceled"
    assert fake_stripe.confirm(started["client_secret"], GOOD_CARD)["error"]["code"] == \
        "payment_intent_unexpected_state"
    assert CartLine.objects.get().quantity == 2  # the cart is kept
    assert not mailoutbox

    # the next attempt has a new key, hence a new order and a new intent
    fields2, element2 = to_review_again(client)
    assert fields2["order_key"] != fields["order_key"]
    started2 = start(client, fields2)
    assert started2["client_secret"] != started["client_secret"]
    second = Order.objects.get()
    assert second.number != first.number
    assert fake_stripe.confirm(started2["client_secret"], GOOD_CARD,
                               elements=elements_options(element2))["intent"]["status"] == "requires_capture"
    assert come_back(client, started2)["Location"] == f"/orders/guest/{second.number}/"
    second.refresh_from_db()
    assert second.status == Order.Status.PAID
    assert Order.objects.count() == 1
    assert (reserved(offer), len(mailoutbox)) == (2, 1)
    assert not CartLine.objects.exists()


def to_review_again(client) -> tuple[dict, dict]:
    html = client.get("/checkout/review/").content.decode()
    return dict(re.findall(r'name="(expected_total|order_key)" value="([^"]*)"', html)), element_of(html)


def test_the_decline_webhook_can_come_before_the_page_says_so(client, fake_stripe, offer):
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    payment = Payment.objects.get()
    fake_stripe.confirm(started["client_secret"], NO_FUNDS_CARD)
    fake_stripe.send("payment_intent.payment_failed", payment.provider_reference)
    payment.refresh_from_db()
    assert (payment.status, payment.decline_code) == (PaymentStatus.DECLINED, "insufficient_funds")
    assert not Order.objects.exists()  # the webhook's consumer undid it
    assert checkout_tasks.settle_order_payment(payment.pk) == services.NOTHING
    assert reserved(offer) == 0
    assert fake_stripe.intent(payment.provider_reference)["status"] == "canceled"

    with committed():
        response = client.post("/checkout/payment-failed/", {**fields, "message": "Your card has insufficient funds."})
    assert response.json() == {"message": "Your card has insufficient funds."}
    assert reserved(offer) == 0  # released once
    assert CartLine.objects.get().quantity == 2


def test_3d_secure_completed_pays(client, fake_stripe, offer, mailoutbox):
    fields, element = to_review(client, offer)
    started = start(client, fields)
    confirmed = fake_stripe.confirm(started["client_secret"], THREE_D_SECURE_CARD, elements=elements_options(element))
    assert confirmed["intent"]["status"] == "requires_action"
    # the shopper leaves the bank's window open and looks at the order: still waiting, not declined
    payment = Payment.objects.get()
    assert services.order_payment_refresh(order=Order.objects.get()) == services.WAITING
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_ACTION

    assert fake_stripe.authenticate(started["client_secret"], complete=True)["intent"]["status"] == "requires_capture"
    response = come_back(client, started)
    order = Order.objects.get()
    assert response["Location"] == f"/orders/guest/{order.number}/"
    assert order.status == Order.Status.PAID
    assert len(mailoutbox) == 1


def test_3d_secure_failed_leaves_no_order(client, fake_stripe, offer):
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    fake_stripe.confirm(started["client_secret"], THREE_D_SECURE_CARD)
    failed = fake_stripe.authenticate(started["client_secret"], complete=False)
    assert failed["error"]["code"] == "payment_intent_authentication_failure"
    with committed():
        response = client.post("/checkout/payment-failed/", {**fields, "message": failed["error"]["message"]})
    assert "unable to authenticate" in response.json()["message"]
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    payment = Payment.objects.get()
    assert (payment.status, payment.decline_code) == (PaymentStatus.DECLINED, "payment_intent_authentication_failure")
    assert fake_stripe.intent(payment.provider_reference)["status"] == "canceled"
    assert CartLine.objects.get().quantity == 2


def test_a_return_page_after_a_failed_authentication_says_so(client, fake_stripe, offer):
    """Even if the page never reported the failure (closed tab, lost request), coming back settles it."""
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    fake_stripe.confirm(started["client_secret"], THREE_D_SECURE_CARD)
    fake_stripe.authenticate(started["client_secret"], complete=False)
    response = come_back(client, started, status="failed")
    assert response["Location"] == "/checkout/review/"
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    assert fake_stripe.intent(Payment.objects.get().provider_reference)["status"] == "canceled"


def test_an_abandoned_checkout_is_given_up_and_its_intent_cancelled(client, fake_stripe, offer, mailoutbox):
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    order = Order.objects.get()
    payment = Payment.objects.get()
    max_age = settings.UNPAID_ORDER_MAX_AGE_MINUTES

    # before UNPAID_ORDER_MAX_AGE_MINUTES the shopper may still be typing: asked about, kept
    kept = services.settle_unpaid_orders(now=timezone.now() + timedelta(minutes=max_age - 5))
    assert kept["waiting"] == 1
    assert Order.objects.filter(pk=order.pk, status=Order.Status.PLACED).exists()
    assert fake_stripe.intent(payment.provider_reference)["status"] == "requires_payment_method"

    result = services.settle_unpaid_orders(now=timezone.now() + timedelta(minutes=max_age + 1))
    assert result["discarded"] == 1
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert fake_stripe.intent(payment.provider_reference)["status"] == "canceled"

    # the shopper's tab confirms it late: Stripe refuses, nothing is charged
    late = fake_stripe.confirm(started["client_secret"], GOOD_CARD)
    assert late["error"]["code"] == "payment_intent_unexpected_state"
    assert not fake_stripe.charges
    back = client.get("/checkout/return/")
    assert back["Location"] == "/cart/"
    assert not Order.objects.exists()
    assert not mailoutbox
    assert CartLine.objects.get().quantity == 2


def test_stripe_unreachable_on_pay_keeps_the_order_and_the_retry_pays_it(client, fake_stripe, offer, mailoutbox):
    fields, element = to_review(client, offer)
    with fake_stripe.down():
        response = client.post("/checkout/pay/", fields)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_unavailable"
    assert "could not reach the payment provider" in response.json()["error"]["message"]
    order = Order.objects.get()
    payment = Payment.objects.get()
    assert (order.status, payment.status, payment.provider_reference) == (Order.Status.PLACED, PaymentStatus.PENDING,
                                                                          "")
    assert reserved(offer) == 2
    assert not fake_stripe.intents

    started = start(client, fields)  # the shopper presses the button again: the same session key
    assert Order.objects.get().pk == order.pk
    assert Payment.objects.get().pk == payment.pk
    assert len(fake_stripe.intents) == 1
    fake_stripe.confirm(started["client_secret"], GOOD_CARD, elements=elements_options(element))
    assert come_back(client, started)["Location"] == f"/orders/guest/{order.number}/"
    assert Order.objects.get().status == Order.Status.PAID
    assert (reserved(offer), len(mailoutbox)) == (2, 1)


def test_an_answer_lost_on_the_way_back_makes_no_second_intent(client, fake_stripe, offer):
    """Stripe made the intent but its answer never arrived: the retry sends the same idempotency
    key, and Stripe answers with the same intent."""
    fields, _element = to_review(client, offer)
    with fake_stripe.down(drop_responses=True):
        assert client.post("/checkout/pay/", fields).status_code == 503
    assert len(fake_stripe.intents) == 1
    started = start(client, fields)
    assert len(fake_stripe.intents) == 1
    created = fake_stripe.calls("POST", r"/v1/payment_intents")
    assert len(created) == 2
    assert created[0].idempotency_key == created[1].idempotency_key
    assert started["client_secret"] == next(iter(fake_stripe.intents.values()))["client_secret"]
    assert Order.objects.count() == 1


def test_saying_failed_after_paying_cannot_undo_a_paid_checkout(client, fake_stripe, offer, mailoutbox):
    """A page (or a forged request) that reports a failure after Stripe authorized the card: the
    server asks Stripe, and the order is paid, never given up with the money taken."""
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    fake_stripe.confirm(started["client_secret"], GOOD_CARD)
    with committed():
        response = client.post("/checkout/payment-failed/", {**fields, "message": "Your card was declined."})
    order = Order.objects.get()
    assert response.json() == {"redirect": f"/orders/guest/{order.number}/"}
    assert order.status == Order.Status.PAID
    assert reserved(offer) == 2
    assert fake_stripe.intent(Payment.objects.get().provider_reference)["status"] == "requires_capture"
    assert len(mailoutbox) == 1


def test_another_browser_with_the_return_url_sees_and_settles_nothing(client, fake_stripe, offer):
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    fake_stripe.confirm(started["client_secret"], GOOD_CARD)
    order = Order.objects.get()
    stranger = Client()
    response = come_back(stranger, started)  # the return URL, with the intent and its client secret
    assert response["Location"] == "/cart/"
    assert stranger.get(f"/orders/guest/{order.number}/").status_code != 200
    assert Order.objects.get().status == Order.Status.PLACED  # the shopper's own return page settles it
    assert come_back(client, started)["Location"] == f"/orders/guest/{order.number}/"


@pytest.mark.django_db(transaction=True)
def test_the_return_page_and_the_webhook_at_the_same_moment_pay_once(fake_stripe, offer, mailoutbox):
    client = Client()
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    payment = Payment.objects.get()
    fake_stripe.confirm(started["client_secret"], GOOD_CARD)

    def webhook():
        fake_stripe.send("payment_intent.amount_capturable_updated", payment.provider_reference)
        return checkout_tasks.settle_order_payment(payment.pk)

    def return_page():
        return come_back(client, started)["Location"]

    def run(job):
        return job()

    outcomes = race(run, [(webhook,), (return_page,), (webhook,)])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    order = Order.objects.get()
    assert order.status == Order.Status.PAID
    assert paid_transitions(order.pk) == 1
    assert len(mailoutbox) == 1
    assert reserved(offer) == 2
    assert outcomes[1] == f"/orders/guest/{order.number}/"


# --- after paying: capture, refund, cancel, and what Stripe says about them ---------------------------


def paid_order(client, fake_stripe, offer) -> tuple[Order, Payment]:
    fields, _element = to_review(client, offer)
    started = start(client, fields)
    fake_stripe.confirm(started["client_secret"], GOOD_CARD)
    come_back(client, started)
    return Order.objects.get(status=Order.Status.PAID), Payment.objects.get(status=PaymentStatus.AUTHORIZED)


def test_shipping_captures_at_stripe_and_refunds_are_counted_once(client, fake_stripe, offer):
    from payments import services as payment_services

    order, payment = paid_order(client, fake_stripe, offer)
    with committed():  # the payment is captured after the commit
        ship(order.packages.get(), tracking_number="TRACK1")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CAPTURED, Decimal("30.00"))
    intent = fake_stripe.intent(payment.provider_reference)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 3000)
    fake_stripe.send("payment_intent.succeeded", payment.provider_reference)
    checkout_tasks.settle_order_payment(payment.pk)
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CAPTURED, Decimal("30.00"))

    payment_services.payment_refund(payment=payment, amount=Decimal("10.00"), reason="one pair back",
                                    idempotency_key="refund-1")
    payment_services.payment_refund(payment=payment, amount=Decimal("10.00"), reason="one pair back",
                                    idempotency_key="refund-1")  # sent twice: refunded once
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [1000]
    fake_stripe.send("charge.refunded", payment.provider_reference)  # Stripe tells us about our own refund
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("10.00"))


def test_cancelling_a_paid_order_releases_the_authorization_at_stripe(client, fake_stripe, offer):
    from orders import services as orders_services

    order, payment = paid_order(client, fake_stripe, offer)
    with committed():  # the authorization is released after the commit
        orders_services.order_cancel(order=order, reason="changed my mind")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert fake_stripe.intent(payment.provider_reference)["status"] == "canceled"
    assert reserved(offer) == 0
    fake_stripe.send("payment_intent.canceled", payment.provider_reference)
    assert checkout_tasks.settle_order_payment(payment.pk) == services.NOTHING
    order.refresh_from_db()
    assert (order.status, order.payment_problem) == (Order.Status.CANCELLED, "")
    assert not fake_stripe.refunds


def test_an_authorization_cancelled_at_stripe_flags_the_paid_order_and_stops_shipping(client, fake_stripe, offer):
    """Somebody cancels the payment in Stripe's dashboard (or it lapses): the webhook tells us, the
    order is flagged for staff, and it cannot ship without a live payment."""
    from orders import services as orders_services
    from orders.models import PaymentProblem

    order, payment = paid_order(client, fake_stripe, offer)
    fake_stripe.cancel_in_dashboard(payment.provider_reference)
    fake_stripe.send("payment_intent.canceled", payment.provider_reference, client=client)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert checkout_tasks.settle_order_payment(payment.pk) == services.NOTHING  # flagged by the webhook already
    order.refresh_from_db()
    assert (order.status, order.payment_problem) == (Order.Status.PAID, PaymentProblem.PAYMENT_CANCELLED)
    with pytest.raises(orders_services.IllegalTransition):
        ship(order.packages.get())
    assert fake_stripe.intent(payment.provider_reference)["amount_received"] == 0


# --- the order API --------------------------------------------------------------------------------


def api_client(offer, user=None, quantity: int = 2) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    assert client.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": quantity},
                       format="json").status_code == 201
    return client


def order_body(**changes) -> dict:
    address = {k: v for k, v in ADDRESS.items() if k != "email"}
    return {"email": ADDRESS["email"], "shipping_address": address, **changes}


def place(client, key: str, **changes):
    with committed():
        return client.post("/api/v1/checkout/orders/", order_body(**changes), format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_api_without_a_payment_method_gets_a_client_secret_then_the_same_request_finds_it_paid(fake_stripe, offer,
                                                                                               mailoutbox):
    client = api_client(offer)
    response = place(client, "api-1")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "placed"
    assert body["payment"]["status"] == "requires_action"
    assert body["payment"]["provider"] == "stripe"
    secret = body["payment"]["client_secret"]
    intent = fake_stripe.intent_by_secret(secret)
    assert (intent["amount"], intent["capture_method"], intent["status"]) == (3000, "manual", "requires_payment_method")
    assert not mailoutbox

    # still unconfirmed: the same request answers 202 again, with the same intent
    again = place(client, "api-1")
    assert (again.status_code, again.json()["payment"]["client_secret"]) == (202, secret)

    assert fake_stripe.confirm(secret, GOOD_CARD)["intent"]["status"] == "requires_capture"
    paid = place(client, "api-1")
    assert paid.status_code == 200, paid.content
    assert (paid.json()["number"], paid.json()["status"], paid.json()["payment"]) == (body["number"], "paid", None)
    assert Order.objects.get().status == Order.Status.PAID
    assert len(fake_stripe.intents) == 1
    assert len(mailoutbox) == 1


def test_api_a_payment_method_that_needs_3d_secure_is_an_action_not_a_decline(fake_stripe, offer):
    client = api_client(offer)
    method = fake_stripe.payment_method(THREE_D_SECURE_CARD)  # collected by the client's Stripe SDK
    response = place(client, "api-3ds", payment_method=method)
    assert response.status_code == 202, response.content
    secret = response.json()["payment"]["client_secret"]
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.decline_code == ""
    intent = fake_stripe.intent(payment.provider_reference)
    assert (intent["status"], intent["payment_method"]) == ("requires_action", method)
    assert Order.objects.get().status == Order.Status.PLACED
    assert reserved(offer) == 2

    fake_stripe.authenticate(secret, complete=True)
    paid = place(client, "api-3ds", payment_method=method)
    assert paid.status_code == 200, paid.content
    assert paid.json()["status"] == "paid"
    assert Payment.objects.get().status == PaymentStatus.AUTHORIZED


def test_api_a_declined_payment_method_is_402_and_leaves_no_order(fake_stripe, offer):
    client = api_client(offer)
    response = place(client, "api-declined", payment_method=fake_stripe.payment_method(DECLINED_CARD))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_declined"
    assert response.json()["error"]["message"] == "Your card was declined."
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    assert CartLine.objects.get().quantity == 2


def test_api_a_saved_card_of_another_customer_is_refused_before_stripe_is_asked(fake_stripe, offer):
    victim = UserFactory()
    from payments import services as payment_services

    saved = payment_services.payment_method_tokenize(payment_method=fake_stripe.payment_method(GOOD_CARD),
                                                     owner=f"user:{victim.pk}")
    assert saved.token.startswith(ProviderCustomer.objects.get(owner=f"user:{victim.pk}").customer_id + "|pm_")
    before = len(fake_stripe.requests)

    thief = UserFactory()
    client = api_client(offer, user=thief)
    response = place(client, "api-steal", payment_method=saved.token)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_method_not_yours"
    assert not Payment.objects.exists()
    assert not fake_stripe.calls("POST", r"/v1/payment_intents")
    assert len(fake_stripe.requests) == before
    # and nothing is held for the refused request
    assert not Order.objects.exists()
    assert reserved(offer) == 0


def test_api_a_bare_payment_method_attached_to_another_customer_charges_nothing(fake_stripe, offer):
    """Sent without its customer part, somebody's saved card is refused by Stripe itself."""
    victim = UserFactory()
    from payments import services as payment_services

    saved = payment_services.payment_method_tokenize(payment_method=fake_stripe.payment_method(GOOD_CARD),
                                                     owner=f"user:{victim.pk}")
    bare = saved.token.partition("|")[2]
    client = api_client(offer, user=UserFactory())
    response = place(client, "api-bare", payment_method=bare)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_failed"
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    assert not fake_stripe.charges


@pytest.mark.parametrize("with_method", [False, True], ids=["intent", "payment_method"])
def test_api_a_wrong_secret_key_is_a_failure_not_an_outage(fake_stripe, offer, with_method):
    client = api_client(offer)
    changes = {"payment_method": fake_stripe.payment_method(GOOD_CARD)} if with_method else {}
    fake_stripe.api_key_valid = False  # Stripe answers 401
    response = place(client, "api-401", **changes)
    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert error["code"] == "payment_failed"
    assert error["message"] == ("Your payment could not be completed and nothing was charged. Please try again or "
                                "use another card.")
    assert not Order.objects.exists()
    assert reserved(offer) == 0
    assert Payment.objects.get().status == PaymentStatus.FAILED
    assert fake_stripe.requests[-1].status == 401


# --- membership ----------------------------------------------------------------------------------


@pytest.fixture
def plan():
    return membership_services.plan_save(plan=Plan(
        name="Bazaar Plus", slug="plus", monthly_price=Decimal("12.99"), annual_price=Decimal("119.00"),
        currency="USD", trial_days=30))


@pytest.fixture
def member(client):
    user = UserFactory()
    client.force_login(user)
    return user


def join_page(client, plan) -> tuple[dict, dict]:
    page = client.get(f"/membership/join/{plan.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    return hidden_fields(html), element_of(html)


def setup_for_join(client, plan, fields: dict, **extra) -> dict:
    response = client.post(f"/membership/join/{plan.slug}/setup/", {**fields, "interval": "month", **extra})
    assert response.status_code == 200, response.content
    return response.json()


def return_from_setup(client, started: dict):
    setup_id = started["client_secret"].partition("_secret_")[0]
    url = urlsplit(started["return_url"])
    query = f"{url.query}&" + urlencode({"setup_intent": setup_id, "setup_intent_client_secret":
                                         started["client_secret"], "redirect_status": "succeeded"})
    return client.get(f"{url.path}?{query}")


def test_join_with_a_setup_intent_saves_the_card_for_renewals(client, fake_stripe, plan, member):
    fields, element = join_page(client, plan)
    html = client.get(f"/membership/join/{plan.slug}/").content.decode()
    assert 'name="payment_method"' not in html
    assert element["mode"] == "setup"
    assert element["intent_url"] == f"/membership/join/{plan.slug}/setup/"

    started = setup_for_join(client, plan, fields)
    setup = fake_stripe.intent_by_secret(started["client_secret"])
    customer = ProviderCustomer.objects.get(owner=f"user:{member.pk}", provider="stripe").customer_id
    assert (setup["customer"], setup["usage"], setup["status"]) == (customer, "off_session", "requires_payment_method")
    assert fake_stripe.confirm(started["client_secret"], GOOD_CARD,
                               elements=elements_options(element))["intent"]["status"] == "succeeded"

    response = return_from_setup(client, started)
    assert response.status_code == 302, response.content
    assert response["Location"] == "/membership/account/"
    subscription = Subscription.objects.get(user=member)
    assert subscription.status == Subscription.Status.TRIALING
    assert subscription.card_label == "Visa ending 4242"
    assert subscription.card_fingerprint == fingerprint_of("4242424242424242")
    method = fake_stripe.setup(setup["id"])["payment_method"]
    assert subscription.payment_method == f"{customer}|{method}"
    assert subscription.payment_provider == "stripe"
    assert fake_stripe.payment_methods[method]["customer"] == customer
    assert not fake_stripe.calls("POST", r"/v1/payment_intents")  # the bank checked the card: no hold


def test_a_setup_intent_of_another_member_is_refused(client, fake_stripe, plan, member):
    other = UserFactory()
    from payments import services as payment_services

    theirs = payment_services.payment_setup_start(owner=f"user:{other.pk}", idempotency_key="theirs")
    fake_stripe.confirm(theirs.client_secret, GOOD_CARD)
    fields, _element = join_page(client, plan)
    response = client.get(f"/membership/join/{plan.slug}/complete/?" + urlencode(
        {"setup_intent": theirs.reference, "interval": "month", "join_key": fields["join_key"]}))
    assert response.status_code == 400
    assert "That card setup is not one of yours." in response.content.decode()
    assert not Subscription.objects.exists()


def test_a_new_card_from_a_setup_intent_of_another_member_is_refused(client, fake_stripe, plan, member):
    membership_services.membership_join(user=member, plan=plan, interval="month",
                                        setup_reference=_confirmed_setup(client, fake_stripe, plan))
    before = Subscription.objects.get(user=member).payment_method
    other = UserFactory()
    from payments import services as payment_services

    theirs = payment_services.payment_setup_start(owner=f"user:{other.pk}", idempotency_key="theirs")
    fake_stripe.confirm(theirs.client_secret, GOOD_CARD)
    refused = client.get("/membership/account/card/complete/?" + urlencode({"setup_intent": theirs.reference}))
    assert refused.status_code == 400
    assert "That card setup is not one of yours." in refused.content.decode()
    assert Subscription.objects.get(user=member).payment_method == before


def _confirmed_setup(client, fake_stripe, plan, card: str = "5555 5555 5555 4444") -> str:
    fields, _element = join_page(client, plan)
    started = setup_for_join(client, plan, fields)
    fake_stripe.confirm(started["client_secret"], card)
    return started["client_secret"].partition("_secret_")[0]


def test_joining_without_a_trial_when_the_bank_wants_the_first_charge_confirmed(client, fake_stripe, plan, member):
    fields, element = join_page(client, plan)
    started = setup_for_join(client, plan, fields, skip_trial="on")
    assert "skip_trial=1" in started["return_url"]
    # saving this card needs 3-D Secure, and so does a payment while the member is there
    assert fake_stripe.confirm(started["client_secret"], SETUP_THREE_D_SECURE_CARD,
                               elements=elements_options(element))["intent"]["status"] == "requires_action"
    assert fake_stripe.authenticate(started["client_secret"])["intent"]["status"] == "succeeded"

    response = return_from_setup(client, started)
    assert response.status_code == 402
    html = response.content.decode()
    secret = re.search(r'data-client-secret="([^"]+)"', html).group(1)
    intent = fake_stripe.intent_by_secret(secret)
    assert (intent["status"], intent["amount"]) == ("requires_action", 1299)
    assert not Subscription.objects.exists()
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    assert action == f"/membership/join/{plan.slug}/complete/"

    assert fake_stripe.authenticate(secret)["intent"]["status"] == "requires_capture"
    done = client.post(action, hidden_fields(html))  # the page submits its form once the bank said yes
    assert done.status_code == 302, done.content
    subscription = Subscription.objects.get(user=member)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.trial_end is None
    charge = SubscriptionCharge.objects.get(subscription=subscription)
    assert (charge.status, charge.amount) == (SubscriptionCharge.Status.PAID, Decimal("12.99"))
    assert fake_stripe.intent(intent["id"])["status"] == "succeeded"
    assert [i["status"] for i in fake_stripe.intents.values()] == ["succeeded"]  # charged once
    assert len(fake_stripe.calls("POST", r"/v1/payment_intents/.+/capture")) == 1

    # sending the form again charges nothing more
    again = client.post(action, hidden_fields(html))
    assert again.status_code == 302
    assert len(fake_stripe.intents) == 1
    assert SubscriptionCharge.objects.count() == 1


def test_a_declined_first_charge_is_a_message_and_the_page_can_try_another_card(client, fake_stripe, plan, member):
    fields, _element = join_page(client, plan)
    started = setup_for_join(client, plan, fields, skip_trial="on")
    assert fake_stripe.confirm(started["client_secret"], NO_FUNDS_CARD)["intent"]["status"] == "succeeded"  # saved
    response = return_from_setup(client, started)
    assert response.status_code == 402
    html = response.content.decode()
    assert "Insufficient funds. Nothing was charged; please try another card." in html
    assert not Subscription.objects.exists()
    assert [i["status"] for i in fake_stripe.intents.values()] == ["requires_payment_method"]  # declined
    # the page shown again saves another card with a new SetupIntent, and that one pays
    again = setup_for_join(client, plan, hidden_fields(html), skip_trial="on")
    assert again["client_secret"] != started["client_secret"]
    assert fake_stripe.confirm(again["client_secret"], GOOD_CARD)["intent"]["status"] == "succeeded"
    assert return_from_setup(client, again).status_code == 302
    assert Subscription.objects.get(user=member).status == Subscription.Status.ACTIVE


def test_renewals_charge_a_set_up_card_off_session_without_the_bank(client, fake_stripe, plan, member):
    """The card that wanted 3-D Secure when it was saved is charged off-session later, as at Stripe."""
    setup = _confirmed_setup(client, fake_stripe, plan, card=SETUP_THREE_D_SECURE_CARD)
    assert fake_stripe.setup(setup)["status"] == "requires_action"
    fake_stripe.authenticate(fake_stripe.setup(setup)["client_secret"])
    subscription = membership_services.membership_join(user=member, plan=plan, interval="month",
                                                       setup_reference=setup)
    Subscription.objects.filter(pk=subscription.pk).update(current_period_end=timezone.now() - timedelta(minutes=1),
                                                           trial_end=timezone.now() - timedelta(minutes=1))
    assert membership_services.subscription_renew(subscription_id=subscription.pk) == "paid"
    intent = next(iter(fake_stripe.intents.values()))
    assert intent["status"] == "succeeded"
    create = fake_stripe.calls("POST", r"/v1/payment_intents")[0]
    assert create.params["off_session"] == "true"


def test_one_free_trial_per_card_then_joining_without_the_trial_charges_now(client, fake_stripe, plan, member):
    first_setup = _confirmed_setup(client, fake_stripe, plan, card=GOOD_CARD)
    membership_services.membership_join(user=member, plan=plan, interval="month", setup_reference=first_setup)

    second = UserFactory()
    client.force_login(second)
    fields, _element = join_page(client, plan)
    started = setup_for_join(client, plan, fields)
    fake_stripe.confirm(started["client_secret"], GOOD_CARD)  # the same card number
    refused = return_from_setup(client, started)
    assert refused.status_code == 409
    assert "This card has already had a free trial." in refused.content.decode()
    assert 'name="skip_trial"' in refused.content.decode()
    assert not Subscription.objects.filter(user=second).exists()
    assert not fake_stripe.calls("POST", r"/v1/payment_intents")

    setup_id = started["client_secret"].partition("_secret_")[0]
    paid = client.get(f"/membership/join/{plan.slug}/complete/?" + urlencode(
        {"setup_intent": setup_id, "interval": "month", "join_key": fields["join_key"], "skip_trial": "1"}))
    assert paid.status_code == 302, paid.content
    subscription = Subscription.objects.get(user=second)
    assert (subscription.status, subscription.trial_end) == (Subscription.Status.ACTIVE, None)
    assert [i["amount"] for i in fake_stripe.intents.values()] == [1299]
    assert next(iter(fake_stripe.intents.values()))["status"] == "succeeded"


def test_after_trial_used_the_join_page_can_save_a_card_again(client, fake_stripe, plan, member):
    """The join page shown again after "this card already had a trial" keeps its form key; saving a
    card from it must give the browser an intent it can still confirm."""
    first_setup = _confirmed_setup(client, fake_stripe, plan, card=GOOD_CARD)
    membership_services.membership_join(user=member, plan=plan, interval="month", setup_reference=first_setup)
    client.force_login(UserFactory())
    fields, _element = join_page(client, plan)
    started = setup_for_join(client, plan, fields)
    fake_stripe.confirm(started["client_secret"], GOOD_CARD)
    refused = return_from_setup(client, started)
    assert refused.status_code == 409

    # payments.js on the page shown again posts that page's form to the setup URL
    again = setup_for_join(client, plan, hidden_fields(refused.content.decode()), skip_trial="on")
    confirmed = fake_stripe.confirm(again["client_secret"], GOOD_CARD)
    assert "intent" in confirmed, confirmed
    assert return_from_setup(client, again).status_code == 302
    assert Subscription.objects.filter(status=Subscription.Status.ACTIVE).count() == 1


def test_a_member_updates_the_card_with_a_setup_intent(client, fake_stripe, plan, member):
    setup = _confirmed_setup(client, fake_stripe, plan, card=GOOD_CARD)
    subscription = membership_services.membership_join(user=member, plan=plan, interval="month",
                                                       setup_reference=setup)
    page = client.get("/membership/account/card/")
    html = page.content.decode()
    assert 'name="payment_method"' not in html
    element = element_of(html)
    assert (element["mode"], element["intent_url"]) == ("setup", "/membership/account/card/setup/")

    response = client.post("/membership/account/card/setup/", hidden_fields(html))
    assert response.status_code == 200, response.content
    started = response.json()
    assert fake_stripe.confirm(started["client_secret"], "5555 5555 5555 4444",
                               elements=elements_options(element))["intent"]["status"] == "succeeded"
    done = client.get(started["return_url"] + "?" + urlencode(
        {"setup_intent": started["client_secret"].partition("_secret_")[0]}))
    assert done.status_code == 302, done.content
    subscription.refresh_from_db()
    assert subscription.card_label == "Mastercard ending 4444"
    assert subscription.card_fingerprint == fingerprint_of("5555555555554444")
    new_method = fake_stripe.setup(started["client_secret"].partition("_secret_")[0])["payment_method"]
    assert subscription.payment_method.endswith(f"|{new_method}")
    assert subscription.status == Subscription.Status.TRIALING
    assert not fake_stripe.calls("POST", r"/v1/payment_intents")
