"""Request-level middleware: forwarded headers only from trusted proxies, the request id, and the
visitor id (insights, at the end of this file)."""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid

from csp import constants as csp_constants
from csp import middleware as csp_middleware
from csp import utils as csp_utils
from django.conf import settings
from django.core.signals import setting_changed

from core import analytics
from core.logging import request_id_var

_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Headers a reverse proxy sets to tell the app about the original request. Coming straight from a
# client they are lies: the client's own address (X-Forwarded-For, X-Real-IP), HTTPS when it is
# plain HTTP (X-Forwarded-Proto, read by SECURE_PROXY_SSL_HEADER), another host or port.
FORWARDED_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_PROTOCOL",
    "HTTP_X_FORWARDED_SSL",
    "HTTP_X_FORWARDED_SCHEME",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_SERVER",
    "HTTP_X_REAL_IP",
    "HTTP_X_CLIENT_IP",
)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_trusted_proxy(address: str | None) -> bool:
    """Whether ``address`` (a ``REMOTE_ADDR``) is one of ``settings.TRUSTED_PROXIES``."""
    entries = tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ())
    if not address or not entries:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:10.0.0.5 from a dual-stack socket
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(entries))


class TrustedProxyMiddleware:
    """Drop the forwarded headers of a request that does not come from a trusted proxy.

    First in ``MIDDLEWARE``: everything after it reads ``request.META`` as the proxy (or, without
    one, the socket) told it, so ``request.is_secure()`` and the sign-in lockout's client address
    cannot be chosen by the client."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if not is_trusted_proxy(meta.get("REMOTE_ADDR")):
            for name in FORWARDED_HEADERS:
                meta.pop(name, None)
        return self.get_response(request)


class RequestIdMiddleware:
    """Request id: taken from X-Request-ID when a proxy sets one, else made; echoed back and logged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


# --- Insights: the visitor id (core.analytics) ---------------------------------------------------


class VisitorMiddleware:
    """``request.visitor_id``: the first-party ``bz_vid`` cookie (a uuid4 hex, two years, SameSite=Lax,
    HttpOnly: only the server reads it, the beacon included), made and set when missing.

    With ``INSIGHTS_CONSENT_REQUIRED`` no cookie is set and the id is ``""`` until the visitor
    accepted (``bz_consent=yes``); a visitor who declined (``bz_consent=no``) loses the cookie in
    either mode. Health checks get neither. One cookie read per request and no I/O, so pages
    served from the page cache stay cheap (the page cache never stores cookies: each response gets
    its own). After the session and authentication middleware in ``MIDDLEWARE``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cookie = request.COOKIES.get(analytics.VISITOR_COOKIE, "")
        allowed = analytics.tracking_allowed(request)
        new = ""
        if not allowed or analytics.excluded_path(request.path):
            request.visitor_id = cookie if allowed and analytics.VISITOR_ID_RE.match(cookie) else ""
        elif analytics.VISITOR_ID_RE.match(cookie):
            request.visitor_id = cookie
        else:
            request.visitor_id = new = analytics.new_visitor_id()
        response = self.get_response(request)
        if new and analytics.VISITOR_COOKIE not in response.cookies:
            response.set_cookie(
                analytics.VISITOR_COOKIE, new, max_age=analytics.VISITOR_COOKIE_MAX_AGE, samesite="Lax",
                httponly=True, secure=settings.SESSION_COOKIE_SECURE,
            )
        elif not allowed and cookie and analytics.VISITOR_COOKIE not in response.cookies:
            response.delete_cookie(analytics.VISITOR_COOKIE, samesite="Lax")
        return response


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware, with the policy built once instead of per response.

    Bazaar's policy is the same for every response that neither changes it (``csp_update`` and
    friends) nor asks for a nonce (pages are cached whole, so none does): the header is built from
    the settings the first time and reused until a setting that shapes it changes (tests). Every
    other response goes through django-csp as it is. Building it was about 5% of a cached page."""

    _built: dict[bool, tuple[str, tuple[str, ...]]] = {}

    @classmethod
    def forget(cls, *, setting: str = "", **_kwargs) -> None:
        if setting.startswith("CONTENT_SECURITY_POLICY"):
            cls._built.clear()

    @classmethod
    def _policy(cls, report_only: bool) -> tuple[str, tuple[str, ...]]:
        """The header's value (empty: no header) and the path prefixes that go without it."""
        built = cls._built.get(report_only)
        if built is None:
            name = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
            prefixes = tuple((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ())
            built = cls._built[report_only] = (csp_utils.build_policy(report_only=report_only), prefixes)
        return built

    def process_response(self, request, response):
        shaped = any(getattr(response, name, None) for name in _CSP_PER_RESPONSE)
        debug_page = settings.DEBUG and response.status_code in (500, 404)
        if shaped or debug_page or getattr(request, "_csp_nonce", None) is not None:
            return super().process_response(request, response)
        for header, report_only, exempt in ((csp_constants.HEADER, False, "_csp_exempt"),
                                            (csp_constants.HEADER_REPORT_ONLY, True, "_csp_exempt_ro")):
            value, excluded = self._policy(report_only)
            if (value and header not in response and not getattr(response, exempt, False)
                    and not request.path_info.startswith(excluded)):
                response[header] = value
        # As django-csp does: a nonce asked for after the header was written is an error, not a silent gap.
        request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response


_CSP_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro",
                     "_csp_replace_ro")
setting_changed.connect(CSPMiddleware.forget, dispatch_uid="core.middleware.CSPMiddleware.forget")
