"""The Content-Security-Policy in a real browser: the shop's pages load, run their scripts (htmx,
shop.js) and work without one policy violation reported in the console. Transactional (the live
server reads committed data)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import CategoryFactory, OfferFactory, ProductFactory, UserFactory, shipping_method, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

VIOLATION_MARKS = ("Content Security Policy", "Content-Security-Policy", "Refused to")


@pytest.fixture
def console(page):
    """Every console message and page error of the tab, as text."""
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    return messages


def violations(messages: list[str]) -> list[str]:
    return [m for m in messages if any(mark in m for mark in VIOLATION_MARKS)]


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.ok, url
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")


@pytest.fixture
def store():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    product = ProductFactory(title="Electric Kettle", category=CategoryFactory(name="Kettles"))
    offer = OfferFactory(product=product, price=Decimal("24.00"))
    stock(offer, 5)
    return {"product": product, "offer": offer}


def test_shop_pages_run_their_scripts_without_policy_violations(page, live_server, store, console):
    visit(page, live_server.url + "/")
    page.wait_for_selector("html[data-enhanced]", state="attached")  # shop.js ran
    visit(page, live_server.url + "/c/kettles/")

    # Product page: htmx (a static file) adds to the cart in place.
    visit(page, live_server.url + store["product"].get_absolute_url())
    page.wait_for_selector("html[data-enhanced]", state="attached")
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("htmx.config.allowEval") is False  # from the htmx-config meta tag
    buy_box = page.locator(".add-to-cart").first
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")

    visit(page, live_server.url + "/cart/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    visit(page, live_server.url + "/checkout/")
    expect(page.get_by_label("Full name")).to_be_visible()

    assert violations(console) == [], console


def test_account_admin_and_api_docs_have_no_policy_violations(page, live_server, console):
    UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    visit(page, live_server.url + "/account/sign-in/")
    page.get_by_label("E-mail").fill("root@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")

    visit(page, live_server.url + "/admin/")
    visit(page, live_server.url + "/admin/catalog/product/add/")
    visit(page, live_server.url + "/api/docs/")
    expect(page.locator("#swagger-ui .information-container")).to_be_visible()  # the split view's script ran
    visit(page, live_server.url + "/api/redoc/")
    expect(page.get_by_role("heading", name="Bazaar API")).to_be_visible()  # Redoc rendered the schema

    assert violations(console) == [], console
