"""The cart in a real browser with htmx: add from a product page, change the quantity and remove the
line, each without a page load. Transactional (the live server reads committed data)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import OfferFactory, ProductFactory, SellerFactory, shipping_method, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def kettle():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    product = ProductFactory(title="Electric Kettle")
    offer = OfferFactory(product=product, seller=SellerFactory(name="Kettle World"), price=Decimal("24.00"))
    stock(offer, 3)
    return product


def mark_page(page) -> None:
    """A flag on ``window`` survives htmx swaps but not a page load."""
    page.evaluate("window.__sameDocument = true")


def assert_same_page(page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_add_change_and_remove_without_reloading(page, live_server, kettle, shots):
    page.goto(live_server.url + kettle.get_absolute_url())
    page.wait_for_selector("html[data-enhanced]", state="attached")
    badge = page.locator("#cart-count")
    expect(badge).to_have_text("0")
    mark_page(page)

    buy_box = page.locator(".add-to-cart").first
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")
    expect(badge).to_have_text("1")
    expect(page.locator("#cart-count-text")).to_have_text("1 item in your cart")
    assert_same_page(page)

    buy_box.get_by_label("Quantity").fill("3")
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("alert")).to_contain_text("Only 3 left in stock.")
    expect(badge).to_have_text("1")
    assert_same_page(page)
    page.screenshot(path=str(shots / "cart-added-htmx.png"))

    page.locator(".cart-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    page.wait_for_selector("html[data-enhanced]", state="attached")
    mark_page(page)

    quantity = page.get_by_label("Quantity of Electric Kettle")
    quantity.fill("2")
    page.get_by_role("button", name="Update").click()
    expect(page.locator(".cart__notice")).to_have_text("Your cart was updated")
    expect(badge).to_have_text("2")
    expect(page.locator(".cart__subtotal")).to_contain_text("$48.00")
    expect(page.get_by_label("Quantity of Electric Kettle")).to_have_value("2")
    assert_same_page(page)

    page.get_by_label("Quantity of Electric Kettle").fill("5")
    page.get_by_role("button", name="Update").click()
    expect(page.locator(".cart-line").get_by_role("alert")).to_have_text("Only 3 left in stock.")
    expect(badge).to_have_text("2")
    page.screenshot(path=str(shots / "cart-error-htmx.png"))

    page.get_by_role("button", name="Remove Electric Kettle from your cart").click()
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    expect(badge).to_have_text("0")
    assert_same_page(page)


def test_a_gift_card_amount_is_picked_or_typed_never_both(page, live_server):
    page.goto(live_server.url + "/cart/gift-cards/")
    page.wait_for_selector("html[data-enhanced]", state="attached")
    choices = page.locator("[data-amount-pick] input[type=radio]")
    typed = page.get_by_label("Or another amount")
    choices.first.check()
    typed.fill("30")
    assert choices.evaluate_all("radios => radios.filter(r => r.checked).length") == 0  # typing unchose it
    choices.nth(1).check()
    expect(typed).to_have_value("")  # choosing cleared what was typed
