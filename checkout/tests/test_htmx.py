"""htmx: the cart forms answer with fragments (and the header count out of band) when asked by htmx,
and with a redirect as before when not (issue "Buying", item 8)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from checkout.models import CartLine
from tests.factories import OfferFactory, ProductFactory, stock

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def offer():
    o = OfferFactory(price=Decimal("12.50"), product=ProductFactory(title="Blue Teapot"))
    stock(o, 3)
    return o


def html_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def badge(html: str) -> str | None:
    found = re.search(r'<span id="cart-count"[^>]*hx-swap-oob="true"[^>]*>(\d+)</span>', html)
    return found.group(1) if found else None


def test_htmx_add_answers_with_a_note_and_the_badge(client, offer):
    response = client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"}, **HX)
    assert response.status_code == 200
    html = html_of(response)
    assert "<html" not in html  # a fragment, not a page
    assert 'role="status"' in html
    assert "Added to your cart" in html
    assert 'href="/cart/"' in html
    assert badge(html) == "2"
    assert 'id="cart-count-text" class="visually-hidden" hx-swap-oob="true">2 items in your cart<' in html
    assert CartLine.objects.get().quantity == 2
    # Nothing is left over for the next page: the note was the answer.
    assert not list(client.get("/cart/").context["messages"])


@pytest.mark.parametrize(
    ("data", "message"),
    [({"quantity": "4"}, "Only 3 left"), ({"quantity": "abc"}, "whole number"), ({"offer": "x"}, "no longer")],
)
def test_htmx_add_shows_errors_inline(client, offer, data, message):
    response = client.post("/cart/add/", {"offer": offer.pk, "quantity": "1", **data}, **HX)
    assert response.status_code == 200
    html = html_of(response)
    assert re.search(rf'<p class="add-to-cart__error" role="alert">[^<]*{message}', html), html
    assert badge(html) == "0"
    assert not CartLine.objects.exists()


def test_without_htmx_add_still_redirects(client, offer):
    response = client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    assert (response.status_code, response["Location"]) == (302, "/cart/")


def test_htmx_update_answers_with_the_cart_body_and_the_badge(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    line = CartLine.objects.get()
    response = client.post(f"/cart/lines/{line.pk}/", {"quantity": "3"}, **HX)
    assert response.status_code == 200
    html = html_of(response)
    assert html.lstrip().startswith('<div id="cart-body"')
    assert "<html" not in html
    assert "Your cart was updated" in html
    assert f'id="qty-{line.pk}" type="number" name="quantity" value="3"' in html
    assert "Subtotal (3 items): <strong>$37.50</strong>" in html
    assert 'hx-post="/cart/lines/' in html
    assert 'hx-target="#cart-body"' in html
    assert badge(html) == "3"
    assert CartLine.objects.get().quantity == 3


def test_htmx_update_error_is_shown_in_the_line(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    line = CartLine.objects.get()
    response = client.post(f"/cart/lines/{line.pk}/", {"quantity": "5"}, **HX)
    html = html_of(response)
    row = re.search(rf'<tr id="line-{line.pk}".*?</tr>', html).group(0)
    assert '<p class="cart-line__error" role="alert">Only 3 left in stock.</p>' in row
    assert badge(html) == "1"
    assert CartLine.objects.get().quantity == 1


def test_htmx_error_for_a_foreign_line_is_shown_on_top(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    response = client.post("/cart/lines/999999/", {"remove": "1"}, **HX)
    assert 'role="alert">That item is not in your cart.</p>' in html_of(response)
    assert CartLine.objects.count() == 1


def test_htmx_remove_empties_the_cart(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"})
    line = CartLine.objects.get()
    response = client.post(f"/cart/lines/{line.pk}/", {"remove": "1"}, **HX)
    html = html_of(response)
    assert "Removed from your cart" in html
    assert "Your cart is empty." in html
    assert badge(html) == "0"
    assert not CartLine.objects.exists()


def test_without_htmx_update_still_redirects(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    line = CartLine.objects.get()
    response = client.post(f"/cart/lines/{line.pk}/", {"quantity": "2"})
    assert (response.status_code, response["Location"]) == (302, "/cart/")


def test_pages_carry_the_htmx_attributes_and_script(client, offer):
    html = html_of(client.get(offer.product.get_absolute_url()))
    assert re.search(r'<script src="/static/js/htmx.min.js" defer>', html)
    assert 'hx-post="/cart/add/" hx-target="find .add-to-cart__result"' in html
    assert '<span id="cart-count" class="badge cart-link__count" data-cart-count aria-hidden="true">0</span>' in html


def test_htmx_add_from_a_cached_product_page_passes_csrf(offer):
    """A visitor without a session may get the product page from the page cache: the token htmx
    sends is the form's hidden input, filled in on every hit, and the cookie comes with the page."""
    page = offer.product.get_absolute_url()
    Client().get(page)  # stores the page
    browser = Client(enforce_csrf_checks=True)
    response = browser.get(page)
    assert response["X-Page-Cache"] == "hit"
    form = re.search(r'<form class="add-to-cart"[^>]*hx-post="([^"]+)"[^>]*>(.*?)</form>', html_of(response))
    action, body = form.groups()
    fields = dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', body))
    assert fields["csrfmiddlewaretoken"]
    response = browser.post(action, fields, **HX)
    assert response.status_code == 200
    assert "Added to your cart" in html_of(response)
    assert CartLine.objects.get().quantity == 1
    # And without the token the same request is refused.
    assert Client(enforce_csrf_checks=True).post(action, {"offer": offer.pk}, **HX).status_code == 403
