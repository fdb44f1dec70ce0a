"""The browser's analytics beacon and the consent banner's answer.

``POST /insights/e/`` takes a small JSON batch of browser events from ``static/js/insights.js``
(``navigator.sendBeacon``, or ``fetch`` with ``keepalive``): at most ``MAX_EVENTS`` events and
``MAX_BODY_BYTES`` bytes, only the names of ``insights.events.BROWSER_EVENTS``, each with its own
whitelist of properties (unknown ones dropped, strings cut to length, wrong types refused). The
visitor is the one of the ``bz_vid`` cookie, never anything in the body; without consent (when it
is required) the batch is accepted and nothing is recorded.

CSRF: ``sendBeacon`` cannot set a header, and the pages are cached whole, so the beacon carries no
token. It is CSRF-exempt and checks where the request comes from instead: a browser's
``Sec-Fetch-Site`` must be ``same-origin`` (every current browser sends it), else its ``Origin``
must be this site (or one of ``CSRF_TRUSTED_ORIGINS``); a request with neither is refused. What a
forged request could do is append analytics events for the visitor it was sent from, nothing else
(no state of the shop changes), and it is rate limited per client address (``insights_beacon``).
The consent answer (``POST /insights/consent/``) is an ordinary form with Django's CSRF check.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import analytics
from core.ratelimit import client_key, rate_limited, too_many_requests_json
from insights import events

MAX_BODY_BYTES = 16 * 1024
MAX_EVENTS = 20
MAX_LIST_PRODUCTS = 50
_MAX_INT = 2**31 - 1

# property -> (kind, limit): "str" cut to limit characters, "int" from 0 to _MAX_INT, "products" a
# list of {product_id, position} cut to limit entries.
SCHEMAS: dict[str, dict[str, tuple[str, int]]] = {
    events.PRODUCT_LIST_VIEWED: {"list_id": ("str", 64), "category": ("str", 120), "query": ("str", 200),
                                 "products": ("products", MAX_LIST_PRODUCTS)},
    # seller_id: the featured offer's seller (the buy box), for sellers' buy-box share (insights.rollups)
    events.PRODUCT_VIEWED: {"product_id": ("int", 0), "sku": ("str", 64), "category": ("str", 120),
                            "seller_id": ("int", 0)},
    events.PRODUCT_CLICKED: {"product_id": ("int", 0), "list": ("str", 64), "position": ("int", 0),
                             "sku": ("str", 64)},
    events.PRODUCTS_SEARCHED: {"query": ("str", 200), "results": ("int", 0)},
    events.CART_VIEWED: {},
}
REQUIRED = {
    events.PRODUCT_VIEWED: ("product_id",),
    events.PRODUCT_CLICKED: ("product_id",),
    events.PRODUCTS_SEARCHED: ("query",),
}


class BadBeacon(ValueError):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _error(exc: BadBeacon) -> JsonResponse:
    return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=exc.status)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
        raise BadBeacon("invalid", _("%(where)s must be a whole number from 0.") % {"where": where})
    return value


def _properties(name: str, raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadBeacon("invalid", _("%(where)s.properties must be an object.") % {"where": where})
    clean: dict[str, Any] = {}
    for key, (kind, limit) in SCHEMAS[name].items():
        if key not in raw or raw[key] is None:
            continue
        value, field = raw[key], f"{where}.properties.{key}"
        if kind == "str":
            if not isinstance(value, str):
                raise BadBeacon("invalid", _("%(where)s must be text.") % {"where": field})
            clean[key] = value.replace("\x00", "")[:limit]
        elif kind == "int":
            clean[key] = _int(value, field)
        else:
            if not isinstance(value, list):
                raise BadBeacon("invalid", _("%(where)s must be a list.") % {"where": field})
            products = []
            for index, item in enumerate(value[:limit]):
                if not isinstance(item, dict):
                    raise BadBeacon("invalid", _("%(where)s must hold objects.") % {"where": field})
                entry = {"product_id": _int(item.get("product_id"), f"{field}[{index}].product_id")}
                if item.get("position") is not None:
                    entry["position"] = _int(item["position"], f"{field}[{index}].position")
                products.append(entry)
            clean[key] = products
    for key in REQUIRED.get(name, ()):
        if key not in clean or clean[key] == "":
            raise BadBeacon("invalid", _("%(where)s is required.") % {"where": f"{where}.properties.{key}"})
    return clean


def parse_batch(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The events of a beacon body, validated (raises :class:`BadBeacon` with a clear message)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadBeacon("invalid_json", _("The body is not valid JSON."))
    batch = data.get("events") if isinstance(data, dict) else None
    if not isinstance(batch, list) or not batch:
        raise BadBeacon("invalid", _('Send {"events": [...]} with at least one event.'))
    if len(batch) > MAX_EVENTS:
        raise BadBeacon("too_many_events", _("At most %(count)d events per request.") % {"count": MAX_EVENTS})
    parsed = []
    for index, item in enumerate(batch):
        where = f"events[{index}]"
        if not isinstance(item, dict):
            raise BadBeacon("invalid", _("%(where)s must be an object.") % {"where": where})
        name = item.get("name")
        if name not in SCHEMAS:
            raise BadBeacon("unknown_event", _("%(where)s.name is not an event this endpoint records.")
                            % {"where": where})
        parsed.append((name, _properties(name, item.get("properties"), where)))
    return parsed


def same_origin(request: HttpRequest) -> bool:
    """Whether a browser sent this request from one of our own pages (see the module docstring)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return origin == f"{request.scheme}://{request.get_host()}" or origin in settings.CSRF_TRUSTED_ORIGINS


