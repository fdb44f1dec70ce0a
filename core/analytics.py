"""Recording shopper events: ``track()`` appends one record to a buffer and returns at once.

Any app, in any layer, may call it (a page, a service, a task): it never raises into its caller
and never waits on anything slow. What a record holds (``make_record``) is the contract between
the producers and the event store in ``insights`` (``insights.services.events_insert``), which
validates it again before anything is written.

Where a record goes
-------------------
* **Redis configured** (django-redis cache, the services and production modes): one ``RPUSH`` of
  the JSON records to a list (``buffer_key()``, under the cache's key prefix), one command however
  many records a call carries. ``insights.services.events_flush`` drains the list into the
  partitioned event table every few seconds (beat), at least once, deduplicated by event id.
* **No Redis** (the embedded default, local-memory cache) **or Redis failing**: the records are
  handed to the sink ``settings.ANALYTICS_DIRECT_SINK`` names (a dotted path, by default
  ``insights.services.events_insert``), which writes them to the event table at once, inside a
  savepoint so that a failure never breaks the caller's transaction.

Why a dotted path in settings and not a table of core's own, or raw SQL into insights' table:
core sits below insights and cannot import it, and the project has no module-global registries.
Settings are the composition point (``PERSONAL_PARTS_CONTEXT`` is read the same way by
``core.pagecache``), so core learns *which* function writes events from configuration, and the one
function that validates and inserts buffered records also writes direct ones: a single definition
of an event row, no second table to drain, no SQL in core that has to follow insights' columns.
The trade-off: without Redis each call costs one INSERT (fine for the embedded mode; during a Redis
outage pages pay it too, rather than losing events). After a Redis error the buffer is bypassed for
``ANALYTICS_REDIS_RETRY_SECONDS`` so that a dead Redis costs one timeout per process, not one per
event. A record is lost only when both Redis and the database fail (logged).

A call made inside a transaction that later rolls back keeps its record when it went to Redis but
loses it when it went to the database (savepoint of the caller's transaction): analytics describe
what a visitor did, so callers record them from views, or after the commit.

Exclusions
----------
Known crawlers (``BOT_PATTERN``, a compact list of tokens; headless Chrome is *not* one: the shop's
own browser tests drive it and must be counted) are dropped unless ``INSIGHTS_KEEP_BOT_EVENTS``
(then they are stored with ``is_bot``); health checks (``ANALYTICS_EXCLUDED_PATHS``) are never
tracked. With ``INSIGHTS_CONSENT_REQUIRED`` a visitor is tracked only after accepting (the
``bz_consent`` cookie; ``core.middleware.VisitorMiddleware`` sets ``request.visitor_id`` to ""
until then, and ``track`` records nothing without a visitor or a user).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

VISITOR_COOKIE = "bz_vid"
CONSENT_COOKIE = "bz_consent"
VISITOR_COOKIE_MAX_AGE = 2 * 365 * 24 * 60 * 60
CONSENT_YES, CONSENT_NO = "yes", "no"
VISITOR_ID_RE = re.compile(r"^[0-9a-f]{32}$")

CHANNELS = ("web", "api")
DEVICES = ("desktop", "mobile", "tablet", "other")
RECORD_VERSION = 1

# Crawler and scripted-client tokens (case-insensitive). "bot" as a word ("Googlebot/2.1",
# "AdsBot-Google", "bingbot"); not "HeadlessChrome", which our own browser tests use.
BOT_PATTERN = re.compile(
    r"bot\b|crawl|spider|slurp|mediapartners|facebookexternalhit|bingpreview|embedly|preview|lighthouse"
    r"|pagespeed|pingdom|uptime|monitor|curl/|wget/|python-requests|python-urllib|go-http-client|okhttp"
    r"|java/|httpclient|libwww|scrapy|phantomjs",
    re.IGNORECASE,
)


# --- visitor ids --------------------------------------------------------------------------


def new_visitor_id(now: datetime | None = None) -> str:
    """A new visitor id: 32 hex digits laid out as a UUID version 7 (RFC 9562): the first 48 bits are
    the Unix time in milliseconds, the rest random. So the id itself says when the visitor was first
    seen (:func:`visitor_first_seen`) without another cookie or a lookup: experiments use it for
    their "new visitors" audience, stable for as long as the visitor keeps the cookie."""
    millis = int((now or timezone.now()).timestamp() * 1000) & ((1 << 48) - 1)
    rand = uuid.uuid4().int
    value = (millis << 80) | (0x7 << 76) | ((rand >> 64) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return f"{value:032x}"


def visitor_first_seen(visitor_id: str) -> datetime | None:
    """When a visitor id made by :func:`new_visitor_id` was issued; None for any other id (ids of
    an older format, junk)."""
    if not isinstance(visitor_id, str) or not VISITOR_ID_RE.match(visitor_id) or visitor_id[12] != "7":
        return None
    return datetime.fromtimestamp(int(visitor_id[:12], 16) / 1000, tz=UTC)


# --- what a request says -------------------------------------------------------------------


def is_bot(user_agent: str) -> bool:
    """Whether ``user_agent`` is a known crawler or script (an empty one is not: server events)."""
    return bool(user_agent) and BOT_PATTERN.search(user_agent) is not None


def device_of(user_agent: str) -> str:
    """``desktop``, ``mobile``, ``tablet`` or ``other``, from a User-Agent (a small parser: the
    tokens browsers have sent for a decade, enough for a KPI split)."""
    ua = (user_agent or "").lower()
    if not ua:
        return "other"
    if "ipad" in ua or "tablet" in ua or "kindle" in ua or "silk/" in ua or ("android" in ua and "mobile" not in ua):
        return "tablet"
    if "mobi" in ua or "iphone" in ua or "ipod" in ua or "android" in ua or "windows phone" in ua:
        return "mobile"
    if "windows" in ua or "macintosh" in ua or "x11" in ua or "linux" in ua or "cros" in ua:
        return "desktop"
    return "other"


def consent_required() -> bool:
    return bool(getattr(settings, "INSIGHTS_CONSENT_REQUIRED", False))


def consent_choice(request) -> str:
    """The visitor's answer to the consent banner: ``"yes"``, ``"no"`` or ``""`` (none yet)."""
    value = request.COOKIES.get(CONSENT_COOKIE, "")
    return value if value in (CONSENT_YES, CONSENT_NO) else ""


