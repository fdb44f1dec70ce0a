"""Applying a voucher in the cart in a real browser: a code that does not apply is refused (a guest
is not told why), a good one shows its discount line, both without a page load."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from promotions.models import Voucher
from tests.factories import OfferFactory, ProductFactory, shipping_method, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def socks():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    product = ProductFactory(title="Wool Socks")
    stock(OfferFactory(product=product, price=Decimal("20.00")), 5)
    Voucher.objects.create(code="SAVE10", kind="percent", value=Decimal("10"), active=True,
                           starts_at=timezone.now() - timezone.timedelta(days=1))
    Voucher.objects.create(code="BIGSPEND", kind="fixed", value=Decimal("5"), minimum_spend=Decimal("100"),
                           active=True, starts_at=timezone.now() - timezone.timedelta(days=1))
    return product


def test_apply_a_voucher_in_the_cart(page, live_server, socks, shots):
    page.goto(live_server.url + socks.get_absolute_url())
    page.wait_for_selector("html[data-enhanced]", state="attached")
    page.locator(".add-to-cart").first.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-count")).to_have_text("1")

    page.goto(live_server.url + "/cart/")
    page.wait_for_selector("html[data-enhanced]", state="attached")
    page.evaluate("window.__sameDocument = true")

    page.get_by_role("textbox", name="Voucher code").fill("bigspend")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("does not apply")
    expect(page.get_by_role("alert")).to_contain_text("This code cannot be used for this order.")

    # the code box stays beside "Remove code": the right code replaces the wrong one at once
    expect(page.get_by_role("button", name="Remove voucher code BIGSPEND")).to_be_visible()
    page.get_by_role("textbox", name="Voucher code").fill("save10")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".cart__discount")).to_contain_text("-$2.00")
    expect(page.locator("#cart-body")).to_contain_text("Subtotal after discounts: $18.00")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Voucher code")).to_have_count(0)  # applied: only "Remove code"
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    page.screenshot(path=str(shots / "cart-voucher.png"))
