"""Bad input never turns into a 500: prices above MAX_PRICE (or not numbers at all) are refused where
they are typed (API, admin, services), and a cart whose totals would not fit the amount columns (an
offer priced before the limit existed, many lines) is a clear "too large" in the cart, the quote,
and placing the order (page and API), with nothing written."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from checkout import pricing
from core.exceptions import ApplicationError
from core.money import AMOUNT_COLUMN_MAX, clean_prices, max_price, validate_price
from fulfillment import services as fulfillment_services
from fulfillment.models import ShippingMethod
from marketplace import services as marketplace_services
from marketplace.models import Offer
from membership import services as membership_services
from membership.models import Plan
from orders.models import Order
from payments.models import Payment
from promotions import services as promotions_services
from promotions.models import Deal, Promotion, Voucher
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}
TOO_LARGE = "This order is too large"
NOT_NUMBERS = ["NaN", "nan", "Infinity", "-Infinity", "sNaN", "abc", "", "1,000", "0x10", "1e"]


def assert_error(response, status: int = 400, *fields: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    for name in fields:
        assert name in error["fields"], error
    return error


def plain(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- the one rule: core.money ---------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1000000.01", "99999999999.99", "1e20", "1E+7", 10**30, Decimal("1e400")])
def test_prices_above_the_maximum_are_refused(amount):
    with pytest.raises(ApplicationError, match=r"Price: must be at most \$1,000,000.00") as err:
        validate_price(amount)
    assert err.value.fields == {"price": ["Must be at most $1,000,000.00."]}


@pytest.mark.parametrize("amount", [*NOT_NUMBERS, None, 1.5, True, object(), "-1", "0", "0.001", "-0"])
def test_what_is_not_a_price_above_zero_is_refused(amount):
    with pytest.raises(ApplicationError) as err:
        validate_price(amount, field="member_price")
    assert list(err.value.fields) == ["member_price"]


def test_acceptable_prices_are_quantized_and_the_maximum_follows_the_setting(settings):
    assert validate_price(" 1000000.00 ") == Decimal("1000000.00")
    assert validate_price("19.999") == Decimal("20.00")
    assert validate_price(0, allow_zero=True) == Decimal("0.00")
    settings.MAX_PRICE = "50"
    with pytest.raises(ApplicationError, match=r"at most \$50.00"):
        validate_price("50.01")
    settings.MAX_PRICE = "1e30"  # never above what the columns hold
    assert max_price() == AMOUNT_COLUMN_MAX


def test_model_validation_names_each_bad_price():
    with pytest.raises(ValidationError) as err:
        clean_prices({"price": "2000000", "list_price": None, "member_price": "NaN"})
    assert set(err.value.message_dict) == {"price", "member_price"}


# --- offers: API, services, admin, bulk -----------------------------------------------------


@pytest.fixture
def seller_api():
    seller = SellerFactory(name="Seller A")
    user = UserFactory()
    marketplace_services.seller_member_add(seller=seller, user=user, role="manager")
    client = APIClient()
    client.force_authenticate(user)
    ProductFactory(title="Glass kettle")
    return client


@pytest.mark.parametrize("field", ["price", "list_price", "member_price"])
@pytest.mark.parametrize(
    "value",
    ["99999999999.99", "1e20", "NaN", "Infinity", "-1", "0", "1000000.01", "12.345", 1e20, 1e308, -1, [], {}, True],
)
def test_the_offers_api_refuses_bad_prices_with_a_400(seller_api, field, value):
    body = {"product": "glass-kettle", "sku": "A-1", "price": "38.50", field: value}
    assert_error(seller_api.post("/api/v1/offers/", body, format="json"), 400, field)
    assert not Offer.objects.exists()


def test_the_offers_api_takes_the_maximum_and_refuses_a_cent_more_on_update(seller_api):
    created = seller_api.post("/api/v1/offers/", {"product": "glass-kettle", "sku": "A-1", "price": "1000000.00"},
                              format="json")
    assert created.status_code == 201, created.content
    offer_id = created.json()["id"]
    error = assert_error(seller_api.patch(f"/api/v1/offers/{offer_id}/", {"price": "1000000.01"}, format="json"),
                         400, "price")
    assert error["code"] == "invalid_price"
    assert Offer.objects.get(pk=offer_id).price == Decimal("1000000.00")


def test_an_old_offer_above_the_maximum_can_still_be_deactivated_but_not_repriced_above_it(seller_api):
    offer_id = seller_api.post("/api/v1/offers/", {"product": "glass-kettle", "sku": "A-1", "price": "10.00"},
                               format="json").json()["id"]
    Offer.objects.filter(pk=offer_id).update(price=Decimal("5000000000.00"))  # priced before MAX_PRICE existed
    assert seller_api.patch(f"/api/v1/offers/{offer_id}/", {"is_active": False}, format="json").status_code == 200
    assert_error(seller_api.patch(f"/api/v1/offers/{offer_id}/", {"price": "4000000"}, format="json"), 400, "price")
    assert seller_api.patch(f"/api/v1/offers/{offer_id}/", {"price": "999.00"}, format="json").status_code == 200


def test_the_offer_admin_shows_the_maximum_as_a_form_error(client, django_user_model):
    from tests.factories import admin_form_data

    offer = OfferFactory(price=Decimal("20.00"))
    client.force_login(django_user_model.objects.create_superuser(email="root@example.com", password="pw-1"))
    url = reverse("admin:marketplace_offer_change", args=[offer.pk])
    response = client.post(url, admin_form_data(client.get(url), price="2000000.00", member_price="1500000.00"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["price"] == ["Must be at most $1,000,000.00."]
    assert errors["member_price"] == ["Must be at most $1,000,000.00."]
    assert Offer.objects.get(pk=offer.pk).price == Decimal("20.00")


def test_bulk_loaded_offers_obey_the_maximum():
    from marketplace import bulk

    seller, product = SellerFactory(), ProductFactory()
    with pytest.raises(ValueError, match="at most"):
        bulk.offers_bulk_create(rows=[bulk.OfferRow(seller_id=seller.pk, product_id=product.pk, sku="B-1",
                                                    price=Decimal("1000000.01"))])
    assert not Offer.objects.exists()


# --- every other price staff type -------------------------------------------------------------


def test_deals_promotions_vouchers_plans_and_shipping_refuse_prices_above_the_maximum():
    offer = OfferFactory(price=Decimal("20.00"))
    Offer.objects.filter(pk=offer.pk).update(price=Decimal("9000000000.00"))  # an old, absurd price
    offer.refresh_from_db()
    now = timezone.now()
    deal = Deal(offer=offer, deal_price=Decimal("2000000.00"), starts_at=now, ends_at=now + timedelta(hours=1),
                quantity_cap=5)
    with pytest.raises(ValidationError) as err:
        promotions_services.deal_save(deal=deal)
    assert "deal_price" in err.value.message_dict

    fixed = Voucher(code="BIG", kind=Voucher.Kind.FIXED, value=Decimal("2000000"), minimum_spend=Decimal("5"))
    with pytest.raises(ValidationError) as err:
        promotions_services.voucher_save(voucher=fixed)
    assert set(err.value.message_dict) == {"value"}
    with pytest.raises(ValidationError) as err:
        promotions_services.voucher_save(voucher=Voucher(code="MIN", value=Decimal("10"),
                                                         minimum_spend=Decimal("1000000000")))
    assert set(err.value.message_dict) == {"minimum_spend"}
    promotions_services.voucher_save(voucher=Voucher(code="PCT", value=Decimal("10")))  # a percentage: fine

    for benefit in (Promotion.Benefit.FIXED_OFF, Promotion.Benefit.FIXED_PRICE):
        with pytest.raises(ValidationError) as err:
            promotions_services.promotion_save(promotion=Promotion(name="p", label="p", benefit=benefit,
                                                                   value=Decimal("1000000.01")))
        assert "value" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        promotions_services.promotion_save(promotion=Promotion(name="p", label="p", value=Decimal("10"),
                                                               min_spend=Decimal("5000000")))
    assert "min_spend" in err.value.message_dict

    with pytest.raises(ValidationError) as err:
        membership_services.plan_save(plan=Plan(name="Gold", slug="gold", monthly_price=Decimal("9.99"),
                                                annual_price=Decimal("2000000.00")))
    assert set(err.value.message_dict) == {"annual_price"}

    with pytest.raises(ApplicationError, match="at most"):
        fulfillment_services.shipping_method_create(code="gold", name="Gold", channel="merchant",
                                                    price=Decimal("1000000.01"), min_days=1, max_days=2)
    assert not ShippingMethod.objects.filter(code="gold").exists()
    assert not Deal.objects.exists()
    assert list(Voucher.objects.values_list("code", flat=True)) == ["PCT"]
    assert not Promotion.objects.exists()
    assert not Plan.objects.exists()


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        ("promotions_voucher", {"code": "BIG", "kind": "fixed", "value": "2000000", "minimum_spend": "0"}, "value"),
        ("fulfillment_shippingmethod", {"code": "gold", "name": "Gold", "channel": "merchant", "price": "1e7",
                                        "min_days": "1", "max_days": "2"}, "price"),
        ("membership_plan", {"name": "Gold", "slug": "gold", "monthly_price": "9.99", "annual_price": "9999999",
                             "currency": "USD", "trial_days": "0"}, "annual_price"),
    ],
)
def test_admin_add_forms_show_the_maximum_as_a_form_error(client, django_user_model, model, data, field):
    client.force_login(django_user_model.objects.create_superuser(email="root@example.com", password="pw-1"))
    response = client.post(reverse(f"admin:{model}_add"), data)
    assert response.status_code == 200, response.get("Location")
    assert response.context["adminform"].form.errors[field] == ["Must be at most $1,000,000.00."]


# --- the cart API: huge or odd quantities and ids ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 10**12}, {"quantity": -1}, {"quantity": 0}, {"quantity": "NaN"}, {"quantity": 1e20},
        {"quantity": "99999999999999999999999"}, {"quantity": 1.5}, {"quantity": [1]}, {"offer": 10**30},
        {"offer": "NaN"}, {"offer": -5}, {"offer": None},
    ],
)
def test_the_cart_api_refuses_odd_quantities_and_ids_with_a_400(body):
    offer = OfferFactory()
    stock(offer, 5)
    response = APIClient().post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 1, **body}, format="json")
    assert_error(response, 400)


def test_the_cart_api_refuses_a_huge_quantity_update():
    offer = OfferFactory()
    stock(offer, 5)
    client = APIClient()
    line = client.post("/api/v1/cart/lines/", {"offer": offer.pk}, format="json").json()["lines"][0]["id"]
    for quantity in (10**12, "1e20", -3):
        assert_error(client.patch(f"/api/v1/cart/lines/{line}/", {"quantity": quantity}, format="json"), 400,
                     "quantity")


# --- orders that would not fit the amount columns ------------------------------------------


@pytest.fixture
def huge_cart():
    """A guest's cart whose total passes 9,999,999,999.99: two lines of an offer priced (long ago)
    at 5,000,000,000.00, each line fitting on its own."""
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("10.00"), product__title="Gold Bar")
    Offer.objects.filter(pk=offer.pk).update(price=Decimal("5000000000.00"))
    stock(offer, 5)
    api = APIClient()
    assert api.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 2}, format="json").status_code == 201
    return api


def test_pricing_refuses_an_order_that_would_not_fit(huge_cart):
    offer = Offer.objects.get()
    with pytest.raises(pricing.OrderTooLarge, match=TOO_LARGE) as err:
        pricing.cart_price(lines=[pricing.LineInput(offer.pk, 2)])
    assert err.value.status_code == 400
    assert err.value.code == "order_too_large"
    assert pricing.cart_price(lines=[pricing.LineInput(offer.pk, 1)]).total.amount == Decimal("5000000000.00")
    Offer.objects.filter(pk=offer.pk).update(price=AMOUNT_COLUMN_MAX)
    with pytest.raises(pricing.OrderTooLarge):  # an absurd price times the largest quantity
        pricing.cart_price(lines=[pricing.LineInput(offer.pk, 99)])


def test_the_cart_api_shows_a_huge_cart_and_the_quote_and_order_refuse_it(huge_cart):
    cart = huge_cart.get("/api/v1/cart/")
    assert cart.status_code == 200
    assert cart.json()["subtotal"] == "10000000000.00"
    error = assert_error(huge_cart.post("/api/v1/checkout/quote/", {}, format="json"), 400)
    assert error["code"] == "order_too_large"
    assert TOO_LARGE in error["message"]
    body = {"email": "ann@example.com", "shipping_address": ADDRESS, "payment_method": "4242424242424242"}
    error = assert_error(huge_cart.post("/api/v1/checkout/orders/", body, format="json",
                                        HTTP_IDEMPOTENCY_KEY="huge-1"), 400)
    assert error["code"] == "order_too_large"
    assert_error(huge_cart.post("/api/v1/checkout/orders/", {**body, "expected_total": "1e20"}, format="json",
                                HTTP_IDEMPOTENCY_KEY="huge-2"), 400, "expected_total")
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


def test_the_cart_and_checkout_pages_say_the_order_is_too_large(huge_cart):
    client = Client()
    client.post("/cart/add/", {"offer": Offer.objects.get().pk, "quantity": "2"})
    cart = client.get("/cart/")
    assert cart.status_code == 200
    assert TOO_LARGE in plain(cart)
    assert "Proceed to checkout" not in plain(cart)
    for url in ("/checkout/", "/checkout/delivery/", "/checkout/review/"):
        response = client.get(url, follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == "/cart/"
        assert TOO_LARGE in plain(response)
    placed = client.post("/checkout/place/", {"card_number": "4242424242424242", "expected_total": "1.00",
                                              "order_key": "k"}, follow=True)
    assert placed.status_code == 200
    assert TOO_LARGE in plain(placed)
    assert not Order.objects.exists()


# --- text PostgreSQL cannot hold ----------------------------------------------------------------


def test_a_nul_character_in_an_order_key_is_a_clear_400_and_no_order():
    """PostgreSQL text holds no NUL character: a key with one (or any control character) is sent by
    no real client; the API refuses it like a missing key, and the page's form field finds no order
    under it (the form's own key places the order)."""
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("10.00"))
    stock(offer, 5)
    api = APIClient()
    assert api.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 1}, format="json").status_code == 201
    body = {"email": "ann@example.com", "shipping_address": ADDRESS, "payment_method": "4242424242424242"}
    for key in ("k\x00", "a\x00b", "tab\tkey", "\x1b[31m"):
        error = assert_error(api.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=key),
                             400, "Idempotency-Key")
        assert "printable" in error["message"]
    assert not Order.objects.exists()
    assert api.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 201

    client = Client()
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    placed = client.post("/checkout/place/", {"card_number": "4242424242424242", "expected_total": "10.00",
                                              "order_key": "a\x00b"}, follow=True)
    assert placed.status_code == 200  # looked up as no order, then sent on to the missing address
    assert Order.objects.count() == 1


