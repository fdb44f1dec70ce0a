"""Abuse limits on the pages and the API: placing orders, joining a membership or changing its card,
checking voucher codes, asking for password-reset e-mails. Over the rate a page says so with a
429 (the action does not run), the API answers 429 ``throttled`` with Retry-After; with Redis
down nothing is limited. Counted per signed-in user, else per client address."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from checkout.selectors import VOUCHER_SESSION_KEY
from core.tests.test_cache import DOWN_REDIS
from membership.models import Subscription
from membership.tests.conftest import GOOD_CARD, make_plan
from membership.tests.conftest import join as join_plan
from orders.models import Order
from promotions.models import Voucher
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"email": "guest@example.com", "full_name": "Gus Guest", "line1": "2 High St", "city": "Leeds",
           "postal_code": "LS1 1AA", "country": "GB"}
API_ADDRESS = {k: v for k, v in ADDRESS.items() if k != "email"}
LIMITED = "too many times in a short while"


@pytest.fixture
def low_rates(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "place_order": "2/min", "membership": "2/min",
                            "voucher": "2/min", "password_reset_email": "2/hour", "password_reset_client": "3/hour"}


@pytest.fixture
def clock():
    """Keep the clock still (at the start of a minute) so a test's requests share one window."""
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


@pytest.fixture
def offer():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("15.00"))
    stock(offer, 20)
    return offer


def plain(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def guest_at_review(offer, **client_kwargs) -> tuple[Client, dict]:
    client = Client(**client_kwargs)
    assert client.post("/cart/add/", {"offer": offer.pk, "quantity": 1}).status_code == 302
    client.post("/checkout/", ADDRESS)
    html = client.get("/checkout/review/").content.decode()
    form = dict(re.findall(r'name="(expected_total|order_key)" value="([^"]*)"', html))
    return client, {**form, "card_number": "4242 4242 4242 4242"}


# --- place order ------------------------------------------------------------------------------


def test_the_place_order_page_is_limited_then_works_again(low_rates, clock, offer):
    client, form = guest_at_review(offer)
    for _ in range(2):  # refused by the page itself (no card), but counted
        assert client.post("/checkout/place/", {**form, "card_number": ""}).status_code == 400
    limited = client.post("/checkout/place/", form)
    assert limited.status_code == 429
    assert LIMITED in plain(limited)
    assert 0 < int(limited["Retry-After"]) <= 60
    assert not Order.objects.exists()  # the order was not placed
    # another client (another address) is not affected; GETs are never counted
    other, other_form = guest_at_review(offer, REMOTE_ADDR="10.1.1.1")
    assert other.get("/checkout/review/").status_code == 200
    assert other.post("/checkout/place/", other_form).status_code == 302
    assert Order.objects.count() == 1
    clock.shift(61)
    assert client.post("/checkout/place/", form).status_code == 302
    assert Order.objects.count() == 2


def test_the_place_order_page_is_not_limited_when_redis_is_down(low_rates, clock, offer):
    client, form = guest_at_review(offer)
    with override_settings(CACHES=DOWN_REDIS):
        statuses = {client.post("/checkout/place/", {**form, "card_number": ""}).status_code for _ in range(4)}
        assert statuses == {400}
        assert client.post("/checkout/place/", form).status_code == 302
    assert Order.objects.count() == 1


def api_cart(offer, user=None, address="127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if user is not None:
        client.force_authenticate(user)
    assert client.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 1}, format="json").status_code == 201
    return client


