"""Shopper pages of the catalog: home, category listing with facets, search. Rendered through the
test client on PostgreSQL and Redis: content, bad input (never a 500), query counts, page cache."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.template.loader import get_template

from tests.factories import (
    BrandFactory,
    CategoryFactory,
    OfferFactory,
    ProductFactory,
    UserFactory,
    shipping_method,
    stock,
)

pytestmark = pytest.mark.django_db


def sell(product, price: str, quantity: int = 10, **offer_fields):
    offer = OfferFactory(product=product, price=Decimal(price), **offer_fields)
    stock(offer, quantity)
    return offer


@pytest.fixture
def shop():
    """Kitchen > Kettles, Garden; brands Acme and Zenith; four products, one out of stock."""
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    kitchen = CategoryFactory(name="Kitchen")
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    garden = CategoryFactory(name="Garden")
    acme = BrandFactory(name="Acme")
    zenith = BrandFactory(name="Zenith")
    kettle = ProductFactory(title="Electric Kettle", category=kettles, brand=acme, attributes={"colour": "Red"})
    toaster = ProductFactory(title="Slot Toaster", category=kitchen, brand=acme, attributes={"colour": "Black"})
    mixer = ProductFactory(title="Stand Mixer", category=kitchen, brand=zenith, attributes={"colour": "Red"})
    hose = ProductFactory(title="Garden Hose", category=garden, brand=zenith)
    sell(kettle, "19.99")
    sell(toaster, "34.50")
    sell(mixer, "249.00")
    sell(hose, "12.00", quantity=0)
    return {
        "kitchen": kitchen, "kettles": kettles, "garden": garden, "acme": acme, "zenith": zenith,
        "kettle": kettle, "toaster": toaster, "mixer": mixer, "hose": hose,
    }


def text(response) -> str:
    """The page as text with runs of whitespace collapsed, for robust substring checks."""
    return re.sub(r"\s+", " ", response.content.decode())


def plain(response) -> str:
    """The page's text without tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


def facet(label: str, count: int) -> str:
    return f'{label} <span class="facet__count">({count})</span>'


# --- home ----------------------------------------------------------------------------------


def test_home_shows_categories_and_products(client, shop):
    response = client.get("/")
    assert response.status_code == 200
    page = text(response)
    assert page.count("<h1") == 1
    assert 'href="/c/kitchen/"' in page
    assert 'href="/c/garden/"' in page
    assert "Electric Kettle" in page
    assert "$19.99" in page
    # the home page shows what can be bought now: the out-of-stock product is not there
    assert "Garden Hose" not in page
    assert "Currently unavailable" not in page
    # landmarks and the skip link of the base layout
    assert 'href="#main"' in page
    assert 'id="main"' in page
    assert "<header" in page
    assert "<footer" in page
    assert 'role="search"' in page
    assert 'href="/api/docs/"' in page
    assert 'href="/admin/"' in page
    assert "| Bazaar</title>" in page