def test_staff_refunds_and_buyer_returns_refuse_a_key_with_a_control_character():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("10.00"))
    stock(offer, 5)
    buyer = APIClient()
    buyer.force_authenticate(UserFactory())
    buyer.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 1}, format="json")
    placed = buyer.post("/api/v1/checkout/orders/", {"email": "ann@example.com", "shipping_address": ADDRESS,
                                                     "payment_method": "4242424242424242"},
                        format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    number = placed.json()["number"]
    staff = APIClient()
    staff.force_authenticate(staff_user("orders.refund_order", "orders.view_order"))
    for client, url in ((buyer, f"/api/v1/orders/{number}/returns/"), (staff, f"/api/v1/orders/{number}/refunds/")):
        error = assert_error(client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k\x00"), 400,
                             "Idempotency-Key")
        assert "printable" in error["message"]


@pytest.mark.parametrize("path", ["/api/v1/cart/lines/", "/api/v1/auth/token/", "/api/v1/checkout/orders/"])
@pytest.mark.parametrize("depth", [40, 3000])
def test_a_body_nested_too_deep_is_a_400_in_the_api_error_shape(path, depth):
    body = '{"a":' * depth + "1" + "}" * depth
    response = APIClient().post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "nested at most 32 deep" in response.json()["error"]["message"]


def test_nesting_within_the_limit_is_read_as_usual():
    from core.parsers import MAX_JSON_DEPTH, _too_deep

    nested = 1
    for _ in range(MAX_JSON_DEPTH):
        nested = [nested]
    assert not _too_deep(nested, MAX_JSON_DEPTH)
    assert _too_deep([nested], MAX_JSON_DEPTH)
    response = APIClient().post("/api/v1/cart/lines/", {"offer": 0, "quantity": 1, "x": [[[1]]]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] != "parse_error"  # read, then refused for what it says


def test_a_body_over_the_upload_limit_is_a_413_in_the_api_error_shape(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = APIClient()
    user = UserFactory()
    client.force_authenticate(user)
    response = client.patch("/api/v1/account/", {"full_name": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "request_too_large"
