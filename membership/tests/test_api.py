"""Membership API: plans (public); the caller's own membership: view, join, cancel, resume, card,
billing; every refusal in the one error shape with the right status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from membership import services
from membership.models import Subscription
from membership.tests.conftest import DECLINED_CARD, INVALID_CARD, join, make_plan, reload
from payments.models import Payment

pytestmark = pytest.mark.django_db
S = Subscription.Status
URL = "/api/v1/membership/"


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert set(body) == {"code", "message", "fields"}
    if code:
        assert body["code"] == code
    return body


def test_plans_are_public(plan):
    make_plan(slug="old", is_active=False)
    response = APIClient().get(f"{URL}plans/")
    assert response.status_code == 200
    assert response.json() == [{
        "slug": "bazaar-plus", "name": "Bazaar Plus", "description": "", "currency": "USD",
        "monthly_price": "12.99", "annual_price": "119.00", "trial_days": 30, "free_shipping": True,
        "fast_shipping": True, "member_prices": True, "member_deals": True,
    }]


def test_membership_needs_authentication(plan):
    client = APIClient()
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"  # told how to authenticate, not refused
    error(client.post(URL, {"plan": "bazaar-plus", "payment_method": "4242424242424242"}, format="json"), 401)
    assert not Subscription.objects.exists()


def test_no_membership_is_404_in_the_error_shape(api):
    body = error(api.get(URL), 404, "not_a_member")
    assert body["message"] == "You are not a member."
    error(api.post(f"{URL}cancel/"), 404, "not_a_member")
    error(api.post(f"{URL}resume/"), 404, "not_a_member")


def test_join_view_and_twice(api, user, plan, travel):
    response = api.post(URL, {"plan": "bazaar-plus", "interval": "year", "payment_method": "4242424242424242"},
                        format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "trialing"
    assert data["interval"] == "year"
    assert data["plan"] == {"slug": "bazaar-plus", "name": "Bazaar Plus"}
    assert data["card"] == "Card ending 4242"
    assert data["has_benefits"] is True
    assert data["next_billing"] == {"at": "2026-02-14T10:00:00Z", "amount": "119.00", "currency": "USD",
                                    "is_retry": False}
    assert data["charges"] == []
    assert api.get(URL).json() == data
    body = error(api.post(URL, {"plan": "bazaar-plus", "payment_method": "4242424242424242"}, format="json"),
                 409, "already_member")
    assert body["message"] == "You are already a member until Feb. 14, 2026."
    assert Subscription.objects.count() == 1


def test_join_with_token_auth_and_idempotency_key(user, paid_plan):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    body = {"plan": "plus-now", "payment_method": "4242424242424242"}
    response = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201
    assert response.json()["charges"][0]["status"] == "paid"
    error(client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"), 409, "already_member")
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"plan": "bazaar-plus", "payment_method": DECLINED_CARD}, 402, None),
    ({"plan": "bazaar-plus", "payment_method": INVALID_CARD}, 400, "payment_method"),
    ({"plan": "nope", "payment_method": "4242424242424242"}, 400, "plan"),
    ({"plan": "bazaar-plus", "interval": "weekly", "payment_method": "4242424242424242"}, 400, "interval"),
    ({"plan": "bazaar-plus"}, 400, "payment_method"),
])
def test_join_refusals(api, plan, body, status, field):
    result = error(api.post(URL, body, format="json"), status)
    if field:
        assert field in result["fields"]
    else:
        assert result["message"] == "Your card was declined. Nothing was charged; please try another card."
    assert not Subscription.objects.exists()


def test_join_needs_json(api, plan):
    error(api.post(URL, "plan=bazaar-plus", content_type="application/x-www-form-urlencoded"), 415)


def test_cancel_resume_and_their_conflicts(api, user, plan, travel):
    subscription = join(user, plan)
    error(api.post(f"{URL}resume/"), 409, "not_cancelled")
    response = api.post(f"{URL}cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["next_billing"] is None
    body = error(api.post(f"{URL}cancel/"), 409, "already_cancelled")
    assert "your benefits last until Feb. 14, 2026" in body["message"]
    assert api.post(f"{URL}resume/").json()["status"] == "trialing"
    services.membership_cancel(user=user)
    travel(subscription.current_period_end + timedelta(minutes=1))
    error(api.post(f"{URL}resume/"), 409, "already_ended")


def test_update_card_and_billing(api, user, plan):
    subscription = join(user, plan)
    error(api.post(f"{URL}card/", {"payment_method": DECLINED_CARD}, format="json"), 402)
    error(api.post(f"{URL}card/", {"payment_method": INVALID_CARD}, format="json"), 400)
    response = api.post(f"{URL}card/", {"payment_method": "5555555555554444"}, format="json")
    assert response.status_code == 200
    assert response.json()["card"] == "Card ending 4444"
    response = api.post(f"{URL}billing/", {"interval": "year"}, format="json")
    assert response.status_code == 200
    assert response.json()["interval"] == "year"
    error(api.post(f"{URL}billing/", {"interval": "year"}, format="json"), 409, "unchanged")
    error(api.post(f"{URL}billing/", {"interval": "day"}, format="json"), 400)
    assert reload(subscription).interval == "year"


def test_an_expired_membership_is_shown_as_expired(api, user, plan):
    subscription = join(user, plan)
    services.subscription_expire(subscription=subscription)
    data = api.get(URL).json()
    assert data["status"] == "expired"
    assert data["has_benefits"] is False


def test_the_schema_documents_the_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for operation in ("membership_plans_list", "membership_retrieve", "membership_join", "membership_cancel",
                      "membership_resume", "membership_card_update", "membership_interval_update"):
        assert operation in schema
