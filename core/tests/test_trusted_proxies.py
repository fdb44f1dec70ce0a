"""Forwarded headers are believed only from a trusted proxy: a client talking to the app directly
cannot claim HTTPS, another host or another address (for the sign-in lockout) by sending them."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from accounts.lockout import client_ip
from core.middleware import FORWARDED_HEADERS, TrustedProxyMiddleware, is_trusted_proxy
from tests.factories import UserFactory

PASSWORD = "correct horse battery"  # UserFactory's
SPOOFED = {
    "HTTP_X_FORWARDED_FOR": "198.51.100.77",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "evil.example",
    "HTTP_X_FORWARDED_PORT": "443",
    "HTTP_X_REAL_IP": "198.51.100.77",
    "HTTP_FORWARDED": "for=198.51.100.77;proto=https;host=evil.example",
}


def _seen(request_meta: dict, settings) -> dict:
    """What a view behind the middleware sees of the request."""
    seen = {}

    def view(request):
        seen.update(
            secure=request.is_secure(),
            client=client_ip(request),
            headers={name: request.META.get(name) for name in SPOOFED},
        )
        return HttpResponse("ok")

    request = RequestFactory().get("/", **request_meta)
    TrustedProxyMiddleware(view)(request)
    return seen


@pytest.fixture
def behind_proxy_settings(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXIES = ("10.0.0.5/32", "fd00::/8")
    settings.TRUSTED_PROXY_COUNT = 1
    return settings


def test_spoofed_headers_from_an_untrusted_address_are_dropped(behind_proxy_settings):
    seen = _seen({"REMOTE_ADDR": "203.0.113.9", **SPOOFED}, behind_proxy_settings)
    assert seen["secure"] is False
    assert seen["client"] == "203.0.113.9"
    assert seen["headers"] == dict.fromkeys(SPOOFED)


def test_headers_from_a_trusted_proxy_are_kept(behind_proxy_settings):
    seen = _seen({"REMOTE_ADDR": "10.0.0.5", **SPOOFED}, behind_proxy_settings)
    assert seen["secure"] is True
    assert seen["client"] == "198.51.100.77"
    assert seen["headers"] == SPOOFED


def test_without_trusted_proxies_nobody_is_trusted_not_even_localhost(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXIES = ()
    seen = _seen({"REMOTE_ADDR": "127.0.0.1", **SPOOFED}, settings)
    assert seen["secure"] is False
    assert seen["headers"] == dict.fromkeys(SPOOFED)


@pytest.mark.parametrize(
    ("address", "trusted"),
    [("10.0.0.5", True), ("10.0.0.6", False), ("fd00::1", True), ("::ffff:10.0.0.5", True), ("2001:db8::1", False),
     ("", False), (None, False), ("not-an-ip", False)],
)
def test_is_trusted_proxy(settings, address, trusted):
    settings.TRUSTED_PROXIES = ("10.0.0.5/32", "fd00::/8")
    assert is_trusted_proxy(address) is trusted


def test_the_middleware_runs_first():
    from django.conf import settings

    assert settings.MIDDLEWARE[0] == "core.middleware.TrustedProxyMiddleware"
    assert {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
            "HTTP_X_REAL_IP", "HTTP_FORWARDED"} <= set(FORWARDED_HEADERS)


@pytest.mark.django_db
def test_a_direct_client_cannot_claim_https_through_the_whole_stack(client, behind_proxy_settings):
    behind_proxy_settings.SECURE_SSL_REDIRECT = True
    # Direct and forged: still plain HTTP, so it is redirected to HTTPS.
    direct = client.get("/healthz", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https")
    assert direct.status_code == 301
    assert direct["Location"].startswith("https://")
    # The same header from the proxy: HTTPS, served.
    proxied = client.get("/healthz", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200


@pytest.mark.django_db
def test_a_direct_client_cannot_dodge_the_lockout_by_forging_its_address(client, behind_proxy_settings):
    UserFactory(email="bob@example.com")
    login = reverse("accounts:login")
    wrong = {"username": "bob@example.com", "password": "wrong password"}
    for n in range(5):  # a new forged address each time, from one real address
        client.post(login, wrong, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    locked = client.post(login, {"username": "bob@example.com", "password": PASSWORD},
                         REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert locked.status_code == 429  # every failure counted for 203.0.113.9
    # Through the trusted proxy, another client is counted for its own address and can sign in.
    other = client.post(login, {"username": "bob@example.com", "password": PASSWORD},
                        REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert other.status_code == 302


@pytest.mark.django_db
def test_through_the_trusted_proxy_the_lockout_counts_the_forwarded_client(client, behind_proxy_settings):
    UserFactory(email="bob@example.com")
    login = reverse("accounts:login")
    wrong = {"username": "bob@example.com", "password": "wrong password"}
    for _ in range(5):
        client.post(login, wrong, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.7")
    locked = client.post(login, {"username": "bob@example.com", "password": PASSWORD},
                         REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert locked.status_code == 429
    # The proxy itself (another client behind it) is not locked out.
    other = client.post(login, {"username": "bob@example.com", "password": PASSWORD},
                        REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other.status_code == 302
