"""Joining the membership in a real browser, then seeing its benefits where they count: the cart
says what a non-member would save, and after joining the checkout ships the platform-fulfilled
package free (every option, the members-only one-day delivery included) at the member price."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from membership.models import Plan, Subscription
from membership.services import plan_save
from tests.browser.test_buying import PASSWORD, fill_address
from tests.factories import OfferFactory, ProductFactory, UserFactory, shipping_method, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def shop_with_plan():
    shipping_method(channel="platform", price="5.99", code="standard", min_days=3, max_days=5)
    shipping_method(channel="platform", price="12.99", code="one-day", min_days=1, max_days=1, members_only=True)
    plan_save(plan=Plan(name="Bazaar Plus", slug="plus", monthly_price=Decimal("12.99"),
                        annual_price=Decimal("119.00"), trial_days=30))
    product = ProductFactory(title="Espresso Machine")
    stock(OfferFactory(product=product, price=Decimal("200.00"), member_price=Decimal("180.00")), 5)
    UserFactory(email="nina@example.com")
    return product


def test_join_membership_and_get_free_shipping_at_checkout(page, live_server, shop_with_plan, shots):
    # a guest sees what members pay, and what the cart would cost as a member
    page.goto(live_server.url + shop_with_plan.get_absolute_url())
    expect(page.locator(".buy-box")).to_contain_text("Members pay $180.00")
    expect(page.locator(".buy-box")).to_contain_text("Free delivery for members")
    page.locator(".buy-box").get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-count")).to_have_text("1")
    page.goto(live_server.url + "/cart/")
    expect(page.locator(".member-savings")).to_contain_text("costs $25.99 less")  # 20.00 + 5.99 shipping

    # sign in and join with the test card (free trial)
    page.goto(live_server.url + "/account/sign-in/?next=/membership/")
    page.get_by_label("E-mail address").fill("nina@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Start your free trial").first.click()
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_role("button", name="Start your free trial").click()
    expect(page.get_by_role("alert").first).to_contain_text("declined")
    assert not Subscription.objects.exists()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Start your free trial").click()
    expect(page.locator("main")).to_contain_text("Free trial")
    expect(page.locator(".site-header")).to_contain_text("Bazaar Plus")  # the member badge
    page.screenshot(path=str(shots / "membership-joined.png"))

    # the cart now has the member price, and checkout ships the package free
    page.goto(live_server.url + "/cart/")
    expect(page.locator(".cart-table")).to_contain_text("Member price")
    expect(page.locator(".cart-table")).to_contain_text("$180.00")
    page.get_by_role("link", name="Proceed to checkout").click()
    fill_address(page, email=None)
    expect(page.locator(".member-note")).to_contain_text("free with your membership")
    one_day = page.get_by_label(re.compile(r"^platform 12\.99 Members"))
    expect(one_day).to_be_checked()  # every option is free: the fastest is chosen
    expect(page.locator(".totals")).to_contain_text("Free")
    page.screenshot(path=str(shots / "membership-checkout-delivery.png"))
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator(".totals")).to_contain_text("$180.00")
    expect(page.locator(".totals")).not_to_contain_text("$5.99")
