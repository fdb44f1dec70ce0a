"""Cache helpers: versioned keys, invalidation on commit, and errors that degrade to a miss.

A *namespace* (``"product:blue-kettle"``, ``"listing"``) has a version number kept in the cache.
Keys built from it include that version, so bumping the version invalidates every key of the
namespace at once without deleting anything (old entries simply expire).

Every key written here has a time to live: values get the timeout their caller gives (the
cache's default ``TIMEOUT`` when none is given; never "forever"), versions live VERSION_TIMEOUT.
A version that expired (or was evicted) comes back as a new, never used value, so everything
stored under the old one is a miss: expiry can only cost a recomputation, never serve stale data.

A version is created only when something is stored under it (:func:`set_checked`), not when a
lookup misses, so requests for things that do not exist (a made-up product slug) write nothing.

Every call here swallows cache errors (logged): when Redis is down, callers see a miss and
read the database instead (invariant 6 in docs/architecture.md).

**The in-process layer** (``CACHE_LOCAL_MB``, used by the page cache: ``get_checked(..., local=True)``).
A page-cache hit would otherwise cost a Redis round trip to learn the namespaces' versions, the
largest part of serving a stored page. So each process keeps the versions it has learnt and the
last entries it read, and learns every change as it happens: :func:`bump` publishes the new versions
on a Redis channel, and a thread in each web process, subscribed to it, writes them into the
process's map (the process that bumps writes its own at once). Versions are numbered as they are
written, and a map never takes one older than what it holds (see ``_WRITE_VERSIONS``). A hit whose entry carries the
versions the map holds is served with no round trip at all. The map is trusted only while the
subscription is known to be alive (a confirmation, a message or an answered PING in the last
``_ALIVE_SECONDS``): a lost connection, Redis down or a bump that could not be published empties
the map, and every lookup goes to Redis again, exactly as without the layer. A version read from
Redis is kept only if no message arrived while it was read (a generation counter), and it is
numbered with the sequence read with it, so a slow read never overwrites a newer version and a
message heard late never overwrites a newer read. The cost: between a bump's commit and its message reaching
another process (well under a millisecond on one host, longer only when that process's thread
waits for the interpreter lock) that process may serve the page it had; the process that made the
change, and every one after the message, serve the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.db import transaction

logger = logging.getLogger(__name__)

_MISSING = object()
# Versions outlive every value stored under them (the longest value timeout is an hour or so);
# an expired version only makes its namespace's entries miss once.
VERSION_TIMEOUT = 7 * 24 * 60 * 60


def _version_key(namespace: str) -> str:
    return f"ver:{namespace}"


def digest(text: str) -> str:
    """A short, stable key part for any text (e.g. a filter set's repr)."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def safe_get_many(keys: Iterable[str]) -> dict[str, Any]:
    keys = list(keys)
    try:
        return cache.get_many(keys)
    except Exception:  # noqa: BLE001 - any cache failure is a miss, by design
        logger.warning("cache get_many failed; treating as miss", exc_info=True)
        return {}


def safe_get(key: str, default: Any = None) -> Any:
    try:
        return cache.get(key, default)
    except Exception:  # noqa: BLE001
        logger.warning("cache get failed; treating as miss", exc_info=True)
        return default


def safe_set(key: str, value: Any, timeout: int | None = None) -> None:
    """Store with ``timeout`` seconds to live; ``None`` is the cache's default TIMEOUT (unlike
    Django's own ``None``, never "forever": every key expires)."""
    try:
        cache.set(key, value, DEFAULT_TIMEOUT if timeout is None else timeout)
    except Exception:  # noqa: BLE001
        logger.warning("cache set failed; value not cached", exc_info=True)


def safe_set_many(values: dict[str, Any], timeout: int | None = None) -> None:
    """:func:`safe_set` for several keys in one round trip."""
    try:
        cache.set_many(values, DEFAULT_TIMEOUT if timeout is None else timeout)
    except Exception:  # noqa: BLE001
        logger.warning("cache set_many failed; values not cached", exc_info=True)


def versions(namespaces: Iterable[str]) -> dict[str, str]:
    """Current version of each namespace (one round trip). Missing versions are created."""
    namespaces = list(namespaces)
    found = safe_get_many(_version_key(ns) for ns in namespaces)
    result = {}
    for ns in namespaces:
        value = found.get(_version_key(ns))
        if value is None:
            value = _new_version()
            try:
                cache.add(_version_key(ns), value, VERSION_TIMEOUT)
            except Exception:  # noqa: BLE001
                logger.warning("cache add failed", exc_info=True)
        result[ns] = str(value)
    return result


# A version says how it came to be: created because none existed (by a reader or a writer of a
# value), or set by a bump because the data changed. See set_checked.
CREATED, BUMPED = "c", "b"


def _new_version(kind: str = CREATED) -> str:
    # Time plus randomness: a version recreated after expiry never equals an earlier one, even
    # across servers whose clocks disagree.
    return f"{kind}{time.time_ns():x}{secrets.token_hex(3)}"


def bump(*namespaces: str) -> None:
    """Invalidate every key built on these namespaces, now (and tell every process: see the module)."""
    fresh = {ns: _new_version(BUMPED) for ns in namespaces}
    written = _write_versions(fresh, only_new=False)
    if written is None:
        logger.warning("cache version bump failed for %s", namespaces)
        local_clear()  # this process must not keep serving what it holds; the others' threads lose Redis too
        return
    _local_learn(fresh, written[0])


def bump_on_commit(*namespaces: str) -> None:
    """Invalidate after the current transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: bump(*namespaces))


def get_checked(key: str, namespaces: Iterable[str], *, local: bool = False,
                copies: bool = False) -> tuple[Any, dict[str, str | None]]:
    """In ONE round trip: the value stored under ``key`` by :func:`set_checked` if the
    namespaces still have the versions it was stored with (else None), and those versions
    (None for a namespace that has no version yet; nothing is written on a miss).

    The key itself carries no version, so a hit costs a single ``get_many`` (not one round trip
    for the versions and another for the value). With ``local`` (and the layer on), a hit the
    process holds costs none, and a miss of the value with known versions a single ``get``. With
    ``copies`` too, the process holds the value pickled and each hit gets its own copy, as a read
    from Redis does (for values a reader may change: a dict, a list).
    """
    if local and _local_ready():
        return _get_checked_local(key, sorted(set(namespaces)), copies=copies)
    value, seen, _sequence = _get_checked_remote(key, sorted(set(namespaces)))
    return value, seen


def _get_checked_remote(key: str, names: list[str], *,
                        numbered: bool = False) -> tuple[Any, dict[str, str | None], int]:
    """The value and the versions, and with ``numbered`` the sequence's number read with them (0 when
    there is none): every version published with a number up to it is in what was read."""
    version_keys = [_version_key(ns) for ns in names]
    found = safe_get_many([key, *version_keys, *([_SEQUENCE_KEY] if numbered else [])])
    sequence = found.get(_SEQUENCE_KEY) if numbered else 0
    sequence = sequence if isinstance(sequence, int) else 0
    current = {ns: found.get(vk) for ns, vk in zip(names, version_keys, strict=True)}
    if any(value is None for value in current.values()):
        return None, current, sequence
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == tuple(current[ns] for ns in names):
        return entry[1], current, sequence
    return None, current, sequence


def set_checked(key: str, value: Any, versions_seen: dict[str, str | None], timeout: int | None = None, *,
                local: bool = False, copies: bool = False) -> None:
    """Store ``value`` tagged with the namespace versions read before it was computed.

    A namespace that had no version then gets one now. If another process created one meanwhile,
    that one is used when it was merely created (by another reader); when it was set by a bump,
    the data changed while ``value`` was computed, so nothing is stored."""
    seen = dict(versions_seen)
    fresh = {ns: _new_version(CREATED) for ns in sorted(ns for ns, version in seen.items() if version is None)}
    if fresh:
        # with ``local``, every process learns the ones made here (a first version, or one that expired)
        written = _write_versions(fresh, only_new=True, publish=local)
        if written is None:
            logger.warning("cache versions not created for %s", list(fresh))
            return
        sequence, made = written
        if local:
            _local_learn({ns: fresh[ns] for ns in made}, sequence)
        for ns, version in fresh.items():
            if ns not in made:
                version = safe_get(_version_key(ns))
                if not (isinstance(version, str) and version.startswith(CREATED)):
                    return
            seen[ns] = version
    tag = tuple(str(seen[ns]) for ns in sorted(seen))
    safe_set(key, (tag, value), timeout)
    if local and _local_ready():
        _local_keep(key, sorted(seen), tag, value, copies=copies)


def cached_in(namespace: str, key: str, producer: Callable[[], Any], timeout: int | None = None) -> Any:
    """``producer()`` cached under ``key`` until ``namespace`` is bumped (one round trip on a hit).
    For small tables read on every request (shipping methods, tax rates, plans, live promotions):
    held in the process too (the local layer, each reader getting its own copy), so while the
    process's subscription to bumps is alive a hit costs no round trip at all."""
    value, seen = get_checked(key, [namespace], local=True, copies=True)
    if value is None:
        value = producer()
        set_checked(key, value, seen, timeout, local=True, copies=True)
    return value


