"""Buying through the API: quote, place an order with an Idempotency-Key, read and cancel one's
own orders, never another user's."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from orders.models import Order
from payments.models import Payment
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Api Buyer", "line1": "3 Loop Rd", "city": "Austin", "postal_code": "73301",
           "country": "US", "region": "TX"}


@pytest.fixture
def offer():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("12.00"))
    stock(offer, 4)
    return offer


def with_cart(offer, user=None, quantity=2) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    response = client.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content
    return client


def body(**changes):
    return {"email": "api@example.com", "shipping_address": ADDRESS, "payment_method": "4242424242424242",
            **changes}


def test_quote_then_place_then_replay(offer):
    client = with_cart(offer)
    quote = client.post("/api/v1/checkout/quote/", {"country": "US"}, format="json").json()
    assert quote["total"] == "24.00"
    assert quote["packages"][0]["chosen"] == "free"
    created = client.post("/api/v1/checkout/orders/", body(expected_total="24.00"), format="json",
                          HTTP_IDEMPOTENCY_KEY="api-key-1")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert created.json()["status"] == "paid"
    assert created.json()["guest_url"].startswith("/orders/guest/")
    replay = client.post("/api/v1/checkout/orders/", body(expected_total="24.00"), format="json",
                         HTTP_IDEMPOTENCY_KEY="api-key-1")
    assert replay.status_code == 200
    assert replay.json()["number"] == number
    assert replay.json()["payment"] is None
    # The same key with another body is another request: refused, as Stripe does.
    reused = client.post("/api/v1/checkout/orders/", body(), format="json", HTTP_IDEMPOTENCY_KEY="api-key-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "headers", "code"),
    [
        ({}, {}, 400),  # no Idempotency-Key
        ({}, {"HTTP_IDEMPOTENCY_KEY": "k" * 81}, 400),
        ({"email": "nope"}, {"HTTP_IDEMPOTENCY_KEY": "b1"}, 400),
        ({"shipping_address": {"country": "USA"}}, {"HTTP_IDEMPOTENCY_KEY": "b2"}, 400),
        ({"payment_method": "4000000000000002"}, {"HTTP_IDEMPOTENCY_KEY": "b3"}, 402),
        ({"expected_total": "1.00"}, {"HTTP_IDEMPOTENCY_KEY": "b4"}, 409),
        ({"expected_total": "abc"}, {"HTTP_IDEMPOTENCY_KEY": "b5"}, 400),
    ],
)
def test_bad_requests_get_clear_errors_and_create_nothing(offer, changes, headers, code):
    client = with_cart(offer)
    response = client.post("/api/v1/checkout/orders/", body(**changes), format="json", **headers)
    assert response.status_code == code, response.content
    assert "error" in response.json()
    assert Order.objects.count() == 0


def test_an_empty_cart_cannot_be_ordered(offer):
    response = APIClient().post("/api/v1/checkout/orders/", body(), format="json", HTTP_IDEMPOTENCY_KEY="empty")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_cart"


def test_users_read_and_cancel_their_own_orders_only(offer):
    alice, bob = UserFactory(), UserFactory()
    client = with_cart(offer, user=alice)
    number = client.post("/api/v1/checkout/orders/", body(), format="json",
                         HTTP_IDEMPOTENCY_KEY="alice-1").json()["number"]
    assert [o["number"] for o in client.get("/api/v1/orders/").json()["results"]] == [number]
    assert client.get(f"/api/v1/orders/{number}/").json()["can_cancel"] is True

    other = APIClient()
    other.force_authenticate(bob)
    assert other.get("/api/v1/orders/").json()["results"] == []
    assert other.get(f"/api/v1/orders/{number}/").status_code == 404
    assert other.post(f"/api/v1/orders/{number}/cancel/").status_code == 404
    assert APIClient().get("/api/v1/orders/").status_code == 401

    cancelled = client.post(f"/api/v1/orders/{number}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/orders/{number}/cancel/")
    assert again.status_code == 409


def test_quote_shows_a_voucher_discount_or_why_not(offer):
    from django.utils import timezone

    from promotions.models import Voucher

    Voucher.objects.create(code="SAVE5", kind="fixed", value=Decimal("5.00"), active=True,
                           starts_at=timezone.now() - timezone.timedelta(days=1))
    client = with_cart(offer)
    quote = client.post("/api/v1/checkout/quote/", {"voucher_code": "save5"}, format="json").json()
    assert quote["total"] == "19.00"
    assert [d["amount"] for d in quote["discounts"]] == ["5.00"]
    bad = client.post("/api/v1/checkout/quote/", {"voucher_code": "NOPE"}, format="json").json()
    assert bad["total"] == "24.00"
    assert bad["voucher_error"]


@pytest.fixture
def save5():
    from django.utils import timezone

    from promotions.models import Voucher

    return Voucher.objects.create(code="SAVE5", kind="fixed", value=Decimal("5.00"), active=True, max_uses=10,
                                  minimum_spend=Decimal("20.00"), starts_at=timezone.now() - timezone.timedelta(days=1))


@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ({"code": "NOPE"}, "code", "not"),  # unknown
        ({"code": "   "}, "code", "blank"),
        ({"code": "x" * 65}, "code", "64 characters"),  # malformed: too long
        ({}, "code", "required"),
        ({"code": ["SAVE5"]}, "code", "string"),
    ],
)
def test_apply_voucher_refusals_keep_nothing(offer, save5, payload, field, needle):
    client = with_cart(offer)
    response = client.post("/api/v1/cart/voucher/", payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"]
    assert needle.lower() in " ".join(error["fields"][field]).lower() + error["message"].lower()
    assert client.post("/api/v1/checkout/quote/", {}, format="json").json()["discounts"] == []


def test_apply_voucher_says_why_when_the_minimum_is_not_met(offer, save5):
    client = with_cart(offer, user=UserFactory(), quantity=1)  # 12.00 < 20.00
    error = client.post("/api/v1/cart/voucher/", {"code": "save5"}, format="json").json()["error"]
    assert error["code"] == "voucher"
    assert "8.00 more" in error["message"]
    # a guest is refused without the reason, exactly as for a code that does not exist
    guest = with_cart(offer, quantity=1)
    for code in ("save5", "NO-SUCH-CODE"):
        error = guest.post("/api/v1/cart/voucher/", {"code": code}, format="json").json()["error"]
        assert (error["code"], error["message"]) == ("voucher", "This code cannot be used for this order.")


def test_apply_voucher_to_an_empty_cart_is_refused(save5):
    response = APIClient().post("/api/v1/cart/voucher/", {"code": "SAVE5"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_cart"


def test_applied_voucher_is_used_by_quote_and_order_then_cleared(offer, save5):
    client = with_cart(offer)
    applied = client.post("/api/v1/cart/voucher/", {"code": "save5"}, format="json")
    assert applied.status_code == 200, applied.content
    assert applied.json() == {"code": "SAVE5", "label": applied.json()["label"], "amount": "5.00",
                              "subtotal": "24.00", "discount": "5.00", "currency": "USD"}
    assert client.post("/api/v1/checkout/quote/", {}, format="json").json()["total"] == "19.00"
    # an explicit empty code means none, for this quote only
    assert client.post("/api/v1/checkout/quote/", {"voucher_code": ""}, format="json").json()["total"] == "24.00"
    created = client.post("/api/v1/checkout/orders/", body(), format="json", HTTP_IDEMPOTENCY_KEY="v-1")
    assert created.status_code == 201, created.content
    assert created.json()["total"] == "19.00"
    save5.refresh_from_db()
    assert save5.times_used == 1
    client.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 2}, format="json")
    assert client.post("/api/v1/checkout/quote/", {}, format="json").json()["discounts"] == []


def test_remove_voucher(offer, save5):
    client = with_cart(offer)
    client.post("/api/v1/cart/voucher/", {"code": "SAVE5"}, format="json")
    assert client.delete("/api/v1/cart/voucher/").status_code == 204
    assert client.delete("/api/v1/cart/voucher/").status_code == 204  # removing twice is fine
    assert client.post("/api/v1/checkout/quote/", {}, format="json").json()["total"] == "24.00"


def test_guest_voucher_writes_need_the_csrf_token(offer, save5):
    client = APIClient(enforce_csrf_checks=True)
    client.get("/api/v1/cart/")
    assert client.post("/api/v1/cart/voucher/", {"code": "SAVE5"}, format="json").status_code == 403


def test_a_new_orders_answer_is_the_order_as_read_back_without_reading_it_again(offer, save5):
    """The 201 answer is built from the rows the order was just written with: it must say exactly
    what reading the order back says (packages of two sellers, lines, the voucher's discount, paid),
    and take no query to read it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from checkout.api.serializers import PlacedOrderOutputSerializer
    from orders import selectors as orders_selectors

    other = OfferFactory(price=Decimal("9.50"))  # another seller: a second package
    stock(other, 3)
    user = UserFactory()
    client = with_cart(offer, user=user)
    assert client.post("/api/v1/cart/lines/", {"offer": other.pk, "quantity": 1}, format="json").status_code == 201
    assert client.post("/api/v1/cart/voucher/", {"code": "SAVE5"}, format="json").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        created = client.post("/api/v1/checkout/orders/", body(), format="json", HTTP_IDEMPOTENCY_KEY="fresh-1")
    assert created.status_code == 201, created.content
    answer = created.json()
    assert len(answer["packages"]) == 2
    assert answer["discounts"][0]["code"] == "SAVE5"
    assert (answer["status"], answer["refunds"], answer["guest_url"]) == ("paid", [], "")
    read_back = orders_selectors.order_detail(number=answer["number"], history=False)
    assert answer == PlacedOrderOutputSerializer(read_back, context={"placed": None}).data
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert not any('FROM "orders_package"' in sql or 'FROM "orders_orderdiscount"' in sql for sql in reads)


def test_a_delivery_choice_not_offered_is_refused_not_swapped(offer):
    """An unknown option, or a package key the cart lacks, was silently replaced by the cheapest
    option: the order shipped another way than the one asked for."""
    shipping_method(channel="platform", price="7.00", code="express", min_days=1, max_days=1)
    shipping_method(channel="platform", price="0.00", code="members-fast", members_only=True)
    client = with_cart(offer)
    key = client.post("/api/v1/checkout/quote/", {"country": "US"}, format="json").json()["packages"][0]["key"]
    for n, choices in enumerate(({key: "teleport"}, {key: "members-fast"}, {"no-such-package": "express"})):
        response = client.post("/api/v1/checkout/orders/", body(shipping_choices=choices), format="json",
                               HTTP_IDEMPOTENCY_KEY=f"choice-{n}")
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["code"] == "shipping_choice"
        assert f"shipping_choices.{next(iter(choices))}" in error["fields"]
    assert Order.objects.count() == 0
    placed = client.post("/api/v1/checkout/orders/", body(shipping_choices={key: "express"}), format="json",
                         HTTP_IDEMPOTENCY_KEY="choice-ok")
    assert placed.status_code == 201, placed.content
    assert Order.objects.get().shipping == Decimal("7.00")
