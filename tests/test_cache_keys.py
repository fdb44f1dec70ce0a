"""What the cache writes to Redis: unknown query parameters make no new keys (and never reach a
cached page), a product or category that does not exist makes none at all, and every key has a
time to live. Read straight from the Redis database the tests use."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import CategoryFactory, OfferFactory, ProductFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_keys():
    if settings.CACHES["default"]["BACKEND"] != "django_redis.cache.RedisCache":
        pytest.skip("needs REDIS_URL (services mode)")
    from django_redis import get_redis_connection

    connection = get_redis_connection("default")

    def keys() -> set[str]:
        return {key.decode() for key in connection.keys("*")}

    keys.ttl = lambda key: connection.ttl(key)
    return keys


@pytest.fixture
def shop():
    kettles = CategoryFactory(name="Kettles")
    product = ProductFactory(title="Steel Kettle", category=kettles)
    offer = OfferFactory(product=product, price=Decimal("24.00"))
    stock(offer, 5)
    shipping_method(channel="platform", price="0.00", code="free")
    return {"category": kettles, "product": product, "offer": offer}


def junk() -> dict[str, str]:
    return {"utm_source": secrets.token_hex(4), secrets.token_hex(3): secrets.token_hex(6), "fbclid": "x" * 40}


def test_unknown_query_parameters_share_the_cached_page_and_make_no_keys(client, shop, redis_keys):
    category, product = shop["category"], shop["product"]
    pages = [
        ("/", {}),
        (f"/c/{category.slug}/", {"sort": "price_asc", "page": "1"}),
        ("/search/", {"q": "kettle"}),
        (product.get_absolute_url(), {}),
        (f"/p/{product.slug}/reviews/", {"sort": "newest"}),
        ("/deals/", {}),
        ("/api/v1/products/", {"q": "kettle"}),
    ]
    for url, params in pages:  # warm every page once
        assert client.get(url, params).status_code == 200
    before = redis_keys()

    for _ in range(10):
        for url, params in pages:
            noise = junk()
            response = client.get(url, {**params, **noise})
            assert response.status_code == 200
            if "X-Page-Cache" in response:
                assert response["X-Page-Cache"] == "hit", url
            body = response.content.decode()
            for value in noise.values():
                assert value not in body, f"{url} shows an unknown parameter"  # no cache poisoning
    assert redis_keys() == before

    # The parameters a page does read still make their own entry.
    assert client.get(f"/c/{category.slug}/", {"sort": "price_desc", **junk()})["X-Page-Cache"] == "miss"
    assert client.get(f"/c/{category.slug}/", {"sort": "price_desc"})["X-Page-Cache"] == "hit"


def test_links_of_a_cached_page_keep_only_its_own_parameters(client, shop, settings):
    settings.CATALOG_PAGE_SIZE = 1
    ProductFactory(title="Copper Kettle", category=shop["category"])
    url = f"/c/{shop['category'].slug}/"
    first = client.get(url, {"utm_campaign": "evil", "sort": "newest"}).content.decode()
    assert "utm_campaign" not in first
    assert "sort=newest" in first  # pagination and filter links keep the page's own parameters
    assert client.get(url, {"sort": "newest"})["X-Page-Cache"] == "hit"


def test_pages_of_things_that_do_not_exist_make_no_keys(client, shop, redis_keys):
    for url in ["/p/no-such-product/", "/p/no-such-product/reviews/", "/c/no-such-category/"]:
        assert client.get(url).status_code == 404  # warms what every such page reads (the category tree...)
    before = redis_keys()
    for _ in range(10):
        slug = f"missing-{secrets.token_hex(6)}"
        assert client.get(f"/p/{slug}/").status_code == 404
        assert client.get(f"/p/{slug}/reviews/").status_code == 404
        assert client.get(f"/c/{slug}/").status_code == 404
    created = redis_keys() - before
    assert created == set()


def test_every_key_has_a_time_to_live(client, shop, redis_keys):
    category, product = shop["category"], shop["product"]
    for url in ["/", f"/c/{category.slug}/?sort=price_asc", "/search/?q=kettle", "/search/?q=kettel",
                product.get_absolute_url(), f"/p/{product.slug}/reviews/", "/deals/", "/membership/",
                "/api/v1/products/?facets=true", "/account/sign-in/", "/cart/"]:
        assert client.get(url).status_code == 200, url

    # A guest buys through the API (pricing, shipping, tax, promotions and deals caches)...
    buyer = APIClient()
    added = buyer.post("/api/v1/cart/lines/", {"offer": shop["offer"].pk, "quantity": 1}, format="json")
    assert added.status_code == 201
    order = buyer.post(
        "/api/v1/checkout/orders/",
        {"email": "ttl@example.com", "payment_method": "4242424242424242",
         "shipping_address": {"full_name": "T Tl", "line1": "1 Main St", "city": "Austin", "postal_code": "73301",
                              "country": "US", "region": "TX"}},
        format="json", HTTP_IDEMPOTENCY_KEY="ttl-1",
    )
    assert order.status_code == 201, order.content
    # ...and a customer browses signed in (per-customer benefits).
    client.force_login(UserFactory())
    for url in ["/", product.get_absolute_url(), "/cart/", "/account/"]:
        assert client.get(url).status_code == 200, url

    keys = redis_keys()
    assert any(key.startswith(f"{settings.CACHES['default']['KEY_PREFIX']}:1:page:") for key in keys)
    assert any(":ver:" in key for key in keys)
    forever = sorted(key for key in keys if redis_keys.ttl(key) == -1)
    assert forever == []