def bump_now_and_on_commit(*namespaces: str) -> None:
    """Invalidate now (this process sees the change at once) and again after commit (so no
    concurrent reader keeps what it read before the commit)."""
    bump(*namespaces)
    bump_on_commit(*namespaces)


# --- the in-process layer (see the module) ----------------------------------------------------

_ALIVE_SECONDS = 3.0  # the subscription must have shown it is alive this recently to be trusted
_PING_SECONDS = 1.0


class _Local:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: dict[str, str] = {}
        self.sequences: dict[str, int] = {}  # the number each version was published with (see _WRITE_VERSIONS)
        self.generation = 0  # moves on every message and every clear
        self.entries: OrderedDict[str, tuple[tuple, Any, int]] = OrderedDict()  # key -> (tag, value, size)
        self.size = 0
        self.alive_until = 0.0
        self.pid: int | None = None


_local = _Local()
_start_lock = threading.Lock()


def _local_limit() -> int:
    return int(getattr(settings, "CACHE_LOCAL_MB", 0) * 1024 * 1024)


def _redis_url() -> str | None:
    config = settings.CACHES.get("default", {})
    if "django_redis" not in config.get("BACKEND", ""):
        return None
    location = config.get("LOCATION")
    return location[0] if isinstance(location, list | tuple) else location


