"""API tokens rotate and expire: changing or resetting the password (page or admin) revokes every
token of the user at once; a token stops working API_TOKEN_TTL_DAYS after it was issued; both are
a 401 that says what to do, and the token endpoint then issues a fresh token."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.commit import committed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a fresh Phrase 2026"


def get_token(email: str, password: str = PASSWORD) -> dict:
    response = APIClient().post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def assert_refused(response, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Token"
    error = response.json()["error"]
    assert error["code"] == code
    assert "POST /api/v1/auth/token/" in error["message"]


@pytest.fixture
def ann():
    return UserFactory(email="ann@example.com")


def test_the_token_endpoint_says_when_the_token_expires(ann, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    body = get_token("ann@example.com")
    token = Token.objects.get(user=ann)
    assert body["token"] == token.key
    assert body["expires_at"].startswith((token.created + timedelta(days=30)).date().isoformat())
    assert with_token(body["token"]).get("/api/v1/account/").status_code == 200


def test_a_token_expires_and_the_endpoint_then_issues_a_fresh_one(ann, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    old = get_token("ann@example.com")["token"]
    with time_machine.travel(timezone.now() + timedelta(days=29, hours=23), tick=False):
        assert with_token(old).get("/api/v1/account/").status_code == 200
        assert get_token("ann@example.com")["token"] == old  # still valid: the same token
    with time_machine.travel(timezone.now() + timedelta(days=30, minutes=1), tick=False):
        assert_refused(with_token(old).get("/api/v1/account/"), "token_expired")
        fresh = get_token("ann@example.com")["token"]
        assert fresh != old
        assert with_token(fresh).get("/api/v1/account/").json()["email"] == "ann@example.com"
        assert_refused(with_token(old).get("/api/v1/account/"), "invalid_token")  # replaced


def test_changing_the_password_revokes_the_token(ann, client):
    old = get_token("ann@example.com")["token"]
    client.force_login(ann)
    response = client.post("/account/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                                   "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert_refused(with_token(old).get("/api/v1/account/"), "invalid_token")
    assert client.get("/account/").status_code == 200  # the session that changed it stays signed in
    fresh = get_token("ann@example.com", NEW_PASSWORD)["token"]
    assert fresh != old
    assert with_token(fresh).get("/api/v1/account/").status_code == 200


def test_a_failed_password_change_keeps_the_token(ann, client):
    old = get_token("ann@example.com")["token"]
    client.force_login(ann)
    response = client.post("/account/password/", {"old_password": "wrong", "new_password1": NEW_PASSWORD,
                                                   "new_password2": NEW_PASSWORD})
    assert response.status_code == 200
    assert with_token(old).get("/api/v1/account/").status_code == 200


def test_resetting_the_password_revokes_the_token(ann, client):
    old = get_token("ann@example.com")["token"]
    with committed():
        client.post("/account/password/reset/", {"email": "ann@example.com"})
    link = re.search(r"https?://[^\s\"<]+/account/password/reset/[^\s\"<]+/", mail.outbox[0].body).group(0)
    page = client.get(link, follow=True)
    response = client.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD,
                                                        "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert_refused(with_token(old).get("/api/v1/account/"), "invalid_token")
    assert get_token("ann@example.com", NEW_PASSWORD)["token"] != old


@pytest.mark.parametrize("usable", [True, False])
def test_an_admin_setting_the_password_revokes_the_token(ann, client, usable):
    old = get_token("ann@example.com")["token"]
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"} if usable else {
        "usable_password": "false", "unset-password": "1"}
    response = client.post(f"/admin/accounts/user/{ann.pk}/password/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    ann.refresh_from_db()
    assert ann.check_password(NEW_PASSWORD) is usable
    assert_refused(with_token(old).get("/api/v1/account/"), "invalid_token")


def test_other_users_tokens_are_not_touched(ann, client):
    bob = UserFactory(email="bob@example.com")
    bobs = get_token("bob@example.com")["token"]
    get_token("ann@example.com")
    client.force_login(ann)
    client.post("/account/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                       "new_password2": NEW_PASSWORD})
    assert with_token(bobs).get("/api/v1/account/").json()["email"] == bob.email


def test_a_disabled_account_s_token_is_refused(ann):
    key = get_token("ann@example.com")["token"]
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    response = with_token(key).get("/api/v1/account/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "inactive_user"


@pytest.mark.parametrize("header", ["Token nope", "Token " + "x" * 41, "Token a b"])
def test_a_made_up_token_is_a_401_not_a_500(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/account/")
    assert response.status_code == 401
    assert "error" in response.json()