def tracking_allowed(request) -> bool:
    """Whether this visitor may be given a visitor id and tracked."""
    if consent_required():
        return consent_choice(request) == CONSENT_YES
    return consent_choice(request) != CONSENT_NO


def consent_banner_pending(request) -> bool:
    """Whether the layout shows the consent banner (consent required, no answer yet)."""
    return consent_required() and request is not None and consent_choice(request) == ""


def excluded_path(path: str) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/")
               for p in getattr(settings, "ANALYTICS_EXCLUDED_PATHS", ("/healthz", "/readyz")))


def request_context(request) -> dict[str, Any]:
    """What ``track`` needs to know about the visitor behind ``request``: ``visitor_id`` (``""``
    without one or without consent), ``user_id``, ``channel`` (``api`` under ``/api/``),
    ``device`` and ``user_agent``; ``excluded`` is true for health checks and crawlers."""
    user = getattr(request, "user", None)
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    path = request.path
    allowed = tracking_allowed(request)
    return {
        "visitor_id": getattr(request, "visitor_id", "") if allowed else "",
        "user_id": user.pk if allowed and getattr(user, "is_authenticated", False) else None,
        "channel": "api" if path.startswith("/api/") else "web",
        "device": device_of(user_agent),
        "user_agent": user_agent,
        "excluded": excluded_path(path) or not allowed,
    }


def track_request(request, name: str, properties: Mapping[str, Any] | None = None) -> bool:
    """``track(name)`` for the visitor behind ``request`` (nothing for health checks, crawlers,
    visitors without consent)."""
    return track_many(request, [(name, properties)]) > 0


def track_many(request, events: Iterable[tuple[str, Mapping[str, Any] | None]]) -> int:
    """Several events of one request in one buffer write; returns how many were recorded."""
    try:
        context = request_context(request)
        if context.pop("excluded"):
            return 0
        records = [make_record(name, properties=properties, **context) for name, properties in events]
        records = [r for r in records if r is not None]
        return _append(records)
    except Exception:  # noqa: BLE001 - analytics never breaks a page
        logger.warning("analytics: events not recorded", exc_info=True)
        return 0