def _channel() -> str:
    # Pub/sub channels are shared by every database of a Redis server: the name carries the cache's
    # location (its database number included) and key prefix, so two shops, or two test runs, on
    # one server never hear each other's bumps.
    where = f"{_redis_url()}|{settings.CACHES['default'].get('KEY_PREFIX', '')}"
    return f"cache-bumps:{hashlib.blake2b(where.encode(), digest_size=8).hexdigest()}"


def _local_ready() -> bool:
    """Whether this process may answer from its own layer now (starting its listener if needed)."""
    if _local_limit() <= 0 or _redis_url() is None:
        return False
    if _local.pid != os.getpid():  # a new process (or a fork): its own map, its own listener
        with _start_lock:  # one listener per process, whatever its request threads (gthread) do
            if _local.pid != os.getpid():
                local_clear()
                _local.pid = os.getpid()  # before the listener starts: it runs while this holds
                # redis is imported here, before the thread starts: a thread importing it while this
                # one still is (a first request) can get a half-initialised module and die with it
                import redis  # noqa: F401
                threading.Thread(target=_listen, name="cache-bumps", daemon=True, args=(os.getpid(),)).start()
        return False
    return time.monotonic() < _local.alive_until


def local_clear() -> None:
    """Forget every version and entry this process holds (tests; a lost subscription)."""
    with _local.lock:
        _local.versions.clear()
        _local.sequences.clear()
        _local.entries.clear()
        _local.size = 0
        _local.generation += 1


_FORGET_ALL = "forget-all"  # a message on the channel with no versions: every process empties its layer


def local_clear_everywhere() -> bool:
    """Every web process forgets what it holds of the cache (its versions and entries), as soon as
    its listener hears this; this process at once. For whoever empties the cache behind the
    processes' backs (deleting keys in Redis), as the benchmark does to time page-cache misses.
    False when the message could not be sent (the others keep their copies)."""
    local_clear()
    if _redis_url() is None:
        return True
    try:
        cache.client.get_client(write=True).publish(_channel(), _FORGET_ALL)
    except Exception:  # noqa: BLE001
        logger.warning("could not tell the other processes to forget their cache copies", exc_info=True)
        return False
    return True


