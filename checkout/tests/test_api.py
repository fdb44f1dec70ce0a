"""Cart API: /api/v1/cart/ and its lines, for guests (session) and users (token or session)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from checkout import services
from checkout.models import Cart, CartLine
from marketplace import services as marketplace_services
from tests.factories import OfferFactory, ProductFactory, UserFactory, stock

pytestmark = pytest.mark.django_db

CART, LINES = "/api/v1/cart/", "/api/v1/cart/lines/"


@pytest.fixture
def offer():
    o = OfferFactory(price=Decimal("12.50"), product=ProductFactory(title="Blue Teapot"))
    stock(o, 3)
    return o


@pytest.fixture
def api():
    return APIClient()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_guest_empty_cart_stores_nothing(api):
    response = api.get(CART)
    assert response.status_code == 200
    assert response.json() == {
        "lines": [], "gift_cards": [], "item_count": 0, "sellable_count": 0, "subtotal": "0.00", "currency": "USD",
        "has_problems": False,
    }
    assert not Cart.objects.exists()


def test_guest_adds_updates_and_removes(api, offer):
    response = api.post(LINES, {"offer": offer.pk, "quantity": 2}, format="json")
    assert response.status_code == 201
    body = response.json()
    [line] = body["lines"]
    assert line | {"id": 0} == {
        "id": 0, "offer": offer.pk, "product_slug": offer.product.slug, "product_title": "Blue Teapot",
        "seller": offer.seller.name, "quantity": 2, "unit_price": "12.50", "price_when_added": "12.50",
        "price_changed": False, "currency": "USD", "line_total": "25.00", "available": 3, "problem": None,
        "thumbnail": None,
    }
    assert (body["subtotal"], body["item_count"]) == ("25.00", 2)
    cart = Cart.objects.get()
    assert api.session["cart_id"] == cart.pk
    assert cart.user is None

    marketplace_services.offer_update(offer=offer, price=Decimal("14.00"))
    line = api.get(CART).json()["lines"][0]
    assert (line["unit_price"], line["price_when_added"], line["price_changed"]) == ("14.00", "12.50", True)

    response = api.patch(f"{LINES}{line['id']}/", {"quantity": 3}, format="json")
    assert response.status_code == 200
    assert response.json()["subtotal"] == "42.00"
    assert CartLine.objects.get().quantity == 3

    assert api.delete(f"{LINES}{line['id']}/").status_code == 204
    assert not CartLine.objects.exists()
    assert api.get(CART).json()["lines"] == []


def test_default_quantity_is_one(api, offer):
    assert api.post(LINES, {"offer": offer.pk}, format="json").json()["item_count"] == 1


def test_problems_are_flagged_and_left_out_of_the_subtotal(api, offer):
    api.post(LINES, {"offer": offer.pk, "quantity": 1}, format="json")
    marketplace_services.offer_update(offer=offer, is_active=False)
    body = api.get(CART).json()
    assert body["lines"][0]["problem"] == "inactive"
    assert (body["has_problems"], body["subtotal"], body["sellable_count"]) == (True, "0.00", 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": 10**9}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": None}, "quantity"),
        ({"offer": None}, "offer"),
        ({"offer": "x"}, "offer"),
        ({"offer": 999_999_999}, "offer"),
        ({"offer": 10**30}, "offer"),
        ({"offer": "inactive"}, "offer"),
        ({"price": "0.01"}, "price"),
    ],
)
def test_bad_add_input_is_a_400_naming_the_field(api, offer, data, field):
    if data.get("offer") == "inactive":
        marketplace_services.offer_update(offer=offer, is_active=False)
        data = {"offer": offer.pk}
    body = {"offer": offer.pk, "quantity": 1, **data}
    if data == {"offer": None}:
        del body["offer"]  # missing
    response = api.post(LINES, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"]
    assert list(error["fields"]) == [field]
    assert all(isinstance(m, str) for m in error["fields"][field])
    assert not CartLine.objects.exists()


def test_missing_quantity_on_update_and_non_json_bodies(api, offer):
    line_id = api.post(LINES, {"offer": offer.pk}, format="json").json()["lines"][0]["id"]
    for data in ({}, {"quantity": 0}, {"quantity": "abc"}, {"quantity": 100}):
        response = api.patch(f"{LINES}{line_id}/", data, format="json")
        assert response.status_code == 400
        assert "quantity" in response.json()["error"]["fields"]
    assert api.post(LINES, "offer=1", content_type="application/x-www-form-urlencoded").status_code == 415
    assert api.post(LINES, "{not json", content_type="application/json").status_code == 400
    assert CartLine.objects.get().quantity == 1


def test_more_than_the_stock_is_a_409(api, offer):
    response = api.post(LINES, {"offer": offer.pk, "quantity": 4}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "only_n_left", "message": "Only 3 left in stock.", "fields": {"quantity": ["Only 3 left in stock."]}
    }
    line_id = api.post(LINES, {"offer": offer.pk, "quantity": 2}, format="json").json()["lines"][0]["id"]
    assert api.post(LINES, {"offer": offer.pk, "quantity": 2}, format="json").status_code == 409
    assert api.patch(f"{LINES}{line_id}/", {"quantity": 4}, format="json").status_code == 409
    assert CartLine.objects.get().quantity == 2
    empty = OfferFactory()
    response = api.post(LINES, {"offer": empty.pk}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "out_of_stock")


def test_token_user_gets_their_own_cart(offer):
    user = UserFactory()
    client = token_client(user)
    assert client.post(LINES, {"offer": offer.pk, "quantity": 1}, format="json").status_code == 201
    assert Cart.objects.get().user == user
    assert client.get(CART).json()["item_count"] == 1


def test_session_user_sees_the_same_cart_as_the_pages(client, offer):
    user = UserFactory()
    client.force_login(user)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"})
    assert client.get(CART).json()["item_count"] == 2


def test_a_user_never_reaches_another_users_lines(offer):
    alice, bob = UserFactory(), UserFactory()
    alices_cart = Cart.objects.create(user=alice)
    alices = services.cart_add(cart=alices_cart, offer_id=offer.pk, quantity=2)
    guest_cart = Cart.objects.create()
    guests = services.cart_add(cart=guest_cart, offer_id=offer.pk, quantity=1)
    bob_client = token_client(bob)
    for line in (alices, guests):  # bob has no cart yet, then one
        assert bob_client.patch(f"{LINES}{line.pk}/", {"quantity": 1}, format="json").status_code == 404
        assert bob_client.delete(f"{LINES}{line.pk}/").status_code == 404
    bob_client.post(LINES, {"offer": offer.pk}, format="json")
    for line in (alices, guests):
        response = bob_client.patch(f"{LINES}{line.pk}/", {"quantity": 1}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert bob_client.delete(f"{LINES}{line.pk}/").status_code == 404
    assert [li["id"] for li in bob_client.get(CART).json()["lines"]] != [alices.pk]
    assert CartLine.objects.get(pk=alices.pk).quantity == 2
    assert CartLine.objects.get(pk=guests.pk).quantity == 1
    # A guest (another session) cannot either.
    assert APIClient().delete(f"{LINES}{alices.pk}/").status_code == 404
    assert CartLine.objects.filter(pk=alices.pk).exists()


def test_a_guest_write_needs_the_csrf_token(offer):
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.post(LINES, {"offer": offer.pk}, format="json").status_code == 403
    browser.get(CART)  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(LINES, {"offer": offer.pk}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    # Token clients send no cookies and need no CSRF token.
    tokened = token_client(UserFactory())
    tokened.handler.enforce_csrf_checks = True
    assert tokened.post(LINES, {"offer": offer.pk}, format="json").status_code == 201


def test_unknown_line_urls_are_404_in_the_error_shape(api):
    for url in (f"{LINES}abc/", f"{LINES}0/", f"{LINES}99999999999999999999/"):
        response = api.delete(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("user", [False, True])
def test_cart_query_count_is_constant(offer, django_assert_max_num_queries, user):
    client = token_client(UserFactory()) if user else APIClient()

    def fill(n):
        for _ in range(n):
            o = OfferFactory()
            stock(o, 5)
            assert client.post(LINES, {"offer": o.pk}, format="json").status_code == 201

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(CART).status_code == 200
        return len(ctx.captured_queries)

    fill(1)
    small = count()
    fill(6)
    with django_assert_max_num_queries(small):
        body = client.get(CART).json()
    assert len(body["lines"]) == 7
    assert small <= 6
