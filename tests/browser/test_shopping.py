"""A shopper's journey in a real browser: browse, filter, open a product, compare sellers; search
with a typo. Transactional (the live server reads committed data); the house seller row made by a
migration is restored afterwards by serialized rollback."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from catalog import services as catalog_services
from marketplace.models import Offer
from tests.factories import (
    BrandFactory,
    CategoryFactory,
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    shipping_method,
    stock,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def picture(colour: str, name: str) -> ContentFile:
    img = Image.new("RGB", (600, 600), "white")
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((150, 180, 450, 520), radius=60, fill=colour)
    draw.rectangle((230, 120, 370, 180), fill=colour)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name=name)


@pytest.fixture
def store():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    shipping_method(channel="merchant", price="4.99", code="std-merchant", min_days=3, max_days=5)
    kitchen = CategoryFactory(name="Kitchen")
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    CategoryFactory(name="Garden")
    acme = BrandFactory(name="Acme")
    zenith = BrandFactory(name="Zenith")
    kettle = ProductFactory(
        title="Electric Kettle", category=kettles, brand=acme,
        description="A 1.7 litre kettle that boils a cup in under a minute. Auto shut-off, boil-dry protection.",
        attributes={"colour": "Red", "capacity": "1.7 l", "power": "2200 W"},
    )
    toaster = ProductFactory(title="Slot Toaster", category=kitchen, brand=acme, attributes={"colour": "Black"})
    mixer = ProductFactory(title="Stand Mixer", category=kitchen, brand=zenith, attributes={"colour": "Red"})
    catalog_services.product_image_add(product=kettle, image=picture("#d7263d", "red.png"), alt_text="Red kettle")
    catalog_services.product_image_add(
        product=kettle, image=picture("#1b998b", "teal.png"), alt_text="Teal kettle", position=1
    )

    winner = OfferFactory(
        product=kettle, seller=SellerFactory(name="Kettle World"), price=Decimal("24.00"),
        list_price=Decimal("32.00"),
    )
    beta = OfferFactory(
        product=kettle, seller=SellerFactory(name="Beta Goods"), price=Decimal("22.50"),
        fulfillment_channel=Offer.Channel.MERCHANT, condition=Offer.Condition.USED_LIKE_NEW,
    )
    gamma = OfferFactory(product=kettle, seller=SellerFactory(name="Gamma Home"), price=Decimal("29.99"))
    stock(winner, 3)
    stock(beta, 12)
    stock(gamma, 0)
    stock(OfferFactory(product=toaster, price=Decimal("34.50")), 8)
    stock(OfferFactory(product=mixer, price=Decimal("249.00")), 2)
    catalog_services.review_create(
        product=kettle, user=UserFactory(full_name="Ada L."), rating=5, title="Fast and quiet",
        body="Boils quickly and switches itself off.", verified_purchase=True,
    )
    return {"kettle": kettle, "winner": winner, "beta": beta, "gamma": gamma}


def test_browse_filter_and_compare_sellers(page, live_server, store, shots):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome to Bazaar")
    page.screenshot(path=str(shots / "home-1280.png"), full_page=True)

    page.locator(".category-grid").get_by_role("link", name="Kitchen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kitchen")
    expect(page.locator(".card")).to_have_count(3)

    page.get_by_label("Acme").check()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"brand=acme"))
    expect(page.locator(".card")).to_have_count(2)
    expect(page.get_by_role("link", name="Stand Mixer")).to_have_count(0)
    expect(page.locator(".chips")).to_contain_text("Acme")

    # the sort select submits itself (JavaScript) and keeps the brand filter; wait until the
    # deferred script has attached its listener
    page.wait_for_selector("html[data-enhanced]", state="attached")
    page.get_by_label("Sort by").select_option("price_desc")
    expect(page).to_have_url(re.compile(r"sort=price_desc"))
    expect(page).to_have_url(re.compile(r"brand=acme"))
    expect(page.locator(".card__title").first).to_have_text("Slot Toaster")

    page.get_by_role("link", name="Electric Kettle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Electric Kettle")
    buy_box = page.locator(".buy-box")
    expect(buy_box.locator(".price--large")).to_have_text("$24.00")
    expect(buy_box).to_contain_text("Sold by Kettle World")
    expect(buy_box).to_contain_text("Only 3 left in stock")
    expect(buy_box.get_by_label("Quantity")).to_have_value("1")
    expect(buy_box.get_by_role("button", name="Add to cart")).to_be_visible()

    # the gallery swaps the main image without leaving the page
    main_image = page.locator("#gallery-main")
    expect(main_image).to_have_attribute("alt", "Red kettle")
    page.locator("[data-gallery-thumb]").nth(1).click()
    expect(main_image).to_have_attribute("alt", "Teal kettle")
    # the swapped-in picture really loads (wait: it is fetched after the click)
    page.wait_for_function(
        "() => { const img = document.getElementById('gallery-main'); return img.complete && img.naturalWidth > 0; }"
    )

    page.get_by_role("link", name=re.compile(r"2 other sellers from \$22\.50")).click()
    expect(page).to_have_url(re.compile(r"#offers$"))
    table = page.locator("#offers table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("Beta Goods")
    expect(table).to_contain_text("$22.50")
    expect(table).to_contain_text("Gamma Home")
    expect(table).to_contain_text("Out of stock")
    expect(table.get_by_role("button", name="Add to cart from Beta Goods")).to_be_visible()

    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "product-1280.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    expect(page.locator(".buy-box .price--large")).to_have_text("$24.00")
    no_sideways_scroll = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(shots / "product-375.png"), full_page=True)
    assert no_sideways_scroll


def test_filters_collapse_on_a_phone(page, live_server, store, shots):
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(live_server.url + "/c/kitchen/")
    facets = page.locator("details.facets")
    expect(facets).not_to_have_attribute("open", "")
    page.get_by_text("Filters", exact=True).click()
    expect(facets).to_have_attribute("open", "")
    expect(page.get_by_label("Acme")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(shots / "category-375.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(shots / "category-1280.png"), full_page=True)

    # a bad price is explained in an error summary, and on a phone the filters open to fix it
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(live_server.url + "/c/kitchen/?min_price=abc")
    expect(page.get_by_role("alert")).to_contain_text("Enter a number")
    expect(facets).to_have_attribute("open", "")
    expect(page.get_by_label("Min", exact=True)).to_be_visible()
    expect(page.locator(".card")).to_have_count(3)
    page.screenshot(path=str(shots / "category-error-375.png"), full_page=False)


def test_search_forgives_a_typo(page, live_server, store):
    page.goto(live_server.url + "/")
    search = page.get_by_role("search").first
    search.get_by_label("Search products").fill("kettel")
    search.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search/\?q=kettel"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("kettel")
    expect(page.get_by_role("link", name="Electric Kettle")).to_be_visible()
    expect(page.locator(".card")).to_have_count(1)
    expect(page.get_by_text("Showing results for “kettle”")).to_be_visible()