def test_home_renders_with_an_empty_catalog(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No products yet" in text(response)


# --- category --------------------------------------------------------------------------------


def test_category_lists_its_subtree_with_breadcrumbs_and_subcategories(client, shop):
    response = client.get("/c/kitchen/")
    assert response.status_code == 200
    page = text(response)
    assert page.count("<h1") == 1
    assert "Electric Kettle" in page  # in the Kettles subcategory
    assert "Slot Toaster" in page
    assert "Stand Mixer" in page
    assert "Garden Hose" not in page
    assert 'aria-label="Breadcrumb"' in page
    assert '<span aria-current="page">Kitchen</span>' in page
    assert 'href="/c/kettles/"' in page
    assert "3 results" in page

    sub = text(client.get("/c/kettles/"))
    assert '<li><a href="/c/kitchen/">Kitchen</a></li>' in sub  # parent in the breadcrumb trail


def test_facet_counts_match_the_data(client, shop):
    page = text(client.get("/c/kitchen/"))
    assert facet("Acme", 2) in page
    assert facet("Zenith", 1) in page
    assert facet("Red", 2) in page
    assert facet("Black", 1) in page
    # price buckets: 19.99 -> under 25; 34.50 -> 25-50; 249 -> 200 and above
    assert re.search(r"Under \$25\.00 <span class=\"facet__count\">\(1\)</span>", page)
    assert re.search(r"\$25\.00 to \$50\.00 <span class=\"facet__count\">\(1\)</span>", page)
    assert re.search(r"\$200\.00 &amp; above <span class=\"facet__count\">\(1\)</span>", page)


def test_brand_filter_narrows_results_and_shows_a_removable_chip(client, shop):
    page = text(client.get("/c/kitchen/", {"brand": "zenith"}))
    assert "Stand Mixer" in page
    assert "Slot Toaster" not in page
    assert "Electric Kettle" not in page
    assert "1 result" in page
    assert 'value="zenith" checked' in page
    # brand counts ignore the brand selection itself (disjunctive facets)
    assert facet("Acme", 2) in page
    assert 'class="chip" href="?"' in page  # removing the only filter leaves a bare query


def test_attribute_price_and_stock_filters(client, shop):
    page = text(client.get("/c/kitchen/", {"a_colour": "Red", "max_price": "100"}))
    assert "Electric Kettle" in page
    assert "Stand Mixer" not in page
    assert "Slot Toaster" not in page
    assert 'name="a_colour" value="Red" checked' in page
    assert "Up to $100.00" in page

    everything = text(client.get("/search/", {"in_stock": "on"}))
    assert "Garden Hose" not in everything
    assert "Electric Kettle" in everything


def test_unknown_category_is_404(client, shop):
    response = client.get("/c/no-such-thing/")
    assert response.status_code == 404
    assert "find that page" in text(response)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_price": "abc"}, "Min price: Enter a number."),
        ({"min_price": "50", "max_price": "10"}, "The maximum price must not be below the minimum."),
        ({"page": "999999"}, "There is no page 999999; showing page 1."),
        ({"page": "xyz"}, "There is no page xyz; showing page 1."),
        ({"sort": "bogus"}, "Sort by: Select a valid choice."),
        ({"brand": "nope"}, "Brand: Select a valid choice. nope is not one of the available choices."),
        ({"q": "k" * 3000}, "Search: Ensure this value has at most 200 characters (it has 3000)."),
    ],
)
@pytest.mark.parametrize("url", ["/c/kitchen/", "/search/"])
def test_bad_query_parameters_show_a_message_not_an_error(client, shop, url, params, message):
    response = client.get(url, params)
    assert response.status_code == 200
    page = text(response)
    assert 'role="alert"' in page
    assert message in plain(response)
    # the valid rest of the request still lists products
    assert "Stand Mixer" in page


@pytest.mark.parametrize("url", ["/c/kitchen/", "/search/"])
def test_an_unknown_attribute_filter_is_ignored_by_the_page_cache_for_guests_and_signed_in_shoppers_alike(
    client, shop, url
):
    # Listing pages come from the page cache for everyone; it reads only the page's own
    # parameters, so an attribute the catalogue does not have is dropped like any other junk.
    response = client.get(url, {"a_unknown": "1"})
    assert response.status_code == 200
    assert "Unknown filter" not in plain(response)
    assert "Stand Mixer" in text(response)
    client.force_login(UserFactory())
    response = client.get(url, {"a_unknown": "1"})
    assert response.status_code == 200
    assert response["X-Page-Cache"] == "hit"
    assert "Unknown filter" not in plain(response)
    assert "Stand Mixer" in text(response)


