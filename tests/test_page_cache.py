"""Pages are cached in Redis under versioned keys, invalidated on commit when a product, offer or
stock changes, and still render from the database when Redis is down. One stored page serves
guests and signed-in shoppers alike, with each visitor's own header, cart count and messages."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from catalog import services as catalog_services
from checkout import services as checkout_services
from checkout.models import Cart
from core.tests.test_cache import DOWN_REDIS
from fulfillment import services as fulfillment_services
from marketplace import services as marketplace_services
from tests.commit import committed
from tests.factories import CategoryFactory, OfferFactory, ProductFactory, UserFactory, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    product = ProductFactory(title="Cached Kettle", category=CategoryFactory(name="Kettles"))
    return product


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response


def test_product_page_is_cached_then_invalidated_by_an_offer_change(client, product):
    offer = OfferFactory(product=product, price=Decimal("31.00"))
    stock(offer, 4)
    url = product.get_absolute_url()
    first = get(client, url)
    assert first["X-Page-Cache"] == "miss"
    assert "$31.00" in first.content.decode()
    assert get(client, url)["X-Page-Cache"] == "hit"

    with committed():
        marketplace_services.offer_update(offer=offer, price="27.50")
    fresh = get(client, url)
    assert fresh["X-Page-Cache"] == "miss"
    assert "$27.50" in fresh.content.decode()
    assert "$31.00" not in fresh.content.decode()


def test_stock_running_out_invalidates_product_and_listing(client, product):
    offer = OfferFactory(product=product, price=Decimal("12.00"))
    item = stock(offer, 1)
    category_url = "/c/kettles/"
    assert "Currently unavailable" not in get(client, product.get_absolute_url()).content.decode()
    get(client, category_url)
    assert get(client, category_url)["X-Page-Cache"] == "hit"

    with committed():
        fulfillment_services.stock_adjust(stock_item=item, delta=-1, note="broken")
    page = get(client, product.get_absolute_url())
    assert page["X-Page-Cache"] == "miss"
    assert "Currently unavailable" in page.content.decode()
    assert get(client, category_url)["X-Page-Cache"] == "miss"


def test_cached_page_gets_a_fresh_csrf_token_per_visitor(client, product):
    stock(OfferFactory(product=product), 3)
    url = product.get_absolute_url()
    get(client, url)
    hit = get(client, url)
    assert hit["X-Page-Cache"] == "hit"
    body = hit.content.decode()
    assert "__bazaar_csrf_hole__" not in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert "csrftoken" in hit.cookies


# --- one stored page for every visitor, their personal parts filled in ------------------------


def cart_of(user, offer, quantity):
    cart = Cart.objects.create(user=user)
    checkout_services.cart_add(cart=cart, offer_id=offer.pk, quantity=quantity)
    return cart


def cart_count(response) -> str:
    return re.search(r'data-cart-count aria-hidden="true">(\d+)<', response.content.decode()).group(1)


def test_signed_in_shoppers_are_served_the_stored_page_with_their_own_header(client, product):
    offer = OfferFactory(product=product)
    stock(offer, 5)
    url = product.get_absolute_url()
    assert get(Client(), url)["X-Page-Cache"] == "miss"  # a guest stores it
    ann, bob = UserFactory(full_name="Ann"), UserFactory()
    cart_of(ann, offer, 2)
    client.force_login(ann)
    page = get(client, url)
    assert page["X-Page-Cache"] == "hit"
    html = page.content.decode()
    assert "Sign out" in html
    assert cart_count(page) == "2"
    assert "bazaar:personal" not in html
    assert "__bazaar_csrf_hole__" not in html
    other = Client()
    other.force_login(bob)
    assert cart_count(get(other, url)) == "0"
    guest = get(Client(), url)
    assert guest["X-Page-Cache"] == "hit"
    assert "Sign out" not in guest.content.decode()
    assert cart_count(guest) == "0"


def test_a_page_stored_by_a_signed_in_shopper_carries_nothing_of_theirs(client, product):
    offer = OfferFactory(product=product)
    stock(offer, 5)
    ann = UserFactory(full_name="Ann Onymous", email="ann.private@example.com")
    cart_of(ann, offer, 3)
    client.force_login(ann)
    assert get(client, "/c/kettles/")["X-Page-Cache"] == "miss"  # Ann's visit stores the page
    guest = get(Client(), "/c/kettles/")
    assert guest["X-Page-Cache"] == "hit"
    html = guest.content.decode()
    assert "Sign out" not in html
    assert "ann.private" not in html
    assert cart_count(guest) == "0"


def test_a_review_author_is_served_a_page_of_their_own(client, product):
    stock(OfferFactory(product=product), 3)
    author = UserFactory()
    with committed():
        catalog_services.review_create(product=product, user=author, rating=4, title="Solid kettle",
                                       verified_purchase=False)
    url = product.get_absolute_url()
    client.force_login(author)
    mine = get(client, url)
    assert "Helpful</button>" not in mine.content.decode()  # no vote on your own review
    assert "X-Page-Cache" not in mine or mine["X-Page-Cache"] == "miss"
    guest = get(Client(), url)
    assert guest["X-Page-Cache"] == "miss"  # the author's page was not stored
    assert "Helpful</button>" in guest.content.decode()
    again = get(client, url)  # and the stored one is not served to the author
    assert "Helpful</button>" not in again.content.decode()


def test_a_message_shows_once_on_a_stored_page(client, product):
    offer = OfferFactory(product=product)
    stock(offer, 5)
    url = product.get_absolute_url()
    get(Client(), url)
    response = client.post("/cart/add/", {"offer": offer.pk, "quantity": 1}, follow=False)
    assert response.status_code == 302
    first = get(client, url)
    assert first["X-Page-Cache"] == "hit"
    assert 'class="message message--' in first.content.decode()
    assert 'class="message message--' not in get(client, url).content.decode()


def test_with_the_page_cache_off_nothing_is_stored_or_served(client, product, settings):
    settings.PAGE_CACHE_ENABLED = False
    stock(OfferFactory(product=product), 3)
    client.force_login(UserFactory())
    assert "X-Page-Cache" not in get(client, product.get_absolute_url())
    assert "X-Page-Cache" not in get(Client(), product.get_absolute_url())


@override_settings(CACHES=DOWN_REDIS)
def test_every_page_renders_when_redis_is_down(client, product):
    stock(OfferFactory(product=product, price=Decimal("9.99")), 2)
    for url in ["/", "/c/kettles/", product.get_absolute_url(), "/search/?q=kettle", "/api/v1/products/",
                f"/api/v1/products/{product.slug}/", "/healthz"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    assert "$9.99" in client.get(product.get_absolute_url()).content.decode()


def test_token_from_a_cached_page_passes_django_csrf_check(product):
    import re

    from django.test import Client

    offer = OfferFactory(product=product)
    stock(offer, 3)
    warm = Client()
    get(warm, product.get_absolute_url())  # fills the cache

    visitor = Client(enforce_csrf_checks=True)
    page = get(visitor, product.get_absolute_url())
    assert page["X-Page-Cache"] == "hit"
    token = re.search(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"', page.content.decode()).group(1)
    response = visitor.post("/cart/add/", {"csrfmiddlewaretoken": token, "offer": offer.pk, "quantity": 1})
    assert response.status_code == 302, response.content[:300]
    forged = Client(enforce_csrf_checks=True)
    get(forged, product.get_absolute_url())
    refused = forged.post("/cart/add/", {"csrfmiddlewaretoken": "x" * 64, "offer": offer.pk, "quantity": 1})
    assert refused.status_code == 403


def test_the_sign_out_form_in_a_stored_pages_header_carries_the_visitors_token(product):
    """The token goes into the page's forms and into the personal parts' forms alike (a hit fills
    the holes of both): a signed-in shopper signs out from a page served from the cache."""
    stock(OfferFactory(product=product), 3)
    get(Client(), product.get_absolute_url())  # a guest stores it
    shopper = Client(enforce_csrf_checks=True)
    shopper.force_login(UserFactory())
    page = get(shopper, product.get_absolute_url())
    assert page["X-Page-Cache"] == "hit"
    html = page.content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"', html)
    assert len(tokens) >= 2  # the add-to-cart form and the header's sign-out
    assert len(set(tokens)) == 1
    sign_out = re.search(r'<form[^>]*action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken" '
                         r'value="([A-Za-z0-9]{64})"[^>]*>\s*<button type="submit" class="account-links__button"',
                         html)
    assert sign_out is not None
    response = shopper.post(sign_out.group(1), {"csrfmiddlewaretoken": sign_out.group(2)})
    assert response.status_code == 302
    assert "_auth_user_id" not in shopper.session


def test_api_product_list_is_cached_and_invalidated_on_commit(client, product):
    offer = OfferFactory(product=product, price=Decimal("40.00"))
    stock(offer, 2)
    url = "/api/v1/products/?category=kettles"
    assert client.get(url).json()["results"][0]["price"] == "40.00"
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).json()["results"][0]["price"] == "40.00"
    assert len(queries) == 0  # served from the cache
    with committed():
        marketplace_services.offer_update(offer=offer, price="35.00")
    assert client.get(url).json()["results"][0]["price"] == "35.00"


def test_product_cards_are_cached_by_what_they_show_so_a_change_shows_at_once(client, product, settings):
    settings.PAGE_CACHE_ENABLED = False  # only the cards' own cache is left
    offer = OfferFactory(product=product, price=Decimal("12.00"))
    stock(offer, 3)
    assert "$12.00" in get(client, "/c/kettles/").content.decode()
    assert "$12.00" in get(client, "/search/?q=cached").content.decode()  # the same card, from the cache
    with committed():
        marketplace_services.offer_update(offer=offer, price="10.50")
    for url in ("/c/kettles/", "/search/?q=cached"):
        html = get(client, url).content.decode()
        assert "$10.50" in html
        assert "$12.00" not in html


def test_personal_parts_are_rendered_once_per_state_and_follow_each_change(client, product):
    offer = OfferFactory(product=product)
    stock(offer, 9)
    url = product.get_absolute_url()
    get(Client(), url)
    ann, bob = UserFactory(), UserFactory()
    cart_of(ann, offer, 2)
    cart_of(bob, offer, 2)
    client.force_login(ann)
    assert cart_count(get(client, url)) == "2"
    other = Client()
    other.force_login(bob)
    from core import pagecache

    states = len(pagecache._PARTS_MEMO)
    page = get(other, url)  # the same state as Ann's: her rendered parts are reused
    assert cart_count(page) == "2"
    assert "Sign out" in page.content.decode()
    assert len(pagecache._PARTS_MEMO) == states
    with committed():
        checkout_services.cart_add(cart=Cart.objects.get(user=ann), offer_id=offer.pk, quantity=1)
    assert cart_count(get(client, url)) == "3"  # Ann's count changed: her parts follow at once
    assert cart_count(get(other, url)) == "2"


def test_personal_parts_see_only_the_personal_context(product, settings):
    """A personal template that reached for something not in the personal context (here the
    e-mail address) would get nothing, so parts shared between visitors in one state can never
    carry one visitor's details."""
    from core import pagecache

    ann = UserFactory(email="ann.private@example.com")
    client = Client()
    client.force_login(ann)
    template = pagecache._personal_parts(("personal/account_links.html",))
    request = client.get(product.get_absolute_url()).wsgi_request
    context = pagecache.personal_context(request, "tok")
    assert set(context) == {"signed_in", "member_plan", "cart_item_count", "messages", "csrf_token"}
    assert context["signed_in"] is True
    assert context["cart_item_count"] == 0
    html = template.render(context)
    assert "Sign out" in html
    assert "ann.private" not in html
