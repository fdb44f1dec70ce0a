"""The page cache's in-process layer (core.cache): a warm hit costs no Redis round trip while the
process's subscription to bumps is alive, a bump made anywhere reaches it, and without a live
subscription every lookup goes to Redis as before. Real Redis (pub/sub included)."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache import cache

from core import cache as vcache

pytestmark = pytest.mark.django_db

NAMESPACES = ["catalog", "product:blue-kettle"]


@pytest.fixture
def live(settings):
    """The layer on, its listener subscribed (waits for the subscription, as a web process would)."""
    if vcache._redis_url() is None:
        pytest.skip("needs REDIS_URL (the layer listens on Redis pub/sub)")
    settings.CACHE_LOCAL_MB = 8
    deadline = time.monotonic() + 5
    while not vcache._local_ready() or listeners() != 1:  # one listener, as in every real process
        assert time.monotonic() < deadline, "the listener never subscribed"
        time.sleep(0.05)
    yield
    vcache.local_clear()


def listeners():
    """Listener threads alive in this process (a test that played a new process leaves its own one
    running until it sees the real pid again, within a second: two would each take every message)."""
    return sum(thread.name == "cache-bumps" and thread.is_alive() for thread in threading.enumerate())


def store(value="page"):
    hit, seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit is None
    vcache.set_checked("page:k", (200, "text/html", value, frozenset(), ()), seen, 60, local=True)


def wait_for(predicate, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_warm_entry_is_served_without_redis(live):
    store("kettle v1")
    hit, _seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit[2] == "kettle v1"
    cache.delete("page:k")  # gone from Redis: the process still answers from its own copy
    hit, _seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit[2] == "kettle v1"


def test_a_bump_in_this_process_is_seen_at_once(live):
    store()
    vcache.bump("product:blue-kettle")
    hit, seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit is None
    assert seen["product:blue-kettle"].startswith(vcache.BUMPED)


def test_a_bump_published_by_another_process_reaches_this_one(live):
    store()
    before = vcache._local.versions["catalog"]
    # what another web process or a worker does when a price changes: a new version, published
    new = vcache._new_version(vcache.BUMPED)
    cache.set(vcache._version_key("catalog"), new, vcache.VERSION_TIMEOUT)
    cache.client.get_client(write=True).publish(vcache._channel(), vcache._encode({"catalog": new}))
    wait_for(lambda: vcache._local.versions.get("catalog") == new)
    assert before != new
    hit, _seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit is None  # the stored page is of the old version: rendered again


def test_without_a_live_subscription_every_lookup_asks_redis(live, monkeypatch):
    store("v1")
    # the listener has not been heard from lately; its next pong (one a second) must not make it
    # look alive again between these lines, so every pong from now on counts as long ago
    monkeypatch.setattr(vcache, "_ALIVE_SECONDS", -3600.0)
    vcache._local.alive_until = 0.0
    cache.delete("page:k")
    hit, _seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit is None  # not answered from the process's copy


def test_a_bump_that_cannot_reach_redis_empties_the_processs_copy(live, monkeypatch):
    store()

    import redis

    def broken(*args, **kwargs):
        raise redis.ConnectionError("redis is down")

    monkeypatch.setattr(redis.Redis, "evalsha", broken)
    vcache.bump("catalog")
    assert vcache._local.versions == {}
    assert not vcache._local.entries
    assert not vcache._local.sequences


def test_other_shops_on_the_same_redis_server_are_not_heard(live, settings):
    channel = vcache._channel()
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "KEY_PREFIX": "someone-else"}}
    assert vcache._channel() != channel


def test_the_copy_stays_within_its_size(live, settings):
    settings.CACHE_LOCAL_MB = 1
    for n in range(40):
        key = f"page:{n}"
        _hit, seen = vcache.get_checked(key, NAMESPACES, local=True)
        vcache.set_checked(key, (200, "text/html", "x" * 100_000, frozenset(), ()), seen, 60, local=True)
    assert vcache._local.size <= 1024 * 1024
    assert 0 < len(vcache._local.entries) < 40


def test_a_page_kept_as_pieces_counts_its_bytes(live, settings):
    """core.pagecache stores a page as encoded pieces between its holes: they count at their size."""
    settings.CACHE_LOCAL_MB = 1
    for n in range(40):
        key = f"page:{n}"
        _hit, seen = vcache.get_checked(key, NAMESPACES, local=True)
        page = (200, "text/html", (b"x" * 50_000, 0, b"y" * 50_000), frozenset(), (), "utf-8")
        vcache.set_checked(key, page, seen, 60, local=True)
    assert vcache._local.size <= 1024 * 1024
    assert 0 < len(vcache._local.entries) < 40


def test_a_forget_all_message_empties_every_processs_copy(live):
    """What the benchmark sends after deleting pages in Redis: every process's listener empties its
    copy, so the next lookup goes to Redis (and misses)."""
    store()
    assert vcache._local.entries
    # as another process sends it (this process's own call empties its copy at once, before publishing)
    cache.client.get_client(write=True).publish(vcache._channel(), vcache._FORGET_ALL)
    wait_for(lambda: not vcache._local.entries and not vcache._local.versions)
    cache.delete("page:k")  # gone from Redis too: the lookup misses
    store("again")
    assert vcache.local_clear_everywhere()
    assert not vcache._local.entries
    cache.delete("page:k")
    hit, _seen = vcache.get_checked("page:k", NAMESPACES, local=True)
    assert hit is None


def test_a_small_table_is_held_by_the_process_and_each_reader_gets_its_own_copy(live):
    """core.cache.cached_in (promotions, deals, fee schedule, calendars...) answers from the process
    while its subscription lives; a reader that changes what it got changes nothing for the next."""
    calls = []

    def produce():
        calls.append(1)
        return {"rules": [{"percent": 10}]}

    first = vcache.cached_in("promotions", "promotions:live-test", produce)
    first["rules"][0]["percent"] = 99  # a caller that changes its copy
    first["rules"].append("junk")
    cache.delete("promotions:live-test")  # gone from Redis: the process still holds it
    second = vcache.cached_in("promotions", "promotions:live-test", produce)
    assert second == {"rules": [{"percent": 10}]}
    assert calls == [1]
    second["rules"].clear()
    assert vcache.cached_in("promotions", "promotions:live-test", produce) == {"rules": [{"percent": 10}]}


def test_a_small_table_changed_in_another_process_is_read_again(live):
    calls = []

    def produce():
        calls.append(1)
        return f"table {len(calls)}"

    assert vcache.cached_in("promotions", "promotions:live-test", produce) == "table 1"
    new = vcache._new_version(vcache.BUMPED)  # a rule saved by another process: bumped and published
    cache.set(vcache._version_key("promotions"), new, vcache.VERSION_TIMEOUT)
    cache.client.get_client(write=True).publish(vcache._channel(), vcache._encode({"promotions": new}))
    wait_for(lambda: vcache._local.versions.get("promotions") == new)
    assert vcache.cached_in("promotions", "promotions:live-test", produce) == "table 2"
    assert vcache.cached_in("promotions", "promotions:live-test", produce) == "table 2"
    assert calls == [1, 1]


def publish(versions, sequence=None):
    cache.client.get_client(write=True).publish(vcache._channel(), vcache._encode(versions, sequence))


def heard_everything_sent_so_far():
    """Wait until the listener has handled every message published before this call."""
    marker = vcache._new_version(vcache.BUMPED)
    publish({"test:marker": marker})
    wait_for(lambda: vcache._local.versions.get("test:marker") == marker)


def test_this_processs_own_message_heard_after_a_later_bump_does_not_undo_it(live):
    """A first version made by a reader, then a bump, in one process (a table read, then changed):
    the process learnt both at once, the listener hears of the first one afterwards. Taking it again
    would put the map back on the first version, and the value stored under it would be served after
    the bump (CI saw this once)."""
    calls = []

    def produce():
        calls.append(1)
        return f"table {len(calls)}"

    assert vcache.cached_in("test:own", "test:own-table", produce) == "table 1"
    first, first_number = vcache._local.versions["test:own"], vcache._local.sequences["test:own"]
    vcache.bump("test:own")
    bumped = vcache._local.versions["test:own"]
    assert vcache._local.sequences["test:own"] > first_number
    publish({"test:own": first}, first_number)  # the first message, as if delivered late
    heard_everything_sent_so_far()
    assert vcache._local.versions["test:own"] == bumped
    assert vcache.cached_in("test:own", "test:own-table", produce) == "table 2"


def test_a_bump_by_another_process_between_writing_a_first_version_and_learning_it_wins(live, monkeypatch):
    """This process stores a value computed from the data before another process's change: it creates
    the namespace's first version, and before it learns that version, the other process's bump (after
    its change) is written and heard here. The map must stay on the bump: the value stored under the
    first version is never served."""
    real_write = vcache._write_versions
    other = vcache._new_version(vcache.BUMPED)

    def write_then_another_bump(versions, *, only_new, publish=True):
        written = real_write(versions, only_new=only_new, publish=publish)
        if only_new and "test:race" in versions:
            # the other process: its change committed, its bump written and published (numbered after ours)
            monkeypatch.setattr(vcache, "_write_versions", real_write)
            sequence, _made = real_write({"test:race": other}, only_new=False)
            wait_for(lambda: vcache._local.versions.get("test:race") == other)
            assert sequence > written[0]
        return written

    value, seen = vcache.get_checked("test:race-table", ["test:race"], local=True, copies=True)
    assert value is None
    monkeypatch.setattr(vcache, "_write_versions", write_then_another_bump)
    vcache.set_checked("test:race-table", "before the change", seen, 60, local=True, copies=True)
    assert vcache._local.versions["test:race"] == other
    assert vcache.get_checked("test:race-table", ["test:race"], local=True, copies=True)[0] is None
    assert cache.get(vcache._version_key("test:race")) == other  # the map and Redis agree


def test_versions_are_numbered_in_the_order_they_are_written(live):
    numbers = []
    for _ in range(3):
        vcache.bump("test:numbered")
        numbers.append(vcache._local.sequences["test:numbered"])
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3
    cache.delete("cache-version-sequence")  # evicted, or Redis emptied: the numbers never go back
    vcache.bump("test:numbered")
    assert vcache._local.sequences["test:numbered"] > numbers[-1]


def test_a_value_that_cannot_be_pickled_is_not_held(live):
    produced = []

    def produce():
        produced.append(1)
        return lambda: "not picklable"

    vcache.cached_in("promotions", "promotions:lambda", produce)
    vcache.cached_in("promotions", "promotions:lambda", produce)
    assert len(produced) == 2  # neither Redis nor the process could keep it: produced each time
    assert "promotions:lambda" not in vcache._local.entries


def test_a_listener_whose_start_fails_tries_again_and_comes_alive(settings, monkeypatch):
    """Whatever goes wrong as the listener starts (Redis refusing, a module half imported by the
    request thread at that moment) is retried a second later; the layer then comes alive."""
    import redis

    if vcache._redis_url() is None:
        pytest.skip("needs REDIS_URL (the layer listens on Redis pub/sub)")
    settings.CACHE_LOCAL_MB = 8
    real = redis.Redis.from_url
    attempts = []

    def first_fails(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("cannot import name 'AbstractConnection' (partially initialized module)")
        return real(*args, **kwargs)

    monkeypatch.setattr(redis.Redis, "from_url", first_fails)
    vcache._local.alive_until = 0.0
    # as in a new process (a pid of its own): it starts a listener of its own, and this process's
    # listener stops (two in one process would each take every message)
    real_pid = vcache.os.getpid()
    monkeypatch.setattr(vcache.os, "getpid", lambda: real_pid + 100_000)
    assert not vcache._local_ready()
    wait_for(lambda: len(attempts) >= 2, seconds=6)  # the new listener tried again
    wait_for(vcache._local_ready, seconds=6)
    monkeypatch.undo()  # this process again: its own listener starts, the other one stops
    wait_for(lambda: vcache._local_ready() and listeners() == 1, seconds=6)


def test_a_message_heard_after_a_newer_version_was_read_from_redis_changes_nothing(live):
    """The process reads the versions from Redis (it held none for the namespace) after two bumps
    from elsewhere, and only then hears the first bump's message (its thread was slow): the map
    keeps what it read."""
    first, second = vcache._new_version(vcache.BUMPED), vcache._new_version(vcache.BUMPED)
    first_number, _made = vcache._write_versions({"test:late": first}, only_new=False)
    vcache._write_versions({"test:late": second}, only_new=False)
    heard_everything_sent_so_far()
    vcache.local_clear()  # as after a lost subscription: the map holds nothing
    assert vcache.get_checked("test:late-page", ["test:late"], local=True) == (None, {"test:late": second})
    assert vcache._local.versions["test:late"] == second
    publish({"test:late": first}, first_number)  # the first bump's message, heard late
    heard_everything_sent_so_far()
    assert vcache._local.versions["test:late"] == second
