"""Versioned cache keys: bumping a namespace invalidates its keys; errors degrade to misses."""

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from core import cache as vcache

DOWN_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens here
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1},
    }
}


def counter():
    calls = []

    def produce():
        calls.append(1)
        return len(calls)

    return produce


def test_bump_invalidates_that_namespace_only():
    a, b = counter(), counter()
    assert vcache.cached_in("product:a", "a", a) == 1
    assert vcache.cached_in("product:b", "b", b) == 1
    assert vcache.cached_in("product:a", "a", a) == 1  # a hit
    vcache.bump("product:a")
    assert vcache.cached_in("product:a", "a", a) == 2
    assert vcache.cached_in("product:b", "b", b) == 1


@pytest.mark.django_db(transaction=True)
def test_bump_on_commit_waits_for_the_commit_and_skips_rollbacks():
    produce = counter()
    assert vcache.cached_in("ns:commit", "c", produce) == 1
    with transaction.atomic():
        vcache.bump_on_commit("ns:commit")
        assert vcache.cached_in("ns:commit", "c", produce) == 1  # not yet
    assert vcache.cached_in("ns:commit", "c", produce) == 2

    def bump_then_fail():
        with transaction.atomic():
            vcache.bump_on_commit("ns:commit")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        bump_then_fail()
    assert vcache.cached_in("ns:commit", "c", produce) == 2


def test_digest_is_short_and_stable():
    key = vcache.digest("/search/?q=" + "ü " * 300)
    assert len(key) < 40
    assert " " not in key
    assert key == vcache.digest("/search/?q=" + "ü " * 300)


@override_settings(CACHES=DOWN_REDIS)
def test_cache_down_degrades_to_misses():
    assert vcache.safe_get("anything", "default") == "default"
    vcache.safe_set("anything", 1)
    vcache.bump("ns")
    assert vcache.cached_in("ns", "x", lambda: "fresh") == "fresh"
    assert cache.get("anything") is None


def test_checked_values_hit_until_a_namespace_is_bumped():
    value, seen = vcache.get_checked("k", ["a", "b"])
    assert value is None
    vcache.set_checked("k", "page body", seen)
    assert vcache.get_checked("k", ["b", "a"])[0] == "page body"
    vcache.bump("b")
    value, seen = vcache.get_checked("k", ["a", "b"])
    assert value is None
    vcache.set_checked("k", "new body", seen)
    assert vcache.get_checked("k", ["a", "b"])[0] == "new body"


def test_value_computed_before_a_bump_is_never_served_after_it():
    _, seen = vcache.get_checked("k2", ["ns"])
    vcache.bump("ns")  # a write commits while the page renders
    vcache.set_checked("k2", "stale body", seen)
    assert vcache.get_checked("k2", ["ns"])[0] is None


def test_a_lookup_that_misses_writes_nothing():
    """A page of something that does not exist looks its namespace up and stores nothing: no
    version is created for it (only storing a value creates one)."""
    assert vcache.get_checked("page:missing", ["product:made-up"]) == (None, {"product:made-up": None})
    assert cache.get("ver:product:made-up") is None


def test_an_expired_version_makes_a_miss_and_comes_back_new(settings):
    """Read from Redis (a process without the in-process layer: none, or its subscription lost). A
    process with the layer keeps the versions it was told of: an expired version is not a change."""
    settings.CACHE_LOCAL_MB = 0
    calls = []

    def produce():
        calls.append(1)
        return f"value {len(calls)}"

    assert vcache.cached_in("ns:exp", "k:exp", produce) == "value 1"
    assert vcache.cached_in("ns:exp", "k:exp", produce) == "value 1"
    old_version = cache.get("ver:ns:exp")
    cache.delete("ver:ns:exp")  # what expiry (or eviction) does
    assert vcache.cached_in("ns:exp", "k:exp", produce) == "value 2"  # not the value of the old version
    assert cache.get("ver:ns:exp") not in (None, old_version)
    assert vcache.cached_in("ns:exp", "k:exp", produce) == "value 2"


def test_a_version_another_reader_created_meanwhile_is_used():
    _, seen = vcache.get_checked("k3", ["ns:race"])
    vcache.versions(["ns:race"])  # another request creates the version while this one renders
    vcache.set_checked("k3", "body", seen)
    assert vcache.get_checked("k3", ["ns:race"])[0] == "body"


def test_every_write_has_a_time_to_live():
    if not hasattr(cache, "ttl"):
        pytest.skip("needs django-redis")
    vcache.safe_set("plain", 1)  # no timeout given: the cache's default, never "forever"
    vcache.safe_set("explicit-none", 1, None)
    vcache.versions(["ns:ttl1"])
    vcache.bump("ns:ttl2")
    vcache.cached_in("ns:ttl3", "in-ns", lambda: 1)
    for key in ["plain", "explicit-none", "ver:ns:ttl1", "ver:ns:ttl2", "ver:ns:ttl3", "in-ns"]:
        ttl = cache.ttl(key)  # None: no expiry; 0: no such key
        assert ttl is not None, key
        assert 0 < ttl <= vcache.VERSION_TIMEOUT, key