def test_an_unknown_attribute_filter_is_explained_when_pages_are_not_cached(client, shop, settings):
    settings.PAGE_CACHE_ENABLED = False
    response = client.get("/c/kitchen/", {"a_unknown": "1"})
    assert response.status_code == 200
    assert "Unknown filter: unknown" in plain(response)
    assert "Stand Mixer" in text(response)


def test_pagination_keeps_the_query_and_marks_the_current_page(client, shop, settings):
    settings.CATALOG_PAGE_SIZE = 2
    page = text(client.get("/c/kitchen/", {"sort": "price_asc", "page": "2"}))
    assert "Stand Mixer" in page  # the dearest, alone on page 2
    assert 'aria-current="page" class="pagination__current"' in page
    assert 'href="?page=1&amp;sort=price_asc" rel="prev"' in page
    assert '<option value="price_asc" selected>' in page


# --- search ---------------------------------------------------------------------------------


def test_search_finds_products_and_keeps_the_query(client, shop):
    response = client.get("/search/", {"q": "kettle"})
    assert response.status_code == 200
    page = text(response)
    assert "Electric Kettle" in page
    assert "Stand Mixer" not in page
    assert "Results for “kettle”" in page
    assert 'id="site-search" type="search" name="q" value="kettle"' in page
    assert '<input type="hidden" name="q" value="kettle">' in page  # the facet form keeps it
    assert '<option value="relevance" selected>' in page


def test_search_forgives_a_typo(client, shop):
    page = text(client.get("/search/", {"q": "kettel"}))
    assert "Electric Kettle" in page
    assert "Showing results for “kettle”" in page


def test_search_without_results_says_so(client, shop):
    response = client.get("/search/", {"q": "zzqqxx"})
    assert response.status_code == 200
    assert "No results for “zzqqxx”" in text(response)


def test_server_error_page_renders_without_a_request():
    html = get_template("500.html").render({})
    assert "Sorry, something went wrong" in html


# --- performance -------------------------------------------------------------------------------


def _catalog_of(size: int):
    shipping_method(channel="platform", price="0.00", code="free-platform")
    root = CategoryFactory(name="Home")
    child = CategoryFactory(name="Lamps", parent=root)
    brands = [BrandFactory(name=f"Maker {i}") for i in range(3)]
    for i in range(size):
        product = ProductFactory(
            title=f"Desk Lamp {i}", category=child if i % 2 else root, brand=brands[i % 3],
            attributes={"colour": ["Red", "Blue", "Green"][i % 3], "size": ["S", "M"][i % 2]},
        )
        sell(product, f"{10 + i * 7}.00", quantity=i % 4)
    return root


@pytest.mark.parametrize("size", [3, 30])
@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/c/home/",
        "/c/home/?brand=maker-1&a_colour=Red&sort=price_asc",
        "/search/?q=lamp",
        "/search/?q=desk&page=2",
    ],
)
def test_listing_pages_take_constant_queries_then_come_from_the_cache(
    client, django_assert_max_num_queries, size, url
):
    _catalog_of(size)
    cache.clear()
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200
    assert response["X-Page-Cache"] == "miss"
    with django_assert_max_num_queries(0):
        again = client.get(url)
    assert again["X-Page-Cache"] == "hit"
    assert again.content == response.content


def test_facet_counts_are_shared_by_every_sort_and_page_and_follow_listing_changes(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    root = _catalog_of(12)
    cache.clear()

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    first = queries("/c/home/?brand=maker-1")
    # another sort of the same filters misses the page cache but not the facet counts (3 queries)
    assert queries("/c/home/?brand=maker-1&sort=price_desc") <= first - 3
    before = client.get("/c/home/?brand=maker-1&sort=newest").content.decode()
    sell(ProductFactory(title="Desk Lamp new", category=root, brand=BrandFactory(name="Maker 9")), "15.00")
    after = client.get("/c/home/?brand=maker-1&sort=newest").content.decode()
    assert "Maker 9" not in before
    assert "Maker 9" in after  # a new product's brand shows in the facets at once