@csrf_exempt
@require_POST
@rate_limited("insights_beacon", key=client_key, on_limited=too_many_requests_json)
def beacon(request: HttpRequest) -> HttpResponse:
    """``POST /insights/e/``: record a batch of browser events for this visitor; 204, or 4xx with
    ``{"error": {"code", "message", "fields"}}``."""
    try:
        if not same_origin(request):
            raise BadBeacon("cross_origin", _("Events are accepted from this site's own pages only."), status=403)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            raise BadBeacon("too_large", _("At most %(size)d bytes per request.") % {"size": MAX_BODY_BYTES}, 413)
        body = request.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise BadBeacon("too_large", _("At most %(size)d bytes per request.") % {"size": MAX_BODY_BYTES}, 413)
        batch = parse_batch(body)
    except BadBeacon as exc:
        return _error(exc)
    analytics.track_many(request, batch)  # nothing without consent, for crawlers, without a visitor
    return HttpResponse(status=204)


@require_POST
def consent(request: HttpRequest) -> HttpResponse:
    """``POST /insights/consent/`` (the banner's form, CSRF-checked): ``consent=yes`` or ``no``,
    kept in the ``bz_consent`` cookie; yes gives the visitor their ``bz_vid`` cookie, no takes it
    away. Back to the page the form was on."""
    choice = request.POST.get("consent", "")
    if choice not in (analytics.CONSENT_YES, analytics.CONSENT_NO):
        return JsonResponse({"error": {"code": "invalid", "message": _("Answer yes or no."), "fields": {}}},
                            status=400)
    back = request.POST.get("next") or request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = "/"
    response = HttpResponseRedirect(back)
    cookie = {"max_age": analytics.VISITOR_COOKIE_MAX_AGE, "samesite": "Lax", "httponly": True,
              "secure": settings.SESSION_COOKIE_SECURE}
    response.set_cookie(analytics.CONSENT_COOKIE, choice, **cookie)
    current = request.COOKIES.get(analytics.VISITOR_COOKIE, "")
    if choice == analytics.CONSENT_YES:
        if not analytics.VISITOR_ID_RE.match(current):
            response.set_cookie(analytics.VISITOR_COOKIE, analytics.new_visitor_id(), **cookie)
    else:  # always, so that the visitor middleware gives this response no new id either
        response.delete_cookie(analytics.VISITOR_COOKIE, samesite="Lax")
    return response
