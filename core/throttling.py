"""The API's side of :mod:`core.ratelimit` (its own module: ``core.api`` imports DRF's views,
which load the throttle classes named in the settings)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from core import ratelimit


class ScopedRateLimit(BaseThrottle):
    """Opt-in limits for writes worth abusing, on the same counters as the pages
    (:mod:`core.ratelimit`, rates in ``settings.RATE_LIMITS``), per user or else client address.

    A view sets ``throttle_scope = "place_order"`` to count each of its writes (POST, PUT, PATCH,
    DELETE), and/or ``throttle_field_scopes = {"voucher_code": "voucher"}`` to count a write whose
    JSON body has that field non-empty. Reads are never counted here (the anon/user throttles
    cover them). Over the rate: 429 ``throttled`` in the error shape, with ``Retry-After``.
    """

    def __init__(self) -> None:
        self._wait = 0

    def _scopes(self, request, view) -> list[str]:
        scopes = []
        if getattr(view, "throttle_scope", None):
            scopes.append(view.throttle_scope)
        field_scopes = getattr(view, "throttle_field_scopes", None) or {}
        if field_scopes:
            data = request.data  # parsed once; a body that does not parse is the 400 it would be anyway
            for name, scope in field_scopes.items():
                value = data.get(name) if hasattr(data, "get") else None
                if value not in (None, "") and scope not in scopes:
                    scopes.append(scope)
        return scopes

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        key = ratelimit.caller_key(request)
        for scope in self._scopes(request, view):
            verdict = ratelimit.hit(scope, key)
            if not verdict.allowed:
                self._wait = max(self._wait, verdict.retry_after)
        return not self._wait

    def wait(self) -> float | None:
        return self._wait or None


class ApiRateLimit(BaseThrottle):
    """Every API request counts against its caller's rate: ``api_user`` per signed-in user,
    ``api_anon`` per client address (rates in ``settings.RATE_LIMITS``). One counter per window,
    one cache round trip per request (DRF's own throttles keep and rewrite the timestamp of every
    request of the last period on each request: a busy caller's list grows with its rate)."""

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request, view) -> bool:
        user = getattr(request, "user", None)
        scope = "api_user" if getattr(user, "is_authenticated", False) else "api_anon"
        verdict = ratelimit.hit(scope, ratelimit.caller_key(request))
        self._wait = verdict.retry_after
        return verdict.allowed

    def wait(self) -> float | None:
        return self._wait or None
