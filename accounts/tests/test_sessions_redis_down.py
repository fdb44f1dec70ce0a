"""A sign-out (or a password change or reset) sticks even when Redis was unreachable at that moment.

Each test starts its own redis-server, uses it as the cache, signs in, makes Redis unreachable
while keeping its data (SIGSTOP: like a network partition), signs out, brings Redis back and
replays the old session cookie: it must not sign anyone in.
"""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import reverse

from tests.commit import committed
from tests.factories import UserFactory
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def redis_cache(tmp_path):
    """The default cache on a private redis-server, configured as in production."""
    if settings.CACHES["default"]["BACKEND"] != "django_redis.cache.RedisCache":
        pytest.skip("needs REDIS_URL (services mode)")
    server = RedisServer(tmp_path / "redis").start()
    caches = {"default": {**settings.CACHES["default"], "LOCATION": server.url(0)}}
    try:
        with override_settings(CACHES=caches):
            yield server
    finally:
        server.kill()


def signed_in_client(user) -> Client:
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("storefront:account")).status_code == 200
    return client


def replay(cookie: str) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return client


def is_signed_in(client: Client) -> bool:
    response = client.get(reverse("storefront:account"))
    assert response.status_code in (200, 302)
    return response.status_code == 200 and response.wsgi_request.user.is_authenticated


def test_a_sign_out_while_redis_is_unreachable_sticks_when_it_comes_back(redis_cache):
    user = UserFactory(email="ann@example.com")
    client = signed_in_client(user)
    old_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    redis_cache.freeze()
    try:
        started = time.monotonic()
        response = client.post(reverse("accounts:logout"))
        assert response.status_code == 302
        assert time.monotonic() - started < 5  # unreachable Redis costs its timeouts, no more
    finally:
        redis_cache.thaw()
    assert not Session.objects.filter(session_key=old_cookie).exists()

    assert not is_signed_in(replay(old_cookie))
    assert not is_signed_in(client)
    assert signed_in_client(user)  # signing in again works as usual


def test_a_password_change_while_redis_is_unreachable_signs_out_the_other_sessions(redis_cache):
    user = UserFactory(email="ann@example.com")
    here = signed_in_client(user)
    elsewhere = signed_in_client(user)
    here_before = here.cookies[settings.SESSION_COOKIE_NAME].value

    redis_cache.freeze()
    try:
        response = here.post(
            reverse("accounts:password_change"),
            {"old_password": PASSWORD, "new_password1": "a new Phrase 2026!", "new_password2": "a new Phrase 2026!"},
        )
        assert response.status_code == 302
    finally:
        redis_cache.thaw()

    assert is_signed_in(here)  # the session that changed it stays signed in (under a new key)
    assert here.cookies[settings.SESSION_COOKIE_NAME].value != here_before
    assert not is_signed_in(replay(here_before))
    assert not is_signed_in(elsewhere)


def test_sessions_work_while_redis_is_down(redis_cache):
    user = UserFactory(email="ann@example.com")
    redis_cache.stop()
    client = signed_in_client(user)
    assert is_signed_in(client)
    redis_cache.start()
    assert is_signed_in(client)  # nothing was lost while Redis was away
    client.post(reverse("accounts:logout"))
    assert not is_signed_in(client)


def test_a_password_reset_while_redis_is_unreachable_signs_out_every_session(redis_cache, mailoutbox):
    user = UserFactory(email="ann@example.com")
    signed_in = signed_in_client(user)
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME].value

    redis_cache.freeze()
    try:
        resetting = Client()
        with committed():
            assert resetting.post(reverse("accounts:password_reset"), {"email": user.email}).status_code == 302
        link = re.search(r"https?://[^\s\"<]+/account/password/reset/[^\s\"<]+/", mailoutbox[0].body).group(0)
        form = resetting.get(link, follow=True)
        assert form.context["validlink"] is True
        done = resetting.post(form.redirect_chain[-1][0],
                              {"new_password1": "a fresh Phrase 2026", "new_password2": "a fresh Phrase 2026"})
        assert done.status_code == 302
    finally:
        redis_cache.thaw()

    assert not is_signed_in(signed_in)
    assert not is_signed_in(replay(cookie))
