"""Sign up, sign in, sign out through the test client; lockout after repeated failures."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def sign_up_data(**changes) -> dict:
    data = {
        "email": "ann@example.com",
        "full_name": "Ann Example",
        "password1": "a long Secret phrase 42",
        "password2": "a long Secret phrase 42",
    }
    data.update(changes)
    return data


def test_sign_up_creates_the_user_and_signs_in(client):
    response = client.post(reverse("accounts:sign_up"), sign_up_data(email="Ann@Example.COM"))
    assert response.status_code == 302
    assert response.url == reverse("storefront:account")
    user = User.objects.get()
    assert user.email == "ann@example.com"
    assert user.full_name == "Ann Example"
    assert user.check_password("a long Secret phrase 42")
    page = client.get(reverse("storefront:account"))
    assert page.status_code == 200
    assert page.wsgi_request.user == user
    assert "You have no orders yet" in page.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password2": "something else 99"}, "password2", "do not match"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"password1": "123", "password2": "123"}, "password1", "too short"),
        ({"email": ""}, "email", "required"),
    ],
)
def test_sign_up_bad_input_shows_form_errors(client, changes, field, message):
    response = client.post(reverse("accounts:sign_up"), sign_up_data(**changes))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    body = response.content.decode()
    assert 'role="alert"' in body
    assert 'aria-invalid="true"' in body
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["taken@example.com", "TAKEN@example.com", "Taken@Example.Com"])
def test_sign_up_with_an_existing_email_in_any_case_is_refused(client, email):
    UserFactory(email="taken@example.com")
    response = client.post(reverse("accounts:sign_up"), sign_up_data(email=email))
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["email"])
    assert User.objects.count() == 1


def test_sign_in_with_email_in_any_case_then_sign_out(client):
    user = UserFactory(email="bob@example.com")
    response = client.post(reverse("accounts:login"), {"username": "BOB@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("storefront:account")
    home = client.get(reverse("storefront:home"))
    body = home.content.decode()
    assert "Your account" in body
    assert "Sign out" in body
    assert home.wsgi_request.user == user

    asked = client.get(reverse("accounts:logout"))  # never signed out on GET: it asks, with a button
    assert asked.status_code == 200
    assert 'method="post"' in asked.content.decode()
    assert client.get(reverse("storefront:account")).status_code == 200  # still signed in
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("storefront:account")).status_code == 302  # signed out: back to sign-in
    assert client.get(reverse("accounts:logout")).url == reverse("storefront:home")  # nothing to sign out of


def test_wrong_password_is_a_form_error(client):
    UserFactory(email="bob@example.com")
    response = client.post(reverse("accounts:login"), {"username": "bob@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


def test_account_pages_need_sign_in_and_come_back_after(client):
    UserFactory(email="bob@example.com")
    response = client.get(reverse("accounts:addresses"))
    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next=/account/addresses/"
    response = client.post(
        reverse("accounts:login"),
        {"username": "bob@example.com", "password": PASSWORD, "next": "/account/addresses/"},
    )
    assert response.url == "/account/addresses/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/steal", "//evil.example/", "http://evil.example", "javascript:alert(1)"]
)
def test_next_to_another_site_is_ignored(client, target):
    UserFactory(email="bob@example.com")
    response = client.post(
        reverse("accounts:login"), {"username": "bob@example.com", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.url == reverse("storefront:account")

    client.post(reverse("accounts:logout"))
    response = client.post(f"{reverse('accounts:sign_up')}?next={target}", sign_up_data())
    assert response.status_code == 302
    assert response.url == reverse("storefront:account")


def test_header_for_anonymous_visitors_shows_sign_in_only(client):
    body = client.get(reverse("storefront:home")).content.decode()
    assert "Sign in" in body
    assert "Your account" not in body.replace('aria-label="Your account"', "")
    assert "Sign out" not in body


def test_signed_in_users_get_the_cached_page_with_their_own_account_links(client):
    client.get(reverse("storefront:home"))  # a guest fills the page cache
    assert client.get(reverse("storefront:home"))["X-Page-Cache"] == "hit"
    client.force_login(UserFactory())
    response = client.get(reverse("storefront:home"))
    assert response["X-Page-Cache"] == "hit"  # the same stored page, its personal parts filled in for them
    assert "Sign out" in response.content.decode()
    assert "Sign in</a>" not in response.content.decode()
    guest = Client().get(reverse("storefront:home")).content.decode()
    assert "Sign out" not in guest
    assert "Sign in</a>" in guest


def _fail(client, email="bob@example.com", times=1):
    for _ in range(times):
        response = client.post(reverse("accounts:login"), {"username": email, "password": "wrong password"})
    return response


def test_five_failures_lock_the_account_out_even_with_the_right_password(client):
    UserFactory(email="bob@example.com")
    assert _fail(client, times=4).status_code == 200
    locked = _fail(client)  # the fifth failure
    assert locked.status_code == 429
    assert "Signing in is paused" in locked.content.decode()
    response = client.post(reverse("accounts:login"), {"username": "Bob@Example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert not response.wsgi_request.user.is_authenticated
    assert locked["Retry-After"] == str(15 * 60)


def test_lockout_is_per_email_and_ip(client):
    UserFactory(email="bob@example.com")
    UserFactory(email="eve@example.com")
    _fail(client, times=5)
    response = client.post(reverse("accounts:login"), {"username": "eve@example.com", "password": PASSWORD})
    assert response.status_code == 302
    other_ip = client.post(
        reverse("accounts:login"), {"username": "bob@example.com", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    assert other_ip.status_code == 302


def test_a_successful_sign_in_resets_the_failure_count(client):
    UserFactory(email="bob@example.com")
    good = {"username": "bob@example.com", "password": PASSWORD}
    _fail(client, times=4)
    assert client.post(reverse("accounts:login"), good).status_code == 302
    client.post(reverse("accounts:logout"))
    assert _fail(client, times=4).status_code == 200  # counting starts again from zero
    assert client.post(reverse("accounts:login"), good).status_code == 302


def test_admin_login_is_locked_out_too(client):
    UserFactory(email="staff@example.com", is_staff=True)
    url = reverse("admin:login")
    for _ in range(5):
        response = client.post(url, {"username": "staff@example.com", "password": "wrong"})
    assert response.status_code == 429
    response = client.post(url, {"username": "staff@example.com", "password": PASSWORD})
    assert response.status_code == 429


def test_password_change_keeps_the_session(client):
    user = UserFactory(email="bob@example.com")
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "a brand new Phrase 7", "new_password2": "a brand new Phrase 7"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a brand new Phrase 7")
    assert client.get(reverse("storefront:account")).status_code == 200


def test_password_change_with_wrong_old_password_is_a_form_error(client):
    client.force_login(UserFactory())
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": "nope", "new_password1": "a brand new Phrase 7", "new_password2": "a brand new Phrase 7"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]


def test_behind_a_proxy_the_lockout_counts_the_forwarded_client_not_the_proxy(client, settings):
    settings.TRUSTED_PROXIES = ("10.0.0.1/32",)
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(email="bob@example.com")
    login = reverse("accounts:login")
    wrong = {"username": "bob@example.com", "password": "wrong password"}
    for _ in range(5):  # an attacker behind the proxy, forging an address at the left of the header
        client.post(login, wrong, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9")
    locked = client.post(login, {"username": "bob@example.com", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1",
                         HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.9")
    assert locked.status_code == 429  # the proxy saw 203.0.113.9 every time: the forged part changes nothing
    # bob from another address, through the same proxy, is not locked out
    other = client.post(login, {"username": "bob@example.com", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1",
                        HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert other.status_code == 302


@pytest.mark.parametrize(
    ("count", "header", "expected"),
    [(0, "203.0.113.9", "10.0.0.1"), (1, "", "10.0.0.1"), (1, "not-an-ip", "10.0.0.1"), (2, "203.0.113.9", "10.0.0.1"),
     (2, "203.0.113.9, 10.0.0.2", "203.0.113.9"), (1, " 2001:db8::1 ", "2001:db8::1")],
)
def test_client_ip(rf, settings, count, header, expected):
    from accounts.lockout import client_ip

    settings.TRUSTED_PROXIES = ("10.0.0.1/32",)
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=header)
    assert client_ip(request) == expected
