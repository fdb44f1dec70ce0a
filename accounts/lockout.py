"""django-axes hooks: one lockout key per e-mail (any letter case) and the lockout responses.

Axes calls these from its backend and middleware (see the AXES_* settings).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.exceptions import cooloff_minutes, lockout_message
from core.api import error_body
from core.middleware import is_trusted_proxy

API_PREFIX = "/api/"


def client_ip(request: HttpRequest) -> str | None:
    """The address failures are counted for. Behind ``TRUSTED_PROXY_COUNT`` reverse proxies (each
    appending to ``X-Forwarded-For``), the address the outermost trusted proxy saw: counted from
    the right, so a client cannot choose it by sending its own header. The header is read only when
    the request comes from one of ``TRUSTED_PROXIES`` (a client talking to the app directly cannot
    name its own address). Without proxies (0, the default) or with a malformed header,
    ``REMOTE_ADDR``."""
    remote = request.META.get("REMOTE_ADDR") or None
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0 or not is_trusted_proxy(remote):
        return remote
    hops = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def username_from_credentials(request: HttpRequest, credentials: dict | None) -> str | None:
    """The e-mail tried, lower-cased, so ``Ann@x.com`` and ``ann@x.com`` share one failure count."""
    field = settings.AXES_USERNAME_FORM_FIELD
    value = (credentials or {}).get(field)
    if value is None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        value = data.get(field) if hasattr(data, "get") else None
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The API's error shape under /api/, the friendly lockout page everywhere else."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds())) if settings.AXES_COOLOFF_TIME else None
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(error_body("locked_out", lockout_message()), status=status)
    else:
        response = render(
            request,
            settings.AXES_LOCKOUT_TEMPLATE,
            {"cooloff_minutes": cooloff_minutes(), "failure_limit": settings.AXES_FAILURE_LIMIT},
            status=status,
        )
    if retry_after:
        response["Retry-After"] = retry_after
    return response