def order_body(**changes) -> dict:
    return {"email": "api@example.com", "shipping_address": API_ADDRESS, "payment_method": "4242424242424242",
            **changes}


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert "throttled" in error["message"]
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_place_order_api_is_limited_per_user_and_shares_the_page_count(low_rates, clock, offer):
    user = UserFactory()
    client = api_cart(offer, user=user)
    bad = order_body(email="not an e-mail")
    assert client.post("/api/v1/checkout/orders/", bad, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code == 400
    page = Client()
    page.force_login(user)
    assert page.post("/checkout/place/", {}).status_code in (200, 302, 400)  # the page's attempt counts too
    assert_throttled(client.post("/api/v1/checkout/orders/", order_body(), format="json",
                                 HTTP_IDEMPOTENCY_KEY="b"))
    assert not Order.objects.exists()
    # another signed-in customer from the same address has their own count
    assert api_cart(offer, user=UserFactory()).post("/api/v1/checkout/orders/", order_body(), format="json",
                                                    HTTP_IDEMPOTENCY_KEY="c").status_code == 201


def test_reading_is_not_counted_by_the_scoped_limits(low_rates, clock, offer):
    client = api_cart(offer)
    for _ in range(5):
        assert client.get("/api/v1/cart/").status_code == 200
        assert client.post("/api/v1/checkout/quote/", {}, format="json").status_code == 200  # no code: not a check


# --- vouchers ---------------------------------------------------------------------------------


def test_voucher_checks_through_the_api_share_one_limit(low_rates, clock, offer):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    client = api_cart(offer)
    assert client.post("/api/v1/cart/voucher/", {"code": "GUESS1"}, format="json").status_code == 400
    assert client.post("/api/v1/checkout/quote/", {"voucher_code": "GUESS2"}, format="json").status_code == 200
    assert_throttled(client.post("/api/v1/cart/voucher/", {"code": "SAVE10"}, format="json"))
    assert_throttled(client.post("/api/v1/checkout/quote/", {"voucher_code": "SAVE10"}, format="json"))
    assert_throttled(client.post("/api/v1/checkout/orders/", order_body(voucher_code="SAVE10"), format="json",
                                 HTTP_IDEMPOTENCY_KEY="v"))
    assert client.post("/api/v1/checkout/quote/", {}, format="json").status_code == 200  # no code: fine
    assert VOUCHER_SESSION_KEY not in client.session


def test_the_cart_voucher_form_is_limited_and_keeps_no_code(low_rates, clock, offer):
    Voucher.objects.create(code="SAVE10", kind="percent", value=10)
    client = Client()
    client.post("/cart/add/", {"offer": offer.pk, "quantity": 1})
    for code in ("GUESS1", "GUESS2"):
        assert client.post("/cart/voucher/", {"code": code}).status_code == 302
    limited = client.post("/cart/voucher/", {"code": "SAVE10"})
    assert limited.status_code == 429
    assert "You have tried too many voucher codes. Please wait 1 minute and try again." in plain(limited)
    assert "Your cart" in plain(limited)  # the cart page itself, with the message
    assert client.session[VOUCHER_SESSION_KEY] == "GUESS2"  # SAVE10 was neither checked nor kept
    htmx = client.post("/cart/voucher/", {"code": "SAVE10"}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200  # htmx swaps only successful answers: the note is the answer
    assert "You have tried too many voucher codes" in plain(htmx)
    # removing the code is not a check, and still works
    assert client.post("/cart/voucher/", {"remove": "1"}).status_code == 302
    assert VOUCHER_SESSION_KEY not in client.session


# --- membership -------------------------------------------------------------------------------


@pytest.fixture
def trial_plan():
    return make_plan()


def test_the_join_and_card_pages_are_limited_per_member(low_rates, clock, trial_plan):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    url = reverse("membership:join", args=[trial_plan.slug])
    for _ in range(3):
        assert client.get(url).status_code == 200  # showing the form is not counted
    for _ in range(2):
        assert client.post(url, {"interval": "month", "payment_method": "", "join_key": "k"}).status_code == 400
    limited = client.post(url, {"interval": "month", "payment_method": GOOD_CARD, "join_key": "k"})
    assert limited.status_code == 429
    assert LIMITED in plain(limited)
    assert not Subscription.objects.exists()
    # the card page shares the count
    join_plan(user, trial_plan)
    assert client.post(reverse("membership:card"), {"payment_method": GOOD_CARD}).status_code == 429


def test_the_membership_api_limits_joining_and_card_changes_not_reading(low_rates, clock, trial_plan):
    user = UserFactory()
    api = APIClient()
    api.force_authenticate(user)
    for _ in range(3):
        assert api.get("/api/v1/membership/").status_code == 404  # not a member yet; reads are not counted
    bad = {"plan": trial_plan.slug, "payment_method": "4242 4242 4242 4241"}  # fails the Luhn check
    assert api.post("/api/v1/membership/", bad, format="json").status_code in (400, 402)
    assert api.post("/api/v1/membership/card/", {"payment_method": GOOD_CARD}, format="json").status_code == 404
    assert_throttled(api.post("/api/v1/membership/", {"plan": trial_plan.slug, "payment_method": GOOD_CARD},
                              format="json"))
    assert not Subscription.objects.exists()


# --- password reset ---------------------------------------------------------------------------


def ask_reset(client, email: str):
    """A reset request, committed: its e-mail (if any) has been sent when this returns."""
    with committed():
        return client.post("/account/password/reset/", {"email": email})


def test_reset_emails_are_limited_per_address_without_saying_so(low_rates, clock):
    UserFactory(email="ann@example.com")
    client = Client()
    answers = [ask_reset(client, "ANN@example.com") for _ in range(3)]
    assert [(a.status_code, a.url) for a in answers] == [(302, "/account/password/reset/sent/")] * 3
    assert len(mail.outbox) == 2  # the third answer looks the same, but nothing was sent
    # from another client, the same address is still limited (per address)
    ask_reset(Client(REMOTE_ADDR="10.2.2.2"), "ann@example.com")
    assert len(mail.outbox) == 2
    # this client's 4th request is over its own limit too, yet a form error is shown as usual
    invalid = ask_reset(client, "not-an-address")
    assert invalid.status_code == 200
    assert "Enter a valid email address." in plain(invalid)


def test_reset_emails_are_limited_per_client_across_addresses(low_rates, clock):
    for i in range(4):
        UserFactory(email=f"user{i}@example.com")
    client = Client(REMOTE_ADDR="10.3.3.3")
    for i in range(4):
        response = ask_reset(client, f"user{i}@example.com")
        assert response.url == "/account/password/reset/sent/"
    assert len(mail.outbox) == 3
    assert ask_reset(Client(REMOTE_ADDR="10.4.4.4"), "user3@example.com").status_code == 302
    assert len(mail.outbox) == 4  # another client is not affected


# --- one generic voucher refusal for guests ---------------------------------------------------

GENERIC = "This code cannot be used for this order."


def test_a_guest_learns_nothing_about_codes_on_any_endpoint_a_customer_learns_why(offer):
    Voucher.objects.create(code="OLD", kind="percent", value=10, ends_at=timezone.now() - timedelta(days=1))
    Voucher.objects.create(code="BIG", kind="percent", value=10, minimum_spend=Decimal("500"))
    guest = api_cart(offer)
    page = Client()
    page.post("/cart/add/", {"offer": offer.pk, "quantity": 1})
    for code in ("NO-SUCH", "OLD", "BIG"):
        error = guest.post("/api/v1/cart/voucher/", {"code": code}, format="json").json()["error"]
        assert error["message"] == GENERIC
        quote = guest.post("/api/v1/checkout/quote/", {"voucher_code": code}, format="json").json()
        assert quote["voucher_error"] == GENERIC
        placed = guest.post("/api/v1/checkout/orders/", order_body(voucher_code=code), format="json",
                            HTTP_IDEMPOTENCY_KEY=f"g-{code}")
        assert placed.json()["error"]["message"] == GENERIC
        assert f"does not apply: {GENERIC}" in plain(page.post("/cart/voucher/", {"code": code}, follow=True))
    customer = api_cart(offer, user=UserFactory())
    reasons = [customer.post("/api/v1/checkout/quote/", {"voucher_code": code}, format="json").json()["voucher_error"]
               for code in ("NO-SUCH", "OLD", "BIG")]
    assert reasons == ["This code is not valid. Check it and try again.", "This code has expired.",
                       "Spend $485.00 more to use this code."]
    assert not Order.objects.exists()
