"""The checkout pages: address -> delivery -> payment and review -> place, for a guest, with the
errors a shopper can cause (declined card, double click, expired session, changed price,
tampered fields)."""

import re
from decimal import Decimal

import pytest

from checkout.models import CartLine
from marketplace import services as marketplace_services
from orders.models import Order
from payments.models import Payment
from tests.factories import OfferFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"email": "guest@example.com", "full_name": "Gus Guest", "line1": "2 High St", "city": "Leeds",
           "postal_code": "LS1 1AA", "country": "GB"}


@pytest.fixture
def offer():
    shipping_method(channel="platform", price="0.00", code="free", min_days=3, max_days=5)
    shipping_method(channel="platform", price="6.00", code="express", min_days=1, max_days=1)
    offer = OfferFactory(price=Decimal("15.00"), product__title="Walking Socks")
    stock(offer, 5)
    return offer


def add(client, offer, quantity=2):
    assert client.post("/cart/add/", {"offer": offer.pk, "quantity": quantity}).status_code == 302


def review_form(client) -> dict:
    page = client.get("/checkout/review/")
    assert page.status_code == 200
    html = page.content.decode()
    fields = dict(re.findall(r'name="(expected_total|order_key)" value="([^"]*)"', html))
    return {**fields, "card_number": "4242 4242 4242 4242"}


def test_a_guest_checks_out_and_lands_on_the_order(client, offer):
    add(client, offer)
    assert client.post("/checkout/", ADDRESS).url == "/checkout/delivery/"
    delivery = client.get("/checkout/delivery/").content.decode()
    assert "Express" in delivery or "express" in delivery
    key = re.search(r'name="(ship_[^"]+)" value="express"', delivery).group(1)
    assert client.post("/checkout/delivery/", {key: "express"}).url == "/checkout/review/"
    form = review_form(client)
    assert form["expected_total"] == "36.00"  # 30.00 + 6.00 express
    response = client.post("/checkout/place/", form, follow=True)
    assert response.status_code == 200
    order = Order.objects.get()
    assert order.number in response.content.decode()
    assert order.total == Decimal("36.00")
    assert order.email == "guest@example.com"
    assert not CartLine.objects.exists()

    # a double click (same form) gives the same order, not a second one
    again = client.post("/checkout/place/", form, follow=True)
    assert order.number in again.content.decode()
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1


def test_a_declined_card_keeps_the_cart_and_says_why(client, offer):
    add(client, offer)
    client.post("/checkout/", ADDRESS)
    form = {**review_form(client), "card_number": "4000 0000 0000 0002"}
    response = client.post("/checkout/place/", form, follow=True)
    assert "declined" in response.content.decode()
    assert Order.objects.count() == 0
    assert CartLine.objects.filter(quantity=2).exists()


def test_a_price_change_after_review_is_shown_before_paying(client, offer):
    add(client, offer)
    client.post("/checkout/", ADDRESS)
    form = review_form(client)
    marketplace_services.offer_update(offer=offer, price="17.00")
    response = client.post("/checkout/place/", form, follow=True)
    assert "The total changed to $34.00" in response.content.decode()
    assert Order.objects.count() == 0


def test_an_expired_session_starts_again_at_the_address(client, offer):
    add(client, offer)
    response = client.get("/checkout/review/")
    assert response.url == "/checkout/"


def test_an_empty_cart_goes_back_to_the_cart(client, offer):
    assert client.get("/checkout/").url == "/cart/"


@pytest.mark.parametrize(
    "tamper",
    [{"expected_total": "abc"}, {"card_number": ""}, {"expected_total": "1e999"}],
)
def test_tampered_fields_get_a_message_not_a_500(client, offer, tamper):
    add(client, offer)
    client.post("/checkout/", ADDRESS)
    response = client.post("/checkout/place/", {**review_form(client), **tamper})
    assert response.status_code in (302, 400)
    assert Order.objects.count() == 0


