"""Buying in a real browser: a guest orders from two sellers; a member's guest cart is merged on
sign-in and the order shows under "Your orders"; a declined card says so and keeps the cart.
Screenshots of the review and order pages at desktop and phone widths go to /tmp/shots/.
Transactional (the live server reads committed data); the house seller row made by a migration
is restored afterwards by serialized rollback."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from checkout import services as checkout_services
from checkout.models import Cart, CartLine
from marketplace.models import Offer
from orders.models import Order
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    house_seller,
    shipping_method,
    stock,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PAYS = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
PASSWORD = "correct horse battery"  # UserFactory's


@pytest.fixture
def store():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    shipping_method(channel="platform", price="6.00", code="express-platform", min_days=1, max_days=1)
    shipping_method(channel="merchant", price="4.99", code="std-merchant", min_days=3, max_days=5)
    kettle = ProductFactory(title="Electric Kettle")
    house_offer = OfferFactory(product=kettle, seller=house_seller(), price=Decimal("24.00"))
    stock(house_offer, 5)
    mixer = ProductFactory(title="Stand Mixer")
    seller_offer = OfferFactory(
        product=mixer, seller=SellerFactory(name="Beta Goods"), price=Decimal("49.00"),
        fulfillment_channel=Offer.Channel.MERCHANT,
    )
    stock(seller_offer, 4)
    return {"kettle": kettle, "mixer": mixer, "house": house_offer, "seller": seller_offer}


def ready(page) -> None:
    page.wait_for_selector("html[data-enhanced]", state="attached")


def add_from_product_page(page, live_server, product) -> None:
    page.goto(live_server.url + product.get_absolute_url())
    ready(page)
    buy_box = page.locator(".add-to-cart").first
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")


def to_checkout(page) -> None:
    page.locator(".cart-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    page.get_by_role("link", name="Proceed to checkout").click()
    expect(page).to_have_url(re.compile(r"/checkout/$"))


def fill_address(page, *, email: str | None = "guest@example.com") -> None:
    if email is not None:
        page.get_by_label("E-mail for your receipt").fill(email)
    page.get_by_label("Full name").fill("Gus Guest")
    page.get_by_label("Address line 1").fill("12 Harbour Road")
    page.get_by_label("City").fill("Portland")
    page.get_by_label("Postal code").fill("97201")
    page.get_by_label("State or region").fill("OR")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Continue to delivery").click()
    expect(page).to_have_url(re.compile(r"/checkout/delivery/$"))


def pay(page, card: str) -> None:
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name=re.compile(r"^Place order and pay")).click()


def shoot(page, shots, name: str) -> None:
    """A full-page screenshot at desktop width and another at phone width."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(shots / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 812})
    page.screenshot(path=str(shots / f"{name}-375.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert overflow <= 0, f"{name} scrolls sideways at 375 px ({overflow} px too wide)"


def test_a_guest_buys_from_two_sellers(page, live_server, store, shots):
    house = house_seller().name
    add_from_product_page(page, live_server, store["kettle"])
    add_from_product_page(page, live_server, store["mixer"])
    expect(page.locator("#cart-count")).to_have_text("2")

    to_checkout(page)
    fill_address(page)

    packages = page.locator("fieldset.package")
    expect(packages).to_have_count(2)
    expect(packages.filter(has_text=house)).to_contain_text("Electric Kettle")
    expect(packages.filter(has_text="Beta Goods")).to_contain_text("Stand Mixer")
    packages.filter(has_text=house).get_by_label(re.compile(r"platform 6\.00")).check()
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(r"/checkout/review/$"))

    # 24.00 + 49.00 items, 6.00 express + 4.99 merchant delivery
    expect(page.locator(".totals")).to_contain_text("$83.99")
    expect(page.get_by_role("region", name=f"Package from {house}")).to_contain_text("Electric Kettle")
    expect(page.get_by_role("region", name="Package from Beta Goods")).to_contain_text("Stand Mixer")
    shoot(page, shots, "checkout-review")

    pay(page, PAYS)
    expect(page).to_have_url(re.compile(r"/orders/guest/[^/]+/$"))
    order = Order.objects.get()
    assert order.total == Decimal("83.99")
    assert order.status == Order.Status.PAID
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.number}")
    expect(page.get_by_text(f"Thank you! Your order {order.number} is placed.")).to_be_visible()
    expect(page.locator(".order-package")).to_have_count(2)
    expect(page.get_by_role("region", name=f"Package from {house}")).to_contain_text("Electric Kettle")
    expect(page.get_by_role("region", name="Package from Beta Goods")).to_contain_text("Stand Mixer")
    expect(page.locator(".totals")).to_contain_text("$83.99")
    expect(page.locator("#cart-count")).to_have_text("0")
    shoot(page, shots, "order-guest")
    assert not CartLine.objects.exists()

    # The guest changes their mind: cancelling asks for the order's e-mail again. A real browser
    # posts these forms with the Origin the page's referrer policy allows (CSRF checks it).
    cancel = page.get_by_role("region", name="Cancel this order")
    cancel.get_by_label("E-mail address used for this order").fill("someone-else@example.com")
    cancel.get_by_role("button", name="Cancel this order").click()
    wrong = "This is not the e-mail address of this order. Nothing was cancelled."
    expect(page.get_by_text(wrong, exact=True)).to_be_visible()
    assert Order.objects.get().status == Order.Status.PAID
    cancel.get_by_label("E-mail address used for this order").fill("guest@example.com")
    cancel.get_by_role("button", name="Cancel this order").click()
    expect(page).to_have_url(re.compile(rf"/orders/guest/{order.number}/$"))
    expect(page.get_by_role("region", name="Cancel this order")).to_have_count(0)
    assert Order.objects.get().status == Order.Status.CANCELLED

    # Asking for a new link to the order (the form every guest page links to) posts as well.
    page.goto(f"{live_server.url}/orders/guest/resend/")
    page.get_by_label("Order number").fill(order.number.lower())
    page.get_by_label("E-mail address used for the order").fill("guest@example.com")
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_text(f"If {order.number} is an order placed without an account")).to_be_visible()