# Writing versions and telling every process, in one step on Redis. A script (atomic there) sets the
# versions, takes the next number of a sequence and publishes the versions with it, so the messages
# leave in the order the versions were written, and every map applies a version only if its number is
# higher than the one it holds for that namespace. Without the numbers, a process learning its own
# version (after the script answered) could go back past a newer one another process wrote meanwhile,
# whose message it had already heard; it would then keep and serve values stored under its older
# version. The sequence starts from Redis's clock (in microseconds) whenever its key is missing (a new
# or emptied Redis, expired after VERSION_TIMEOUT unused, or evicted), so it never goes back either
# (short of a million versions a second).
_SEQUENCE_KEY = "cache-version-sequence"
_WRITE_VERSIONS = r"""
local made = {}
local lines = {}
for i = 2, #KEYS do
  local ok
  if ARGV[3] == '1' then
    ok = redis.call('SET', KEYS[i], ARGV[2 + 2 * (i - 1)], 'EX', ARGV[1], 'NX')
  else
    ok = redis.call('SET', KEYS[i], ARGV[2 + 2 * (i - 1)], 'EX', ARGV[1])
  end
  if ok then
    table.insert(made, i - 1)
    table.insert(lines, ARGV[3 + 2 * (i - 1)])
  end
end
if #made == 0 then
  return {0, made}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[1], now[1] .. string.rep('0', 6 - #now[2]) .. now[2])
end
local sequence = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], '#' .. string.format('%d', sequence) .. '\n' .. table.concat(lines, '\n'))
return {sequence, made}
"""


def _write_versions(versions: dict[str, str], *, only_new: bool,
                    publish: bool = True) -> tuple[int, set[str]] | None:
    """Write these versions (with ``only_new``, only where a namespace has none) and publish the ones
    written, with their sequence number. Returns that number (0 without Redis, or not published:
    nobody told) and the namespaces written; None when the cache could not be written."""
    names = list(versions)
    if _redis_url() is None or not publish:
        try:
            if not only_new:
                cache.set_many({_version_key(ns): versions[ns] for ns in names}, VERSION_TIMEOUT)
                return 0, set(names)
            return 0, {ns for ns in names if cache.add(_version_key(ns), versions[ns], VERSION_TIMEOUT)}
        except Exception:  # noqa: BLE001
            logger.warning("cache versions not written", exc_info=True)
            return None
    client = cache.client
    arguments: list[Any] = [VERSION_TIMEOUT, _channel(), "1" if only_new else "0"]
    for ns in names:
        arguments += [client.encode(versions[ns], allow_int=False), _encode({ns: versions[ns]})]
    keys = [client.make_key(_SEQUENCE_KEY), *(client.make_key(_version_key(ns)) for ns in names)]
    try:
        redis_client = client.get_client(write=True)  # the script is sent once, then run by its digest
        sequence, written = redis_client.register_script(_WRITE_VERSIONS)(keys=keys, args=arguments)
    except Exception:  # noqa: BLE001
        logger.warning("cache versions not written or not published", exc_info=True)
        return None
    return int(sequence), {names[int(i) - 1] for i in written}


def _encode(versions: dict[str, str], sequence: int | None = None) -> str:
    lines = [f"{ns}\t{version}" for ns, version in versions.items()]
    return "\n".join(lines if sequence is None else [f"#{sequence}", *lines])


def _decode(data: Any) -> tuple[int | None, dict[str, str]]:
    """The sequence number (None when the message has none) and the versions of a message."""
    text = data.decode() if isinstance(data, bytes) else str(data)
    first, _newline, _rest = text.partition("\n")
    sequence = int(first[1:]) if first.startswith("#") and first[1:].isdigit() else None
    return sequence, dict(line.split("\t", 1) for line in text.split("\n") if "\t" in line)


def _apply(versions: dict[str, str], sequence: int | None) -> None:
    """Under the lock: take each version whose number is higher than the one held for its namespace
    (a message without a number is taken as it comes)."""
    for ns, version in versions.items():
        if sequence is None:
            _local.versions[ns] = version
        elif sequence > _local.sequences.get(ns, 0):
            _local.versions[ns] = version
            _local.sequences[ns] = sequence
    _local.generation += 1


def _local_learn(versions: dict[str, str], sequence: int) -> None:
    """This process's own versions, written and published with ``sequence``: its map follows at once
    (the others learn from the channel; this one's thread, hearing the same number, does nothing).
    Without Redis (``sequence`` 0) there is no layer and nothing to learn."""
    if versions and sequence:
        with _local.lock:
            _apply(versions, sequence)