def test_a_bad_address_is_explained(client, offer):
    add(client, offer)
    response = client.post("/checkout/", {**ADDRESS, "email": "nope", "country": "XX"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "E-mail" in html


def test_an_unknown_shipping_choice_falls_back_to_the_cheapest(client, offer):
    add(client, offer, quantity=1)
    client.post("/checkout/", ADDRESS)
    delivery = client.get("/checkout/delivery/").content.decode()
    key = re.search(r'name="(ship_[^"]+)"', delivery).group(1)
    client.post("/checkout/delivery/", {key: "teleport"})
    assert review_form(client)["expected_total"] == "15.00"


def test_a_guest_buys_a_gift_card_through_the_checkout_pages(client):
    assert client.post("/cart/gift-cards/", {"amount": "25", "recipient_email": "ann@example.com",
                                             "message": "For you"}).status_code == 302
    address_page = client.get("/checkout/").content.decode()
    assert "Billing address" in address_page  # nothing is delivered to it
    assert "2. Delivery" not in address_page  # and there is no delivery step
    assert "2. Payment and review" in address_page
    assert "Continue to payment" in address_page
    # nothing to ship: no delivery to choose, straight to payment and review
    assert client.post("/checkout/", ADDRESS).url == "/checkout/review/"
    assert client.get("/checkout/delivery/").url == "/checkout/review/"
    form = review_form(client)
    assert form["expected_total"] == "25.00"
    review = client.get("/checkout/review/").content.decode()
    assert "Gift cards" in review
    assert "Billing address" in review
    assert "Deliver to" not in review
    response = client.post("/checkout/place/", form, follow=True)
    assert response.status_code == 200
    order = Order.objects.get()
    assert order.number in response.content.decode()
    assert (order.total, order.gift_cards_total) == (Decimal("25.00"), Decimal("25.00"))


def test_a_signed_in_shopper_picks_one_of_their_addresses_and_sees_every_country(client, offer):
    from accounts import services as account_services
    from tests.factories import UserFactory

    user, stranger = UserFactory(), UserFactory()
    home = account_services.address_create(user=user, full_name="Ada Home", line1="1 Main St", city="Austin",
                                           postal_code="73301", region="TX", country="US")
    tokyo = account_services.address_create(user=user, full_name="Ada Away", line1="2-1 Marunouchi",
                                            city="Tokyo", postal_code="100-0005", country="JP")
    theirs = account_services.address_create(user=stranger, full_name="Eve Other", line1="9 Elm St",
                                             city="Boston", postal_code="02101", country="US")
    client.force_login(user)
    add(client, offer)

    page = client.get("/checkout/").content.decode()
    assert 'value="Ada Home"' in page  # the default address, filled in
    assert f'href="?address={tokyo.pk}"' in page
    assert f'href="?address={home.pk}"' not in page  # the one filled in
    countries = re.findall(r'<option value="([A-Z]{2})"', page)
    assert {"JP", "US", "ZA", "GB"} <= set(countries)  # the address book's countries
    names = re.findall(r'<option value="[A-Z]{2}"[^>]*>([^<]+)</option>', page)
    assert names == sorted(names)  # by name, not by code

    picked = client.get(f"/checkout/?address={tokyo.pk}").content.decode()
    assert 'value="Ada Away"' in picked
    assert re.search(r'<option value="JP" selected>', picked)
    assert client.post(f"/checkout/?address={tokyo.pk}", {**ADDRESS, "full_name": "Ada Away", "country": "JP",
                                                           "city": "Tokyo", "postal_code": "100-0005"}
                       ).url == "/checkout/delivery/"
    # another shopper's address id is not theirs to pick: the default stays
    other = client.get(f"/checkout/?address={theirs.pk}").content.decode()
    assert "Eve Other" not in other
    assert client.get("/checkout/?address=junk").status_code == 200


def test_a_one_day_window_is_one_day_not_a_range_of_it(client, offer):
    from datetime import date

    from core.templatetags.shop_tags import days

    assert days(date(2026, 12, 2), date(2026, 12, 2)) == "Wed 2 Dec"
    assert days(date(2026, 12, 2), date(2026, 12, 4)) == "Wed 2 Dec – Fri 4 Dec"
    assert days(None, date(2026, 12, 4)) == ""
    add(client, offer)
    client.post("/checkout/", ADDRESS)
    delivery = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/checkout/delivery/").content.decode()))
    windows = re.findall(r"arrives (\w{3} \d+ \w{3})(?: – (\w{3} \d+ \w{3}))?", delivery)
    assert len(windows) == 2
    assert all(first != last for first, last in windows)  # express (one day) shows its day once
    assert any(not last for _first, last in windows)


@pytest.mark.parametrize(("changes", "field"), [
    ({"country": "US", "postal_code": "ZZZZZZZZZZZZZZZZZ"}, "postal_code"),
    ({"country": "GB", "postal_code": "12345"}, "postal_code"),
    ({"country": "SE", "postal_code": "!!"}, "postal_code"),
    ({"country": "ZZ"}, "country"),  # the API took any two letters, and the order was paid
    ({"phone": "abc"}, "phone"),
    ({"phone": "12"}, "phone"),
])
def test_an_address_no_courier_could_use_is_explained_on_the_page_the_api_and_the_address_book(
        client, offer, changes, field):
    from accounts import services as account_services
    from core.exceptions import ApplicationError
    from tests.factories import UserFactory

    add(client, offer)
    page = client.post("/checkout/", {**ADDRESS, **changes})
    assert page.status_code == 200  # the form again, with the reason on the field
    assert field in page.context["form"].errors
    html = page.content.decode()
    assert f'aria-describedby="id_{field}_error"' in html  # the field points at its message...
    assert f'id="id_{field}_error"' in html  # ...which is there, beside it
    assert client.get("/checkout/delivery/")["Location"] == "/checkout/"  # no address kept: still step 1

    api = client.post("/api/v1/checkout/orders/", {"email": "guest@example.com", "payment_method": "4242424242424242",
                                                    "shipping_address": {**ADDRESS, **changes}},
                      content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"bad-address-{field}")
    assert api.status_code == 400
    assert not Order.objects.exists()
    assert f"shipping_address.{field}" in api.json()["error"]["fields"]

    with pytest.raises(ApplicationError) as refused:
        account_services.address_create(user=UserFactory(), **{
            "full_name": "Gus", "line1": "2 High St", "city": "Leeds", "postal_code": "LS1 1AA", "country": "GB",
            **changes})
    assert field in refused.value.fields


def test_well_formed_postal_codes_and_phones_pass():
    from accounts.addresses import address_problems

    for country, code in (("US", "12345"), ("US", "12345-6789"), ("CA", "K1A 0B1"), ("GB", "sw1a 1aa"),
                          ("NL", "1012 AB"), ("JP", "100-0005"), ("SE", "114 55"), ("IE", "D02 X285")):
        assert address_problems(country=country, postal_code=code, phone="+1 (555) 010-9999") == {}, (country, code)


def test_a_voucher_found_not_to_apply_at_checkout_is_shown_there_with_a_way_on(client, offer):
    """A once-per-customer code used before under the receipt e-mail: the review page said nothing
    (it priced without the code) while placing refused, and only the cart offered to remove it."""
    from promotions.models import Voucher, VoucherRedemption

    voucher = Voucher.objects.create(code="ONCE5", kind="fixed", value=5, max_uses_per_customer=1)
    VoucherRedemption.objects.create(voucher=voucher, order_number="BZ-EARLIER", email=ADDRESS["email"],
                                     amount=Decimal("5.00"))
    add(client, offer)
    client.post("/cart/voucher/", {"code": "ONCE5"})
    client.post("/checkout/", ADDRESS)
    page = client.get("/checkout/review/").content.decode()
    assert "Your voucher code does not apply to this order" in page
    assert "Remove the code and continue" in page
    refused = client.post("/checkout/place/", review_form(client), follow=True)
    assert not Order.objects.exists()
    assert "Remove the code and continue" in refused.content.decode()
    back = client.post("/cart/voucher/", {"remove": "1", "next": "/checkout/review/"})
    assert back.url == "/checkout/review/"
    assert "does not apply" not in client.get("/checkout/review/").content.decode()
    client.post("/checkout/place/", review_form(client))
    assert Order.objects.get().total == Decimal("30.00")
    # somewhere else is not a place to be sent back to
    assert client.post("/cart/voucher/", {"remove": "1", "next": "https://evil.example/"}).url == "/cart/"


def test_the_second_click_that_finds_the_cart_emptied_by_the_first_lands_on_the_order(client, offer, monkeypatch):
    """A double click where the first request placed the order (and emptied the cart) between the
    second one's first look and its cart check: the second showed "Your cart is empty."."""
    from checkout import views as checkout_views

    add(client, offer)
    client.post("/checkout/", ADDRESS)
    form = review_form(client)
    assert client.post("/checkout/place/", form).status_code == 302
    order = Order.objects.get()
    real = checkout_views.orders_selectors.order_by_idempotency_key
    looks = []

    def not_yet_the_first_time(**kwargs):  # the first request had not committed at the second's first looks
        looks.append(kwargs)
        return None if len(looks) <= 2 else real(**kwargs)  # (the clicked key, then the checkout's own)

    monkeypatch.setattr(checkout_views.orders_selectors, "order_by_idempotency_key", not_yet_the_first_time)
    again = client.post("/checkout/place/", form, follow=True)
    page = again.content.decode()
    assert order.number in page
    assert "Your cart is empty." not in page
    assert Order.objects.count() == 1