def test_a_member_signs_in_keeps_the_cart_and_finds_the_order(page, live_server, store, shots):
    member = UserFactory(email="mia@example.com", full_name="Mia Member")
    saved = Cart.objects.create(user=member)  # left over from an earlier visit
    checkout_services.cart_add(cart=saved, offer_id=store["seller"].pk, quantity=1)

    add_from_product_page(page, live_server, store["kettle"])
    expect(page.locator("#cart-count")).to_have_text("1")

    page.goto(live_server.url + "/account/sign-in/?next=/cart/")
    page.get_by_label("E-mail address").fill("mia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/cart/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    expect(page.locator(".cart-line")).to_have_count(2)
    expect(page.locator("#cart-count")).to_have_text("2")
    expect(page.get_by_label("Quantity of Electric Kettle")).to_have_value("1")
    expect(page.get_by_label("Quantity of Stand Mixer")).to_have_value("1")

    page.get_by_role("link", name="Proceed to checkout").click()
    expect(page.get_by_label("E-mail for your receipt")).to_have_value("mia@example.com")
    fill_address(page, email=None)
    page.get_by_role("button", name="Continue to payment").click()
    pay(page, PAYS)

    order = Order.objects.get()
    assert order.user_id == member.pk
    expect(page).to_have_url(re.compile(rf"/orders/{order.number}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.number}")
    shoot(page, shots, "order-member")

    page.goto(live_server.url + "/orders/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your orders")
    row = page.locator("tbody tr").filter(has_text=order.number)
    expect(row).to_contain_text("Electric Kettle")
    expect(row).to_contain_text("Stand Mixer")
    expect(row).to_contain_text("$77.99")  # 24.00 + 49.00 + free platform + 4.99 merchant
    shoot(page, shots, "orders-list")
    row.get_by_role("link", name=order.number).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.number}")

    # Cancelling asks once more: the first click only opens the question.
    confirm = page.get_by_role("button", name="Yes, cancel the order")
    expect(confirm).to_be_hidden()
    page.get_by_text("Cancel this order", exact=True).click()
    assert Order.objects.get().status == Order.Status.PAID
    expect(confirm).to_be_visible()
    confirm.click()
    expect(page.get_by_text("Yes, cancel the order")).to_have_count(0)
    assert Order.objects.get().status == Order.Status.CANCELLED


def test_a_declined_card_says_so_and_keeps_the_cart(page, live_server, store, shots):
    add_from_product_page(page, live_server, store["kettle"])
    page.locator(".add-to-cart").first.get_by_label("Quantity").fill("2")
    page.locator(".add-to-cart").first.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-count")).to_have_text("3")

    to_checkout(page)
    fill_address(page)
    page.get_by_role("button", name="Continue to payment").click()
    pay(page, DECLINED)

    expect(page).to_have_url(re.compile(r"/checkout/review/$"))
    expect(page.locator(".messages .message--error")).to_have_text("Your card was declined.")
    shoot(page, shots, "checkout-declined")
    assert not Order.objects.exists()

    page.locator(".cart-link").click()
    expect(page.get_by_label("Quantity of Electric Kettle")).to_have_value("3")
    expect(page.locator("#cart-count")).to_have_text("3")
    assert store["house"].stock_items.get().reserved == 0
