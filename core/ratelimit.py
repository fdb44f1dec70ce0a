"""Rate limits for actions worth abusing: placing orders, joining a membership or changing its card,
checking voucher codes, asking for password-reset e-mails. Pages and API count on the same
counters (the API's :class:`core.api.ScopedRateLimit` calls :func:`hit` too).

A *scope* names the action and its rate (``settings.RATE_LIMITS``, e.g. ``"place_order": "20/min"``);
a *key* names who is counted: the signed-in user, else the client's address (see
:func:`caller_key`), or anything else the caller chooses (an e-mail address, hashed here).

Each (scope, key) has a counter in the cache for the current window of the rate's period. When
the cache cannot be reached the limiter *fails open*: it lets every request through (and logs),
so a Redis outage never blocks every shopper nor turns into an error page.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from core.cache import digest

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}
_RATE = re.compile(r"^(?P<count>\d+)/(?P<n>\d*)(?P<unit>s|sec|second|m|min|minute|h|hour|d|day)s?$")


@dataclass(frozen=True)
class Rate:
    count: int  # requests allowed per period
    period: int  # seconds


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the window ends (when refused)


ALLOWED = Verdict(allowed=True)


def parse_rate(text: str | None) -> Rate | None:
    """``"20/min"``, ``"5/hour"``, ``"100/day"``, ``"3/15min"`` (3 per 15 minutes); ``""`` or
    ``"off"``: no limit (None). Anything else is a configuration error."""
    text = (text or "").strip().lower().replace(" ", "")
    if text in ("", "off", "none"):
        return None
    match = _RATE.match(text)
    if match is None:
        raise ImproperlyConfigured(f"Not a rate: {text!r} (use e.g. 20/min, 5/hour, 3/15min, or off)")
    period = int(match["n"] or 1) * _UNITS[match["unit"][0]]
    if period <= 0:
        raise ImproperlyConfigured(f"Not a rate: {text!r} (the period must be above zero)")
    return Rate(count=int(match["count"]), period=period)


def rate_for(scope: str) -> Rate | None:
    """The configured rate of ``scope`` (read on every call, so settings changes apply at once)."""
    rates = getattr(settings, "RATE_LIMITS", {})
    if scope not in rates:
        raise ImproperlyConfigured(f"No rate for the scope {scope!r}: add it to settings.RATE_LIMITS")
    return parse_rate(rates[scope])


def check_rates(scopes: Iterable[str] | None = None) -> list[str]:
    """Problems with the configured rates (for the system check); empty when all parse."""
    problems = []
    for scope in scopes if scopes is not None else getattr(settings, "RATE_LIMITS", {}):
        try:
            rate_for(scope)
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return problems


def hit(scope: str, key: str | None, *, now: float | None = None) -> Verdict:
    """Count one request of ``key`` in ``scope`` and say whether it is within the rate.

    A fixed window per period: at most ``rate.count`` requests are allowed in each. An empty key
    or a scope turned off is never limited; a cache that fails lets the request through.
    """
    rate = rate_for(scope)
    if rate is None or not key:
        return ALLOWED
    now = time.time() if now is None else now
    window = int(now // rate.period)
    counter = f"rl:{scope}:{digest(key)}:{window}"
    try:
        count = _count(counter, rate.period + 1)
    except ValueError:  # the counter expired between add() and incr(): a new window has begun
        return ALLOWED
    except Exception:  # noqa: BLE001 - any cache failure lets the request through (fail open)
        logger.warning("rate limit %s not counted: cache unavailable", scope, exc_info=True)
        return ALLOWED
    if not isinstance(count, int) or count <= rate.count:
        return ALLOWED
    return Verdict(allowed=False, retry_after=max(1, int((window + 1) * rate.period - now)))


def _count(counter: str, ttl: int) -> int | None:
    """This request's number in the counter's window (None: not counted). On Redis one round trip
    (the API counts every request): the counter is created with its time to live if it is new, then
    incremented. On another cache (development without Redis) add(), then incr() if it existed."""
    redis_cache = getattr(cache, "client", None)  # django-redis's client
    if hasattr(redis_cache, "get_client"):
        key = redis_cache.make_key(counter)
        pipe = redis_cache.get_client(write=True).pipeline(transaction=False)
        pipe.set(key, 0, ex=ttl, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]
    added = cache.add(counter, 1, ttl)
    if added is None:  # a cache that ignored a connection error
        return None
    return 1 if added else cache.incr(counter)


# --- who is counted ------------------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """The client's address as the sign-in lockout sees it (``settings.CLIENT_IP_CALLABLE``:
    ``REMOTE_ADDR``, or the address the outermost trusted proxy saw)."""
    path = getattr(settings, "CLIENT_IP_CALLABLE", "")
    address = import_string(path)(request) if path else request.META.get("REMOTE_ADDR")
    return address or "unknown"


def caller_key(request: HttpRequest) -> str:
    """The signed-in user, else the client's address."""
    user = getattr(request, "user", None)
    if getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return f"ip:{client_address(request)}"


def client_key(request: HttpRequest) -> str:
    """The client's address, signed in or not."""
    return f"ip:{client_address(request)}"


# --- pages ---------------------------------------------------------------------------------

LimitedHandler = Callable[[HttpRequest, Verdict], HttpResponse]


def too_many_requests(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    """The default answer of a page over its rate: a page that says so, status 429, Retry-After."""
    response = render(
        request, "core/rate_limited.html",
        {"retry_after": verdict.retry_after, "retry_minutes": max(1, -(-verdict.retry_after // 60))},
        status=429,
    )
    response["Retry-After"] = str(verdict.retry_after)
    return response


def too_many_requests_json(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    """The same for a page's script (JSON in the API's error shape)."""
    response = JsonResponse(
        {"error": {"code": "throttled", "fields": {},
                   "message": str(_("Too many attempts. Please wait %(seconds)s seconds and try again.")
                                  % {"seconds": verdict.retry_after})}},
        status=429,
    )
    response["Retry-After"] = str(verdict.retry_after)
    return response


def rate_limited(
    scope: str,
    *,
    key: Callable[[HttpRequest], str | None] = caller_key,
    methods: Iterable[str] = ("POST",),
    on_limited: LimitedHandler | None = None,
):
    """Decorate a page view: its ``methods`` requests count in ``scope`` for ``key(request)``;
    one over the rate is answered by ``on_limited`` (default :func:`too_many_requests`) and the
    view does not run."""
    methods = {m.upper() for m in methods}
    rate_for(scope)  # an unknown scope fails at import, not at the first request

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if request.method in methods:
                verdict = hit(scope, key(request))
                if not verdict.allowed:
                    return (on_limited or too_many_requests)(request, verdict)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