# --- recording -----------------------------------------------------------------------------


def make_record(
    name: str, *, visitor_id: str, user_id: int | None = None, properties: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None, channel: str = "web", device: str = "", user_agent: str = "",
    event_id: uuid.UUID | str | None = None, anonymous: bool = False,
) -> dict[str, Any] | None:
    """The JSON-ready record of one event, or ``None`` when it is not to be recorded (no visitor
    and no user, unless ``anonymous``: a server event such as a guest's order; a crawler, unless
    ``INSIGHTS_KEEP_BOT_EVENTS``)."""
    bot = is_bot(user_agent)
    if bot and not getattr(settings, "INSIGHTS_KEEP_BOT_EVENTS", False):
        return None
    if not visitor_id and user_id is None and not anonymous:
        return None
    occurred_at = occurred_at or timezone.now()
    return {
        "v": RECORD_VERSION,
        "event_id": str(event_id or uuid.uuid4()),
        "name": str(name),
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "visitor_id": str(visitor_id or ""),
        "user_id": int(user_id) if user_id is not None else None,
        "channel": channel if channel in CHANNELS else "web",
        "device": device if device in DEVICES else device_of(user_agent),
        "is_bot": bot,
        "properties": dict(properties or {}),
    }


def track(
    name: str, *, visitor_id: str, user_id: int | None = None, properties: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None, channel: str = "web", device: str = "", user_agent: str = "",
    event_id: uuid.UUID | str | None = None,
) -> bool:
    """Record that ``name`` happened (Segment's spec names: "Product Viewed", "Order Completed"...).
    Returns at once; whether the event was recorded (``False`` for a crawler, an event without
    visitor or user, or when nothing could take it). Never raises."""
    try:
        record = make_record(name, visitor_id=visitor_id, user_id=user_id, properties=properties,
                             occurred_at=occurred_at, channel=channel, device=device, user_agent=user_agent,
                             event_id=event_id)
        return record is not None and _append([record]) == 1
    except Exception:  # noqa: BLE001 - analytics never breaks its caller
        logger.warning("analytics: event %r not recorded", name, exc_info=True)
        return False


# --- the buffer ------------------------------------------------------------------------------


class _Breaker:
    """After a Redis error, the buffer is skipped (records go to the sink) for a few seconds."""

    open_until = 0.0


_breaker = _Breaker()


def buffer_key() -> str:
    """The Redis list of pending records (under the cache's key prefix)."""
    return cache.make_key(getattr(settings, "ANALYTICS_BUFFER_KEY", "analytics:buffer"))


def redis_client():
    """The raw Redis client of the default cache, or ``None`` when the cache is not Redis."""
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _append(records: list[dict[str, Any]]) -> int:
    if not records:
        return 0
    if time.monotonic() >= _breaker.open_until:
        client = None
        try:
            client = redis_client()
            if client is not None:
                client.rpush(buffer_key(), *[json.dumps(r, separators=(",", ":"), default=str) for r in records])
                return len(records)
        except Exception:  # noqa: BLE001 - Redis down: the sink takes the records
            _breaker.open_until = time.monotonic() + getattr(settings, "ANALYTICS_REDIS_RETRY_SECONDS", 5)
            logger.warning("analytics: Redis buffer unavailable, writing events directly", exc_info=True)
    return _write_direct(records)


@functools.cache
def _sink(path: str):
    return import_string(path)


def _write_direct(records: list[dict[str, Any]]) -> int:
    path = getattr(settings, "ANALYTICS_DIRECT_SINK", "")
    if not path:
        logger.warning("analytics: no buffer and no ANALYTICS_DIRECT_SINK: %d events dropped", len(records))
        return 0
    try:
        with transaction.atomic():  # a savepoint inside the caller's transaction: a failure stays here
            _sink(path)(records)
        return len(records)
    except Exception:  # noqa: BLE001 - never raises into the caller
        logger.error("analytics: %d events lost (no buffer, database write failed)", len(records), exc_info=True)
        return 0
