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
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

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
    """Invalidate every key built on these namespaces, now."""
    try:
        cache.set_many({_version_key(ns): _new_version(BUMPED) for ns in namespaces}, VERSION_TIMEOUT)
    except Exception:  # noqa: BLE001
        logger.warning("cache version bump failed for %s", namespaces, exc_info=True)


def bump_on_commit(*namespaces: str) -> None:
    """Invalidate after the current transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: bump(*namespaces))


def get_checked(key: str, namespaces: Iterable[str]) -> tuple[Any, dict[str, str | None]]:
    """In ONE round trip: the value stored under ``key`` by :func:`set_checked` if the
    namespaces still have the versions it was stored with (else None), and those versions
    (None for a namespace that has no version yet; nothing is written on a miss).

    The key itself carries no version, so a hit costs a single ``get_many`` (not one round trip
    for the versions and another for the value).
    """
    names = sorted(set(namespaces))
    version_keys = [_version_key(ns) for ns in names]
    found = safe_get_many([key, *version_keys])
    current = {ns: found.get(vk) for ns, vk in zip(names, version_keys, strict=True)}
    if any(value is None for value in current.values()):
        return None, current
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == tuple(current[ns] for ns in names):
        return entry[1], current
    return None, current


def set_checked(key: str, value: Any, versions_seen: dict[str, str | None], timeout: int | None = None) -> None:
    """Store ``value`` tagged with the namespace versions read before it was computed.

    A namespace that had no version then gets one now. If another process created one meanwhile,
    that one is used when it was merely created (by another reader); when it was set by a bump,
    the data changed while ``value`` was computed, so nothing is stored."""
    seen = dict(versions_seen)
    for ns in sorted(ns for ns, version in seen.items() if version is None):
        version = _new_version(CREATED)
        try:
            created = cache.add(_version_key(ns), version, VERSION_TIMEOUT)
        except Exception:  # noqa: BLE001
            logger.warning("cache add failed", exc_info=True)
            return
        if not created:
            version = safe_get(_version_key(ns))
            if not (isinstance(version, str) and version.startswith(CREATED)):
                return
        seen[ns] = version
    tag = tuple(str(seen[ns]) for ns in sorted(seen))
    safe_set(key, (tag, value), timeout)


def cached_in(namespace: str, key: str, producer: Callable[[], Any], timeout: int | None = None) -> Any:
    """``producer()`` cached under ``key`` until ``namespace`` is bumped (one round trip on a hit).
    For small tables read on every request (shipping methods, tax rates, plans)."""
    value, seen = get_checked(key, [namespace])
    if value is None:
        value = producer()
        set_checked(key, value, seen, timeout)
    return value


def bump_now_and_on_commit(*namespaces: str) -> None:
    """Invalidate now (this process sees the change at once) and again after commit (so no
    concurrent reader keeps what it read before the commit)."""
    bump(*namespaces)
    bump_on_commit(*namespaces)
