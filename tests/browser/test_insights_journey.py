"""Insights in a real browser: a shopper views a kettle, follows a "Customers who bought this also
bought" recommendation to a mug, buys it, and after the day's rollup staff see the visit and the
order counted on the admin dashboard. The events travel the real way: the page's script posts to
the beacon, the server buffers them in Redis, the flush stores them, the order's domain events
become "Order Completed". Transactional (the live server reads committed data)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core import analytics
from insights import recommendations, rollups, services
from insights.models import Event
from orders.models import Order
from tests.browser.journeys import ready, sign_in_admin
from tests.factories import OfferFactory, ProductFactory, UserFactory, house_seller, shipping_method, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PAYS = "4242 4242 4242 4242"


@pytest.fixture
def shop():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    made = {}
    for title, price in (("Copper Kettle", "30.00"), ("Stoneware Mug", "12.00"), ("Tea Strainer", "6.00")):
        product = ProductFactory(title=title)
        offer = OfferFactory(product=product, seller=house_seller(), price=Decimal(price))
        stock(offer, 20)
        made[title.split()[1].lower()] = product
    # Earlier shoppers bought the kettle with the mug: "also bought" has something true to say.
    then = timezone.now() - timedelta(days=3)
    services.events_insert([
        analytics.make_record(
            "Order Completed", visitor_id=uuid.uuid4().hex, occurred_at=then, anonymous=True,
            properties={"order_id": f"OLD-{n}", "revenue": "42.00", "currency": "USD",
                        "products": [{"product_id": made["kettle"].pk, "quantity": 1, "price": "30.00"},
                                     {"product_id": made["mug"].pk, "quantity": 1, "price": "12.00"}]})
        for n in range(4)])
    recommendations.recommendations_compute()
    return made


def test_a_recommendation_followed_to_an_order_shows_on_the_dashboard(page, live_server, shop):
    page.goto(live_server.url + shop["kettle"].get_absolute_url())
    ready(page)
    block = page.locator('[data-recommendations="also_bought"]')
    expect(block.get_by_role("heading", level=2)).to_have_text("Customers who bought this also bought")
    block.get_by_role("link", name="Stoneware Mug").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stoneware Mug")
    ready(page)
    buy_box = page.locator(".add-to-cart").first
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")
    page.locator(".cart-link").click()
    page.get_by_role("link", name="Proceed to checkout").click()
    page.get_by_label("E-mail for your receipt").fill("ina@example.com")
    page.get_by_label("Full name").fill("Ina Sight")
    page.get_by_label("Address line 1").fill("3 Data Lane")
    page.get_by_label("City").fill("Portland")
    page.get_by_label("Postal code").fill("97201")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Continue to delivery").click()
    page.get_by_role("button", name=re.compile("Continue")).click()
    page.get_by_label("Card number").fill(PAYS)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Order BZ-")
    order = Order.objects.get(email="ina@example.com")
    visitor = page.context.cookies(live_server.url)
    visitor_id = next(c["value"] for c in visitor if c["name"] == analytics.VISITOR_COOKIE)
    assert order.visitor_id == visitor_id

    # What the workers do: drain the beacon's buffer, turn domain events into analytics, roll up.
    services.events_flush()
    services.domain_events_ingest(settle_seconds=0)
    names = set(Event.objects.filter(visitor_id=visitor_id).values_list("name", flat=True))
    assert {"Product Viewed", "Product Clicked", "Product Added", "Checkout Started", "Order Completed"} <= names
    click = Event.objects.get(visitor_id=visitor_id, name="Product Clicked")
    assert (click.properties["product_id"], click.properties["list"]) == (
        shop["mug"].pk, "recommendations_also_bought")
    rollups.rollup_day(timezone.now().date())

    staff = UserFactory(is_staff=True, is_superuser=True)
    sign_in_admin(page, live_server, staff.email)
    page.goto(f"{live_server.url}/admin/insights/dailymetric/")
    tiles = page.locator(".tile")
    expect(tiles.filter(has_text="Orders").locator(".tile__value")).to_have_text("1")
    expect(tiles.filter(has_text="Sessions").locator(".tile__value")).to_have_text("1")