def _listen(pid: int) -> None:
    """The thread of one process: keep the map up to date from the channel, forever (reconnecting)."""
    while _local.pid == pid:
        pubsub = None
        try:
            import redis

            client = redis.Redis.from_url(_redis_url(), socket_connect_timeout=1, socket_timeout=_ALIVE_SECONDS)
            pubsub = client.pubsub()
            pubsub.subscribe(_channel())
            last_ping = 0.0
            while _local.pid == pid:
                message = pubsub.get_message(timeout=_PING_SECONDS)
                now = time.monotonic()
                if message is not None:
                    kind = message.get("type")
                    if kind == "message":
                        data = message.get("data", b"")
                        if data in (_FORGET_ALL, _FORGET_ALL.encode()):
                            local_clear()
                        else:
                            sequence, changed = _decode(data)
                            with _local.lock:
                                _apply(changed, sequence)
                    if kind in ("message", "subscribe", "pong"):
                        _local.alive_until = now + _ALIVE_SECONDS
                if now - last_ping >= _PING_SECONDS:
                    pubsub.ping()
                    last_ping = now
        except Exception:  # noqa: BLE001 - whatever went wrong, the map is no longer trustworthy
            _local.alive_until = 0.0
            local_clear()
            logger.warning("cache bump listener lost its subscription; reconnecting", exc_info=True)
            time.sleep(1.0)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    pubsub.close()


class _Pickled:
    """A value the process holds as its pickle, so that every hit unpickles a copy of its own."""

    __slots__ = ("data",)

    def __init__(self, value: Any) -> None:
        self.data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def value(self) -> Any:
        return pickle.loads(self.data)  # noqa: S301 - this process pickled it, from what it stored itself


def _size(value: Any) -> int:
    """About how much memory a stored page takes (its body: text, or the pieces core.pagecache keeps)."""
    if isinstance(value, _Pickled):
        return len(value.data)
    body = value[2] if isinstance(value, tuple) and len(value) > 2 else None
    if isinstance(body, str | bytes):
        return len(body)
    if isinstance(body, tuple):
        return sum(len(piece) if isinstance(piece, bytes) else 8 for piece in body)
    return 1024


def _local_keep(key: str, names: list[str], tag: tuple, value: Any, *, copies: bool = False) -> None:
    """Hold ``value`` (tagged with the versions it was stored under) if they are the ones the map has;
    pickled with ``copies``."""
    if copies:
        try:
            value = _Pickled(value)
        except Exception:  # noqa: BLE001 - what cannot be pickled is not held (Redis refused it too)
            return
    size = _size(value)
    limit = _local_limit()
    if size > limit // 8:
        return
    with _local.lock:
        if tuple(_local.versions.get(ns) for ns in names) != tag:
            return
        old = _local.entries.pop(key, None)
        if old is not None:
            _local.size -= old[2]
        _local.entries[key] = (tag, value, size)
        _local.size += size
        while _local.size > limit and _local.entries:
            _key, (_tag, _value, dropped) = _local.entries.popitem(last=False)
            _local.size -= dropped


def _get_checked_local(key: str, names: list[str], *, copies: bool = False) -> tuple[Any, dict[str, str | None]]:
    with _local.lock:
        current = [_local.versions.get(ns) for ns in names]
        generation = _local.generation
        entry = _local.entries.get(key) if all(current) else None
        if entry is not None and entry[0] == tuple(current):
            _local.entries.move_to_end(key)
            held = entry[1]
        else:
            held = _MISSING
    if held is not _MISSING:  # unpickled outside the lock
        return (held.value() if isinstance(held, _Pickled) else held), dict(zip(names, current, strict=True))
    if all(current):  # the versions are known: only the value is fetched
        found = safe_get(key)
        seen = dict(zip(names, current, strict=True))
        if isinstance(found, tuple) and len(found) == 2 and found[0] == tuple(current):
            _local_keep(key, names, found[0], found[1], copies=copies)
            return found[1], seen
        return None, seen
    value, seen, sequence = _get_checked_remote(key, names, numbered=True)
    if all(seen.values()):
        with _local.lock:
            if _local.generation == generation:  # nothing changed while Redis was read
                # numbered as read (what Redis held then is at least as new as any version published
                # up to that number): a message sent before the read and heard after it changes nothing
                for ns in names:
                    if sequence >= _local.sequences.get(ns, 0):
                        _local.versions[ns] = seen[ns]  # type: ignore[assignment]
                        _local.sequences[ns] = sequence
    if value is not None:
        _local_keep(key, names, tuple(str(seen[ns]) for ns in names), value, copies=copies)
    return value, seen
