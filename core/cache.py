"""Cache helpers: versioned keys, invalidation on commit, and errors that degrade to a miss.

A *namespace* (``"product:blue-kettle"``, ``"listing"``) has a version number kept in the cache.
Keys built from it include that version, so bumping the version invalidates every key of the
namespace at once without deleting anything (old entries simply expire).

Every call here swallows cache errors (logged): when Redis is down, callers see a miss and
read the database instead (DESIGN invariant 6).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

_MISSING = object()
VERSION_TIMEOUT = None  # versions never expire on their own


def _version_key(namespace: str) -> str:
    return f"ver:{namespace}"


def _digest(part: str) -> str:
    if len(part) <= 80 and part.isascii() and " " not in part:
        return part
    return hashlib.blake2b(part.encode(), digest_size=12).hexdigest()


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
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("cache set failed; value not cached", exc_info=True)


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


def _new_version() -> str:
    return f"{time.time_ns():x}"


def versioned_key(prefix: str, namespaces: Iterable[str], *parts: str) -> str:
    """A key that changes whenever any of ``namespaces`` is bumped."""
    vers = versions(namespaces)
    version_part = ".".join(vers[ns] for ns in sorted(vers))
    return ":".join([prefix, _digest(version_part), *(_digest(p) for p in parts)])


def bump(*namespaces: str) -> None:
    """Invalidate every key built on these namespaces, now."""
    try:
        cache.set_many({_version_key(ns): _new_version() for ns in namespaces}, VERSION_TIMEOUT)
    except Exception:  # noqa: BLE001
        logger.warning("cache version bump failed for %s", namespaces, exc_info=True)


def bump_on_commit(*namespaces: str) -> None:
    """Invalidate after the current transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: bump(*namespaces))


def get_or_set(key: str, producer: Callable[[], Any], timeout: int | None = None) -> Any:
    value = safe_get(key, _MISSING)
    if value is _MISSING:
        value = producer()
        safe_set(key, value, timeout)
    return value
