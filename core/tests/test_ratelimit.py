"""The rate limiter: rates parse, counts per scope and key, windows end, and a cache that is down
or failing lets everything through (fail open) instead of blocking everyone or answering 500."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from core import ratelimit
from core.apps import check_limits_configured
from core.tests.test_cache import DOWN_REDIS

DOWN_REDIS_RAISING = {"default": {**DOWN_REDIS["default"],
                                  "OPTIONS": {**DOWN_REDIS["default"]["OPTIONS"], "IGNORE_EXCEPTIONS": False}}}


@pytest.fixture
def rates(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "test": "3/min", "off": ""}
    return settings


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/min", ratelimit.Rate(20, 60)),
        ("5/hour", ratelimit.Rate(5, 3600)),
        ("100/day", ratelimit.Rate(100, 86400)),
        ("1/s", ratelimit.Rate(1, 1)),
        ("3/15min", ratelimit.Rate(3, 900)),
        (" 10 / minutes ", ratelimit.Rate(10, 60)),
        ("", None),
        ("off", None),
    ],
)
def test_rates_parse(text, rate):
    assert ratelimit.parse_rate(text) == rate


@pytest.mark.parametrize("text", ["20", "x/min", "20/fortnight", "-1/min", "20/0min", "1e3/min"])
def test_a_bad_rate_is_a_configuration_error(text):
    with pytest.raises(ImproperlyConfigured):
        ratelimit.parse_rate(text)


def test_the_system_check_names_a_bad_rate_or_max_price(settings):
    assert check_limits_configured() == []
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "voucher": "30 per minute"}
    settings.MAX_PRICE = "a lot"
    assert [e.id for e in check_limits_configured()] == ["core.E001", "core.E002"]


def test_an_unknown_scope_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="RATE_LIMITS"):
        ratelimit.hit("no-such-scope", "ip:1.2.3.4")


def test_counts_per_scope_and_key_until_the_window_ends(rates):
    now = 16_667 * 60 + 20.0  # 20 s into a minute window
    assert [ratelimit.hit("test", "user:1", now=now).allowed for _ in range(4)] == [True, True, True, False]
    refused = ratelimit.hit("test", "user:1", now=now)
    assert (refused.allowed, refused.retry_after) == (False, 40)
    assert ratelimit.hit("test", "user:2", now=now).allowed  # another caller has their own count
    assert ratelimit.hit("place_order", "user:1", now=now).allowed  # another scope too
    assert ratelimit.hit("test", "user:1", now=now + 40).allowed  # the next window starts afresh


def test_a_scope_turned_off_or_an_empty_key_is_never_limited(rates):
    assert all(ratelimit.hit("off", "user:1").allowed for _ in range(50))
    assert all(ratelimit.hit("test", None).allowed for _ in range(50))


@pytest.mark.parametrize("caches", [DOWN_REDIS, DOWN_REDIS_RAISING], ids=["errors-ignored", "errors-raised"])
def test_with_the_cache_down_nothing_is_limited(rates, caches):
    with override_settings(CACHES=caches):
        assert all(ratelimit.hit("test", "user:1").allowed for _ in range(6))


def test_the_caller_is_the_user_else_the_client_address_the_lockout_trusts(settings, django_user_model):
    request = RequestFactory().post("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6")
    request.user = None
    assert ratelimit.caller_key(request) == "ip:10.0.0.5"  # no trusted proxy: the header is the client's own
    settings.TRUSTED_PROXY_COUNT = 1
    assert ratelimit.caller_key(request) == "ip:10.0.0.5"  # a count alone trusts nobody
    settings.TRUSTED_PROXIES = ("10.0.0.5/32",)
    assert ratelimit.caller_key(request) == "ip:6.6.6.6"  # behind our proxy: the address it saw

    class Member:
        is_authenticated = True
        pk = 42

    request.user = Member()
    assert ratelimit.caller_key(request) == "user:42"
    assert ratelimit.client_key(request) == "ip:6.6.6.6"


def test_on_redis_a_request_is_counted_in_one_round_trip_and_its_window_expires(rates):
    from django.core.cache import cache

    client = getattr(cache, "client", None)
    if not hasattr(client, "get_client"):
        pytest.skip("needs the Redis cache")
    redis = client.get_client(write=True)
    calls = []
    original = type(redis).execute_command

    def counting(self, *args, **kwargs):
        calls.append(args[0])
        return original(self, *args, **kwargs)

    now = 16_667 * 60 + 20.0
    type(redis).execute_command = counting
    try:
        verdicts = [ratelimit.hit("test", "user:7", now=now).allowed for _ in range(4)]
    finally:
        type(redis).execute_command = original
    assert verdicts == [True, True, True, False]
    assert calls == [], "the counter is read and written in one pipeline, not command by command"
    key = client.make_key(f"rl:test:{ratelimit.digest('user:7')}:{16_667}")
    assert redis.get(key) == b"4"
    assert 0 < redis.ttl(key) <= 61  # the window's counter goes away after its period


def test_without_redis_the_cache_counts_too(rates):
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl-test"}}
    now = 16_667 * 60 + 20.0
    with override_settings(CACHES=locmem):
        from django.core.cache import caches

        caches["default"].clear()
        assert [ratelimit.hit("test", "user:1", now=now).allowed for _ in range(4)] == [True, True, True, False]
