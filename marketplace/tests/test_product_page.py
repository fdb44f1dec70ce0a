"""The product page (buy box, other sellers, reviews) and the seller page, through the test client."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from catalog import services as catalog_services
from marketplace import services as marketplace_services
from marketplace.models import Offer
from tests.commit import committed
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


def arrives(working_days: int) -> str:
    """The day ``working_days`` working days from today, as the promise shows it (no cutoff set)."""
    from fulfillment.promise import add_working_days

    return f"{add_working_days(timezone.localdate(), working_days):%a %-d %b}"


pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def plain(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


@pytest.fixture
def shipping():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    shipping_method(channel="merchant", price="4.99", code="std-merchant", min_days=3, max_days=5)


@pytest.fixture
def kettle(shipping):
    kitchen = CategoryFactory(name="Kitchen")
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    return ProductFactory(
        title="Electric Kettle", category=kettles, brand=BrandFactory(name="Acme"),
        description="Boils a litre in two minutes.", attributes={"colour": "Red", "capacity": "1.7 l"},
    )


def png(colour: str) -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name=f"{colour}.png")


def test_buy_box_shows_the_winning_offer_with_an_accessible_add_to_cart_form(client, kettle):
    seller = SellerFactory(name="Kettle World")
    winner = OfferFactory(
        product=kettle, seller=seller, price=Decimal("24.00"), list_price=Decimal("32.00"), handling_days=1
    )
    stock(winner, 3)
    response = client.get(kettle.get_absolute_url())
    assert response.status_code == 200
    page = text(response)
    words = plain(response)
    assert page.count("<h1") == 1
    assert "Electric Kettle | Bazaar</title>" in page
    assert '<span class="price price--large">$24.00</span>' in page
    assert "<s>$32.00</s>" in page
    assert "25% off" in page
    assert "Sold by Kettle World" in words
    assert 'href="/sellers/kettle-world/"' in page
    assert "Fulfilled by Bazaar" in words
    assert "Only 3 left in stock" in words
    assert f"Arrives {arrives(2)} – {arrives(3)}" in words  # one handling day + 1-2 working days in transit
    assert "Free delivery" in words
    assert "Condition: New" in words
    # the add-to-cart form (the cart itself comes later)
    assert '<form class="add-to-cart" method="post" action="/cart/add/"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert f'<input type="hidden" name="offer" value="{winner.pk}">' in page
    assert '<label for="qty-buybox">Quantity</label>' in page
    assert 'id="qty-buybox" type="number" name="quantity" value="1" min="1" max="3"' in page
    # breadcrumbs, details and description
    assert '<a href="/c/kitchen/">Kitchen</a>' in page
    assert '<a href="/c/kettles/">Kettles</a>' in page
    assert '<span aria-current="page">Electric Kettle</span>' in page
    assert "<dt>Colour</dt><dd>Red</dd>" in page
    assert "<dt>Capacity</dt><dd>1.7 l</dd>" in page
    assert "Boils a litre in two minutes." in page
    assert "No reviews yet." in page
    assert 'id="offers"' not in page  # no other sellers


def test_plenty_of_stock_says_in_stock(client, kettle):
    stock(OfferFactory(product=kettle), 40)
    words = plain(client.get(kettle.get_absolute_url()))
    assert "In stock" in words
    assert "left in stock" not in words


def test_other_sellers_link_to_an_offers_table(client, kettle):
    best = OfferFactory(product=kettle, price=Decimal("20.00"), seller=SellerFactory(name="Alpha"))
    second = OfferFactory(
        product=kettle, price=Decimal("21.00"), seller=SellerFactory(name="Beta Goods"),
        fulfillment_channel=Offer.Channel.MERCHANT, condition=Offer.Condition.USED_GOOD,
    )
    third = OfferFactory(product=kettle, price=Decimal("26.00"), seller=SellerFactory(name="Gamma"))
    empty = OfferFactory(product=kettle, price=Decimal("15.00"), seller=SellerFactory(name="Delta"))
    stock(best, 10)
    stock(second, 2)
    stock(third, 8)
    stock(empty, 0)
    response = client.get(kettle.get_absolute_url())
    page, words = text(response), plain(response)
    assert '<span class="price price--large">$20.00</span>' in page
    # three other offers; the cheapest one that can be bought costs 21.00 (the 15.00 one is out of stock)
    assert '<a href="#offers">' in page
    assert "3 other sellers from $21.00" in words
    offers_table = page[page.index('id="offers"'):page.index('id="reviews"')]
    for name in ("Beta Goods", "Gamma", "Delta"):
        assert name in offers_table
    assert "Alpha" not in offers_table
    assert "Used - good" in offers_table
    assert "+ $4.99 delivery" in offers_table
    assert f"Arrives {arrives(4)} – {arrives(6)}" in offers_table
    assert "Only 2 left" in offers_table
    assert "Out of stock" in offers_table
    # a form per buyable other offer, with its own labelled quantity field
    assert offers_table.count('action="/cart/add/"') == 2
    assert f'<label for="qty-{second.pk}">Quantity</label>' in offers_table
    assert f'name="offer" value="{empty.pk}"' not in offers_table
    # an offer out of stock promises no delivery (nothing would leave)
    delta_row = offers_table[offers_table.index("Delta"):]
    delta_row = delta_row[:delta_row.index("</tr>")]
    assert "Arrives" not in delta_row
    assert "delivery" not in delta_row.lower().replace('data-label="delivery"', "")


def test_without_stock_the_product_is_currently_unavailable(client, kettle):
    stock(OfferFactory(product=kettle, price=Decimal("9.00")), 0)
    response = client.get(kettle.get_absolute_url())
    assert response.status_code == 200
    page, words = text(response), plain(response)
    assert "Currently unavailable" in words
    assert 'action="/cart/add/"' not in page
    assert "1 other offer (out of stock)" in words


def test_product_without_any_offer_is_unavailable(client, kettle):
    response = client.get(kettle.get_absolute_url())
    assert response.status_code == 200
    assert "Currently unavailable" in plain(response)


def test_reviews_show_stars_title_badge_and_date(client, kettle):
    stock(OfferFactory(product=kettle), 5)
    catalog_services.review_create(
        product=kettle, user=UserFactory(full_name="Ada L."), rating=4, title="Quick and quiet",
        body="Does the job.", verified_purchase=True,
    )
    catalog_services.review_create(product=kettle, user=UserFactory(full_name=""), rating=2, title="Too loud",
        verified_purchase=False)
    response = client.get(kettle.get_absolute_url())
    page, words = text(response), plain(response)
    assert "★★★★☆" in page
    assert "4 out of 5 stars" in words
    assert "Quick and quiet" in page
    assert "Verified purchase" in page
    assert "By Ada L." in words
    assert "Too loud" in page
    assert "By A customer" in words
    assert page.count("Verified purchase") == 1
    assert "2 ratings" in words
    assert "No reviews yet" not in page


def test_gallery_shows_the_main_image_and_thumbnails_as_links(client, kettle):
    stock(OfferFactory(product=kettle), 5)
    with committed():  # thumbnails are made by a task after the commit
        catalog_services.product_image_add(product=kettle, image=png("red"), alt_text="Red kettle, front")
        catalog_services.product_image_add(product=kettle, image=png("blue"), alt_text="", position=1)
    page = text(client.get(kettle.get_absolute_url()))
    assert 'id="gallery-main"' in page
    assert 'alt="Red kettle, front"' in page
    assert page.count("data-gallery-thumb") == 2
    assert 'alt="Image 2: Electric Kettle"' in page  # an image without alt text falls back to the title
    # the listing card uses the thumbnail with alt text
    listing = text(client.get("/c/kettles/"))
    assert 'alt="Red kettle, front"' in listing
    assert "/media/thumbnails/" in listing


def test_unknown_product_is_404(client, kettle):
    response = client.get("/p/no-such-product/")
    assert response.status_code == 404
    assert "find that page" in text(response)


def test_inactive_product_is_404(client, kettle):
    kettle.is_active = False
    catalog_services.product_save(product=kettle)
    assert client.get(kettle.get_absolute_url()).status_code == 404


def test_seller_page_lists_offers_linking_to_products(client, kettle):
    seller = SellerFactory(name="Kettle World", description="Kettles since 1999.", rating_count=12)
    stock(OfferFactory(product=kettle, seller=seller, price=Decimal("24.00")), 2)
    response = client.get("/sellers/kettle-world/")
    assert response.status_code == 200
    page, words = text(response), plain(response)
    assert page.count("<h1") == 1
    assert "Kettle World" in page
    assert "Kettles since 1999." in page
    assert "12 seller ratings" in words
    assert f'href="{kettle.get_absolute_url()}"' in page
    assert "$24.00" in page
    assert client.get("/sellers/nobody/").status_code == 404


# --- performance -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [3, 30])
def test_product_page_takes_constant_queries_then_comes_from_the_cache(
    client, kettle, django_assert_max_num_queries, size
):
    for i in range(size):
        offer = OfferFactory(
            product=kettle, price=Decimal(20 + i), seller=SellerFactory(),
            fulfillment_channel=Offer.Channel.MERCHANT if i % 2 else Offer.Channel.PLATFORM,
        )
        stock(offer, i % 3)
    for i in range(min(size, 8)):
        catalog_services.review_create(product=kettle, user=UserFactory(), rating=1 + i % 5, title=f"Review {i}",
            verified_purchase=False)
    for i in range(min(size, 4)):
        with committed():  # the thumbnail is made after the commit
            catalog_services.product_image_add(product=kettle, image=png(["red", "blue", "green", "white"][i]))
    cache.clear()
    # + the live deals of the buy-box offer and the featured membership plan (both cached when warm)
    with django_assert_max_num_queries(12):
        response = client.get(kettle.get_absolute_url())
    assert response.status_code == 200
    assert response["X-Page-Cache"] == "miss"
    with django_assert_max_num_queries(0):
        again = client.get(kettle.get_absolute_url())
    assert again["X-Page-Cache"] == "hit"
    assert "Electric Kettle" in text(again)


def test_cached_page_changes_when_the_offer_is_withdrawn(client, kettle):
    offer = OfferFactory(product=kettle, price=Decimal("24.00"))
    stock(offer, 1)
    assert "Only 1 left in stock" in plain(client.get(kettle.get_absolute_url()))
    assert client.get(kettle.get_absolute_url())["X-Page-Cache"] == "hit"
    with committed():
        marketplace_services.offer_update(offer=offer, is_active=False)
    response = client.get(kettle.get_absolute_url())
    assert response["X-Page-Cache"] == "miss"
    assert "Currently unavailable" in plain(response)
