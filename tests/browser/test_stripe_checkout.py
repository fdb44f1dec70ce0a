"""Paying with Stripe in a real browser: Chromium runs static/js/payments.js with the local
stand-in for Stripe.js (tests/stripe_standin), served by the test server under the shop's
Content-Security-Policy, and the server talks to the same in-memory Stripe.

A guest buys through the Payment Element and lands on the paid order; a declined card says so on
the page, leaves nothing ordered, and a good card then pays; 3-D Secure opens the bank's dialog:
Complete pays, Fail says so and leaves no order; a member joins with a free trial (SetupIntent) and
saves a new card. Each test also checks what got stored, that the card number never reached the
shop's server, and that the policy was not violated."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from checkout.models import CartLine
from fulfillment.models import StockItem
from membership.models import Plan, Subscription
from membership.services import plan_save
from orders.models import Order
from payments.models import Payment, PaymentStatus
from tests.browser.test_buying import PASSWORD, add_from_product_page, fill_address, to_checkout
from tests.factories import OfferFactory, ProductFactory, UserFactory, shipping_method, stock
from tests.stripe_standin.fake import (
    DECLINED_CARD,
    GOOD_CARD,
    SETUP_THREE_D_SECURE_CARD,
    THREE_D_SECURE_CARD,
    fingerprint_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

VIOLATION_MARKS = ("Content Security Policy", "Content-Security-Policy", "Refused to")


@pytest.fixture
def kettle():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    product = ProductFactory(title="Electric Kettle")
    offer = OfferFactory(product=product, price=Decimal("24.00"))
    stock(offer, 5)
    return product


@pytest.fixture
def watch(page):
    """What the tab saw: console messages and page errors, and every request that did not go to
    the Stripe stand-in (the card number must never be in one of them)."""
    seen = {"console": [], "to_shop": []}
    page.on("console", lambda message: seen["console"].append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen["console"].append(f"pageerror: {error}"))

    def request(req):
        if "/__stripe__/" not in req.url:
            seen["to_shop"].append(f"{req.method} {req.url} {req.post_data or ''}")

    page.on("request", request)
    return seen


def assert_clean(seen, *cards: str) -> None:
    violations = [m for m in seen["console"] if any(mark in m for mark in VIOLATION_MARKS) or "pageerror" in m]
    assert violations == [], seen["console"]
    for card in cards:
        digits = card.replace(" ", "")
        leaked = [r for r in seen["to_shop"] if digits in r.replace("+", "").replace("%20", "").replace(" ", "")]
        assert leaked == [], leaked


def reserved(offer_product) -> int:
    return sum(StockItem.objects.filter(offer__product=offer_product).values_list("reserved", flat=True))


def to_payment(page, live_server, product) -> None:
    add_from_product_page(page, live_server, product)
    to_checkout(page)
    fill_address(page)
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(r"/checkout/review/$"))
    expect(page.locator("[data-payment-element-loading]")).to_have_count(0)  # the element said "ready"


def pay_with(page, card: str) -> None:
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiration date (MM / YY)").fill("12 / 34")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name=re.compile(r"^Place order and pay")).click()


def error_box(page):
    return page.locator("[data-payment-element-error]")


def test_a_guest_pays_through_the_payment_element(page, live_server, fake_stripe, kettle, watch):
    to_payment(page, live_server, kettle)
    assert page.locator('input[name="card_number"]').count() == 0
    # an empty card number is stopped in the page (elements.submit), before any order exists
    page.get_by_role("button", name=re.compile(r"^Place order and pay")).click()
    expect(error_box(page)).to_have_text("Your card number is incomplete.")
    assert not Order.objects.exists()

    pay_with(page, GOOD_CARD)
    expect(page).to_have_url(re.compile(r"/orders/guest/[^/?]+/$"))
    order = Order.objects.get()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.number}")
    expect(page.get_by_text(f"Thank you! Your order {order.number} is placed.")).to_be_visible()
    expect(page.locator("#cart-count")).to_have_text("0")
    assert order.status == Order.Status.PAID
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.AUTHORIZED
    intent = fake_stripe.intent(payment.provider_reference)
    assert (intent["status"], intent["amount"], intent["capture_method"]) == ("requires_capture", 2400, "manual")
    assert reserved(kettle) == 1
    assert not CartLine.objects.exists()
    assert_clean(watch, GOOD_CARD)


def test_a_declined_card_says_so_then_a_good_card_pays(page, live_server, fake_stripe, kettle, watch):
    to_payment(page, live_server, kettle)
    pay_with(page, DECLINED_CARD)
    expect(error_box(page)).to_have_text("Your card was declined.")
    expect(page).to_have_url(re.compile(r"/checkout/review/$"))
    assert not Order.objects.exists()
    assert reserved(kettle) == 0
    declined = Payment.objects.get()
    assert declined.status == PaymentStatus.DECLINED
    assert fake_stripe.intent(declined.provider_reference)["status"] == "canceled"
    assert CartLine.objects.get().quantity == 1

    pay_with(page, GOOD_CARD)  # the same page, a new attempt
    expect(page).to_have_url(re.compile(r"/orders/guest/[^/?]+/$"))
    order = Order.objects.get()
    assert order.status == Order.Status.PAID
    assert Payment.objects.filter(status=PaymentStatus.AUTHORIZED).get().reference == order.number
    assert reserved(kettle) == 1
    assert_clean(watch, DECLINED_CARD, GOOD_CARD)


def test_3d_secure_completed_pays(page, live_server, fake_stripe, kettle, watch, shots):
    to_payment(page, live_server, kettle)
    pay_with(page, THREE_D_SECURE_CARD)
    dialog = page.get_by_role("dialog", name="Authenticate this payment")
    expect(dialog).to_be_visible()
    page.screenshot(path=str(shots / "stripe-3ds-dialog.png"))
    order = Order.objects.get()
    assert order.status == Order.Status.PLACED  # waiting for the bank, not declined
    assert Payment.objects.get().status == PaymentStatus.REQUIRES_ACTION
    dialog.get_by_role("button", name="Complete").click()
    expect(page).to_have_url(re.compile(rf"/orders/guest/{order.number}/$"))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert_clean(watch, THREE_D_SECURE_CARD)


def test_3d_secure_failed_says_so_and_orders_nothing(page, live_server, fake_stripe, kettle, watch):
    to_payment(page, live_server, kettle)
    pay_with(page, THREE_D_SECURE_CARD)
    page.get_by_role("dialog", name="Authenticate this payment").get_by_role("button", name="Fail").click()
    expect(error_box(page)).to_contain_text("We are unable to authenticate your payment method.")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert not Order.objects.exists()
    assert reserved(kettle) == 0
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.DECLINED
    assert fake_stripe.intent(payment.provider_reference)["status"] == "canceled"
    assert CartLine.objects.get().quantity == 1
    expect(page.get_by_role("button", name=re.compile(r"^Place order and pay"))).to_be_enabled()
    assert_clean(watch, THREE_D_SECURE_CARD)


@pytest.fixture
def plan():
    return plan_save(plan=Plan(name="Bazaar Plus", slug="plus", monthly_price=Decimal("12.99"),
                               annual_price=Decimal("119.00"), trial_days=30))


def sign_in(page, live_server, email: str, next_url: str) -> None:
    page.goto(f"{live_server.url}/account/sign-in/?next={next_url}")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(next_url) + "$"))


def test_a_member_joins_with_a_saved_card_then_changes_it(page, live_server, fake_stripe, plan, watch):
    member = UserFactory(email="nina@example.com")
    sign_in(page, live_server, "nina@example.com", "/membership/join/plus/")
    expect(page.locator("[data-payment-element-loading]")).to_have_count(0)
    page.get_by_label("Card number").fill(GOOD_CARD)
    page.get_by_role("button", name="Start your free trial").click()
    expect(page).to_have_url(re.compile(r"/membership/account/$"))
    expect(page.locator("main")).to_contain_text("Free trial")
    subscription = Subscription.objects.get(user=member)
    assert subscription.status == Subscription.Status.TRIALING
    assert (subscription.card_label, subscription.card_fingerprint) == (
        "Visa ending 4242", fingerprint_of("4242424242424242"))
    assert not fake_stripe.intents  # saving the card charged nothing

    # a new card that the bank wants confirmed while saving it
    page.goto(live_server.url + "/membership/account/card/")
    expect(page.locator("[data-payment-element-loading]")).to_have_count(0)
    page.get_by_label("Card number").fill(SETUP_THREE_D_SECURE_CARD)
    page.get_by_role("button", name="Save card").click()
    page.get_by_role("dialog", name="Authenticate this payment").get_by_role("button", name="Complete").click()
    expect(page).to_have_url(re.compile(r"/membership/account/$"))
    expect(page.get_by_text("Your card is saved for your renewals.")).to_be_visible()
    subscription.refresh_from_db()
    assert subscription.card_fingerprint == fingerprint_of("4000002500003155")
    customer, _sep, method = subscription.payment_method.partition("|")
    assert fake_stripe.payment_methods[method]["customer"] == customer
    assert subscription.status == Subscription.Status.TRIALING
    assert_clean(watch, GOOD_CARD, SETUP_THREE_D_SECURE_CARD)


def test_joining_without_a_trial_confirms_the_first_charge_with_the_bank(page, live_server, fake_stripe, plan,
                                                                           watch):
    """A card that already had a free trial joins without one; its first charge needs 3-D Secure,
    which the confirm page finishes with Stripe.js before joining."""
    first = UserFactory(email="first@example.com")
    Subscription.objects.create(user=first, plan=plan, status=Subscription.Status.EXPIRED, interval="month",
                                current_period_start="2025-01-01T00:00Z", current_period_end="2025-02-01T00:00Z",
                                trial_end="2025-02-01T00:00Z", card_fingerprint=fingerprint_of("4000002500003155"))
    member = UserFactory(email="omar@example.com")
    sign_in(page, live_server, "omar@example.com", "/membership/join/plus/")
    page.get_by_label("Card number").fill(SETUP_THREE_D_SECURE_CARD)
    page.get_by_role("button", name="Start your free trial").click()
    page.get_by_role("dialog", name="Authenticate this payment").get_by_role("button", name="Complete").click()
    expect(page.get_by_text("This card has already had a free trial.")).to_be_visible()
    assert not Subscription.objects.filter(user=member).exists()

    page.get_by_label("Join without the free trial: charge the first period now").check()
    page.get_by_label("Card number").fill(SETUP_THREE_D_SECURE_CARD)
    page.get_by_role("button", name=re.compile(r"Start your free trial|Join and pay")).click()
    # saving the card again wants the bank, then the first charge does too (the confirm page)
    page.get_by_role("dialog", name="Authenticate this payment").get_by_role("button", name="Complete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your payment")
    page.get_by_role("dialog", name="Authenticate this payment").get_by_role("button", name="Complete").click()
    expect(page).to_have_url(re.compile(r"/membership/account/$"))
    subscription = Subscription.objects.get(user=member)
    assert (subscription.status, subscription.trial_end) == (Subscription.Status.ACTIVE, None)
    charged = [i for i in fake_stripe.intents.values() if i["status"] == "succeeded"]
    assert [i["amount"] for i in charged] == [1299]
    assert len(fake_stripe.intents) == 1
    assert_clean(watch, SETUP_THREE_D_SECURE_CARD)
